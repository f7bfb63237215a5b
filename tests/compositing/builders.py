"""Tiny datasets for the compositing tests, built with numpy (no toyworld, nothing downloaded)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from blendaug.compositing.crops import CropPool, CropRecord, LoadedCrop
from blendaug.compositing.masks import MASKS, object_extent
from blendaug.data.imageio import save_image
from blendaug.data.model import Dataset, ImageRecord
from blendaug.data.yolo import write_yolo

NAMES = ["car", "van"]


def make_backgrounds(root: Path, n_train: int = 4, size: int = 160, seed: int = 0) -> Path:
    """A YOLO dataset: ``n_train`` train, 2 val and 1 test textured images with 2-3 boxes each."""
    rng = np.random.default_rng(seed)
    src = root / "src"
    records = []
    for split, n in (("train", n_train), ("val", 2), ("test", 1)):
        for i in range(n):
            img = rng.integers(60, 120, (size, size, 3), dtype=np.uint8)
            path = src / f"{split}_{i:02d}.jpg"
            save_image(path, img)
            boxes = np.array([[10, 10, 34, 26], [60, 90, 76, 122], [120, 20, 150, 40]], float)[: 2 + i % 2]
            ids = np.arange(len(boxes)) % 2
            records.append(ImageRecord(path=path, width=size, height=size, boxes_xyxy_px=boxes, class_ids=ids,
                                       split=split, rel_path=Path(path.name)))
    return write_yolo(Dataset(names=list(NAMES), images=records), root / "bg")


def make_crops(root: Path, kind: str = "gan", n_per_class: int = 3, size: int = 32, seed: int = 1,
               classes: tuple[str, ...] = tuple(NAMES)) -> Path:
    """A crops folder with index.csv in the ``gan sample`` (kind='gan') or ``data crops`` (kind='real') format."""
    rng = np.random.default_rng(seed)
    out = root / f"crops_{kind}"
    rows = []
    for cls in classes:
        for i in range(n_per_class):
            rel = f"{cls}/{i:06d}.png"
            save_image(out / rel, rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
            if kind == "gan":
                rows.append({"file": rel, "class": cls, "arch": "dcgan", "snapshot": 3, "tier": ["high", "low"][i % 2],
                             "seed": i, "score": 0.5})
            else:
                rows.append({"file": rel, "class": cls, "class_id": 0, "split": "train", "source_image": "x.jpg",
                             "x1": 0, "y1": 0, "x2": 10, "y2": 10})
    with (out / "index.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


class MemoryPool(CropPool):
    """A crop pool over in-memory crops; crop i has class ``class_ids[i]`` (default ``i % n_classes``)."""

    def __init__(self, crops: list[np.ndarray], mask: str = "rect", n_classes: int = 1,
                 class_ids: list[int] | None = None, names: tuple[str, ...] = ("car",)) -> None:
        ids = class_ids if class_ids is not None else [i % n_classes for i in range(len(crops))]
        super().__init__([CropRecord(Path(f"c{i}.png"), f"c{i}.png", names[c % len(names)], c, "high")
                          for i, c in enumerate(ids)], mask)
        for i, crop in enumerate(crops):
            m = MASKS[mask](crop, None)
            self._cache[i] = LoadedCrop(crop, m, object_extent(m))


def crops_from_frames(frames, per_class: int = 8, size: int = 48) -> MemoryPool:
    """Square real crops (10 % context padding) of the first ``per_class`` boxes of each class in ``frames``
    (toyworld Frames), as a pool."""
    import cv2

    every = [(f, box, c) for f in frames for box, c in zip(f.boxes_xyxy_px.tolist(), f.class_ids.tolist(), strict=True)]
    boxes = [b for cls in sorted({c for *_, c in every}) for b in [b for b in every if b[2] == cls][:per_class]]
    crops, ids = [], []
    for f, (x1, y1, x2, y2), c in boxes:
        side = 1.2 * max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        y0, x0 = int(max(0, cy - side / 2)), int(max(0, cx - side / 2))
        cut = f.image_rgb[y0:int(cy + side / 2), x0:int(cx + side / 2)]
        crops.append(cv2.resize(cut, (size, size), interpolation=cv2.INTER_AREA))
        ids.append(c)
    return MemoryPool(crops, class_ids=ids, names=("car", "van", "truck"))
