"""Write a dataset as COCO detection JSON: ``OUT/annotations/instances_<split>.json`` + ``OUT/images/<split>/``.

``file_name`` is the image's ``rel_path``, category ids are 1-based, ``bbox`` floats at full precision;
:func:`blendaug.data.coco.read_coco` reads the folder back with its splits.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from blendaug.data.atomic import atomic_dir, link_or_copy
from blendaug.data.errors import DataError
from blendaug.data.model import Dataset


def coco_object(ds: Dataset, split: str) -> dict:
    """The COCO detection dict for one split: 1-based ids, ``file_name`` = the image's ``rel_path``."""
    images, annotations = [], []
    for image_id, rec in enumerate(ds.split(split), start=1):
        images.append({"id": image_id, "file_name": rec.rel_path.as_posix(), "width": rec.width, "height": rec.height})
        for box, cls in zip(rec.boxes_xyxy_px, rec.class_ids, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(cls) + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0,
                                "segmentation": []})
    categories = [{"id": i + 1, "name": n, "supercategory": "object"} for i, n in enumerate(ds.names)]
    return {"info": {"description": "written by blendaug"}, "licenses": [], "images": images,
            "annotations": annotations, "categories": categories}


def _check_rel_paths(ds: Dataset) -> None:
    """Two images on one path would silently overwrite each other; a ``..`` path would leave OUT."""
    seen: dict[tuple[str, Path], Path] = {}
    for rec in ds.images:
        if rec.rel_path.is_absolute() or ".." in rec.rel_path.parts:
            raise DataError(f"{rec.path}: relative path {rec.rel_path} would leave the output folder")
        key = (rec.split, rec.rel_path)
        if key in seen:
            raise DataError(f"{rec.path}: split '{rec.split}' already has an image at {rec.rel_path} ({seen[key]})")
        seen[key] = rec.path


def write_coco(ds: Dataset, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``ds`` as ``OUT/annotations/instances_<split>.json`` + ``OUT/images/<split>/<rel_path>``.

    Images are hard-linked where possible (copied otherwise); embedded images are written out. The
    folder appears only when complete; ``read_coco(OUT)`` reads it back with its splits.

    Returns:
        the folder ``out``.
    """
    out = Path(out).absolute()
    if not ds.images:
        raise DataError(f"{ds.root or out}: nothing to write, the dataset has no images")
    _check_rel_paths(ds)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "annotations").mkdir()
        for split in ds.splits_present():
            for rec in ds.split(split):
                dst = tmp / "images" / split / rec.rel_path
                if rec.data is not None and not rec.path.is_file():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.write_bytes(rec.data)
                else:
                    link_or_copy(rec.path, dst)
            # json writes floats with repr(), the shortest text that reads back to the same float.
            text = json.dumps(coco_object(ds, split), separators=(",", ":"), allow_nan=False)
            (tmp / "annotations" / f"instances_{split}.json").write_text(text, encoding="utf-8")
    return out
