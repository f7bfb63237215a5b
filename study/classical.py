"""The ``classical`` arm for detection: label-preserving albumentations copies of the train images.

This is what the seed studies called "synthetic" without a GAN: flips, 90° rotations, colour jitter,
gaussian noise and a mild perspective warp, generated offline so that the detector sees exactly the
same extra images in every seed. Boxes follow the transforms; a box less than 30 % visible is dropped.
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import numpy as np

from blendaug.data.imageio import encode_image, load_image_rgb
from blendaug.data.model import Dataset, ImageRecord
from blendaug.data.yolo import write_yolo


def _transform(seed: int) -> A.Compose:
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.RandomRotate90(p=0.5),
            A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05, p=0.8),
            A.GaussNoise(std_range=(0.02, 0.06), p=0.3),
            A.Perspective(scale=(0.02, 0.05), p=0.3),
        ],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["class_ids"], min_visibility=0.3, clip=True),
        seed=seed,
    )


def augment_record(rec: ImageRecord, seed_key: list[int]) -> ImageRecord:
    """One augmented copy of ``rec``; the seed key (study seed, image index, copy) fixes every draw."""
    seed = int(np.random.SeedSequence(seed_key).generate_state(1)[0])
    image = load_image_rgb(rec.read_bytes(), name=str(rec.path))
    out = _transform(seed)(image=image, bboxes=rec.boxes_xyxy_px, class_ids=rec.class_ids)
    h, w = out["image"].shape[:2]
    rel = rec.rel_path.with_name(f"{rec.rel_path.stem}_classical{seed_key[-1]}.png")
    boxes = np.asarray(out["bboxes"], dtype=np.float64).reshape(-1, 4)
    keep = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
    return ImageRecord(path=rec.path.with_name(rel.name), width=w, height=h, boxes_xyxy_px=boxes[keep],
                       class_ids=np.asarray(out["class_ids"], dtype=np.int64)[keep], split="train", rel_path=rel,
                       data=encode_image(out["image"], ".png"))


def write_classical_dataset(ds: Dataset, out: Path, copies: float, seed: int, replace: bool = False) -> Path:
    """Write ``ds`` plus ``copies`` augmented versions of each train image as a YOLO dataset.

    With ``replace`` (``copies`` 1), each train image is replaced by its augmented copy instead, so the
    training set keeps its size.
    """
    train = sorted(ds.split("train"), key=lambda r: str(r.rel_path))
    extra = [augment_record(rec, [seed, i, c]) for i, rec in enumerate(train) for c in range(int(copies))]
    keep = [r for r in ds.images if r.split != "train"] if replace else list(ds.images)
    return write_yolo(ds.with_images([*keep, *extra]), out, overwrite=True)
