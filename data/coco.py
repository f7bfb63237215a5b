"""COCO detection JSON: read one file (or a folder of ``annotations/instances_*.json``), write a folder.

Reading:

- Category ids (any integers, in any order) map to contiguous 0-based class ids: in the order of
  ``names`` when given (matched by category name), otherwise sorted by category id.
- Where images are looked for, first hit wins, per image: ``images_dir/file_name`` when
  ``images_dir`` is given, and only there. Otherwise, for ``DIR/instances_<tag>.json``:
  ``DIR/file_name``, ``DIR/images/file_name``, ``DIR/../images/<tag>/file_name``,
  ``DIR/../<tag>/file_name``, ``DIR/../images/file_name``. That covers a JSON next to its images,
  COCO's own ``annotations/instances_val2017.json`` + ``val2017/`` (or ``images/val2017/``), and
  what :func:`write_coco` writes.
- ``iscrowd`` annotations are skipped (counted); boxes are clipped to the image (counted).

Writing (:func:`write_coco`): ``OUT/annotations/instances_<split>.json`` and
``OUT/images/<split>/<rel_path>`` per split, ``file_name`` = ``rel_path``, category ids 1-based,
``bbox`` floats at full precision.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from blendaug.data.atomic import atomic_dir, link_or_copy
from blendaug.data.errors import DataError, Warnings
from blendaug.data.imageio import image_size
from blendaug.data.model import SPLITS, Dataset, ImageRecord

_INSTANCES = re.compile(r"^instances_(?P<tag>.+)\.json$")


def _load(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a valid JSON file ({e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a COCO object with keys images, annotations, categories")
    for key in ("images", "categories"):
        if not isinstance(obj.get(key), list):
            raise DataError(f"{path}: key '{key}' missing or not a list")
    if not isinstance(obj.get("annotations", []), list):
        raise DataError(f"{path}: key 'annotations' is not a list")
    return obj


def category_names(obj: dict, path: Path) -> dict[int, str]:
    """``{category id: name}`` of a COCO object, sorted by id; duplicate ids or names are errors."""
    cats: dict[int, str] = {}
    for i, cat in enumerate(obj["categories"]):
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) or not isinstance(cat.get("name"), str):
            raise DataError(f"{path}: categories[{i}] needs an integer 'id' and a string 'name'")
        if cat["id"] in cats:
            raise DataError(f"{path}: category id {cat['id']} appears twice")
        cats[cat["id"]] = cat["name"]
    if len(set(cats.values())) != len(cats):
        raise DataError(f"{path}: category names are not unique: {sorted(cats.values())}")
    return dict(sorted(cats.items()))


def image_bases(json_path: Path, images_dir: Path | None) -> list[Path]:
    """The folders an image's ``file_name`` is looked up in, in order (see the module docstring)."""
    if images_dir is not None:
        return [Path(images_dir)]
    here, up = json_path.parent, json_path.parent.parent
    bases = [here, here / "images"]
    m = _INSTANCES.match(json_path.name)
    if m:
        bases += [up / "images" / m["tag"], up / m["tag"]]
    return bases + [up / "images"]


def _safe_rel(file_name: str) -> Path:
    """``file_name`` as a relative path writers can keep; absolute or ``..`` paths keep only the name."""
    p = Path(file_name.replace("\\", "/"))
    return Path(p.name) if p.is_absolute() or ".." in p.parts else p


def _bad(message: str, kind: str, skip_bad: bool, warnings: Warnings) -> None:
    if not skip_bad:
        raise DataError(message)
    warnings.add(kind, message)


def _read_images(obj, path, bases, split, skip_bad, warnings) -> dict[int, ImageRecord]:
    records: dict[int, ImageRecord] = {}
    seen_files: set[Path] = set()
    for i, im in enumerate(obj["images"]):
        if not isinstance(im, dict) or not isinstance(im.get("id"), int) or not isinstance(im.get("file_name"), str):
            raise DataError(f"{path}: images[{i}] needs an integer 'id' and a string 'file_name'")
        image_id, file_name = im["id"], im["file_name"]
        if image_id in records:
            raise DataError(f"{path}: image id {image_id} appears twice")
        found = next((b / file_name for b in bases if (b / file_name).is_file()), None)
        if found is None:
            looked = ", ".join(str(b) for b in bases)
            _bad(f"{path}: image id {image_id}: file {file_name!r} not found (looked in {looked})",
                 "COCO image file missing, skipped", skip_bad, warnings)
            continue
        try:
            width, height = image_size(found)
        except DataError as e:
            _bad(f"{path}: image id {image_id}: {e}", "unreadable image skipped", skip_bad, warnings)
            continue
        if (im.get("width"), im.get("height")) not in ((width, height), (None, None)):
            warnings.add("COCO width/height differ from the image (the image wins)",
                         f"{path}: image id {image_id}: JSON says {im.get('width')}x{im.get('height')}, "
                         f"{found} is {width}x{height}")
        rel = _safe_rel(file_name)
        if rel in seen_files:
            raise DataError(f"{path}: image id {image_id}: file {file_name!r} is listed twice")
        seen_files.add(rel)
        records[image_id] = ImageRecord(path=found, width=width, height=height, split=split, rel_path=rel)
    return records


def _read_annotations(obj, path, records, class_of, skip_bad, warnings):
    """Append each annotation's clipped box to its image; returns ``{image_id: (boxes, ids)}``."""
    per_image: dict[int, tuple[list, list]] = {k: ([], []) for k in records}
    all_ids = {im.get("id") for im in obj["images"] if isinstance(im, dict)}
    for i, ann in enumerate(obj.get("annotations", [])):
        if not isinstance(ann, dict):
            raise DataError(f"{path}: annotations[{i}] is not an object")
        at = f"{path}: annotation id {ann.get('id', f'#{i}')}"
        image_id = ann.get("image_id")
        if not isinstance(image_id, int) or image_id not in all_ids:
            _bad(f"{at}: image_id {image_id!r} is not in 'images'", "COCO annotation without an image skipped",
                 skip_bad, warnings)
            continue
        if image_id not in records:  # its image was skipped (skip_bad) and counted already
            continue
        if ann.get("iscrowd", 0):
            warnings.add("COCO iscrowd annotation skipped", f"{at}: iscrowd")
            continue
        cat = ann.get("category_id")
        if not isinstance(cat, int) or cat not in class_of:
            _bad(f"{at}: category_id {cat!r} is not a known category", "COCO annotation with unknown category "
                 "skipped", skip_bad, warnings)
            continue
        if class_of[cat] is None:  # a category outside the given names, skipped with skip_bad
            warnings.add("COCO category not in the class names skipped", f"{at}: category_id {cat}")
            continue
        bbox = ann.get("bbox")
        try:
            x, y, w, h = (float(v) for v in bbox)
            ok = all(np.isfinite([x, y, w, h]))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            _bad(f"{at}: 'bbox' must be 4 numbers [x, y, w, h], got {bbox!r}", "bad COCO bbox skipped",
                 skip_bad, warnings)
            continue
        if w <= 0 or h <= 0:
            _bad(f"{at}: zero-area bbox {bbox}", "zero-area COCO bbox skipped", skip_bad, warnings)
            continue
        rec = records[image_id]
        box = np.array([x, y, x + w, y + h])
        clipped = np.array([min(max(box[0], 0), rec.width), min(max(box[1], 0), rec.height),
                            min(max(box[2], 0), rec.width), min(max(box[3], 0), rec.height)])
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            _bad(f"{at}: bbox {bbox} is outside the {rec.width}x{rec.height} image", "COCO bbox outside the image "
                 "skipped", skip_bad, warnings)
            continue
        if not np.array_equal(clipped, box):
            warnings.add("COCO bbox clipped to the image", f"{at}: bbox {bbox} clipped")
        per_image[image_id][0].append(clipped)
        per_image[image_id][1].append(class_of[cat])
    return per_image


def _read_file(path, images_dir, names, split, skip_bad, warnings) -> tuple[list[str], list[ImageRecord]]:
    obj = _load(path)
    cats = category_names(obj, path)
    if names is None:
        names = list(cats.values())
        if not names:
            raise DataError(f"{path}: no categories (pass --names)")
    index = {n: i for i, n in enumerate(names)}
    class_of: dict[int, int | None] = {}
    for cat_id, name in cats.items():
        if name not in index and not skip_bad:
            raise DataError(f"{path}: category {cat_id} {name!r} is not in the class names {names}")
        class_of[cat_id] = index.get(name)
    records = _read_images(obj, path, image_bases(path, images_dir), split, skip_bad, warnings)
    per_image = _read_annotations(obj, path, records, class_of, skip_bad, warnings)
    for image_id, rec in records.items():
        boxes, ids = per_image[image_id]
        rec.boxes_xyxy_px = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        rec.class_ids = np.asarray(ids, dtype=np.int64)
    return names, list(records.values())


def _split_of(path: Path) -> str:
    m = _INSTANCES.match(path.name)
    split = next((s for s in SPLITS if m and m["tag"].startswith(s)), None)
    if split is None:
        raise DataError(f"{path}: cannot tell its split; expected instances_<train|val|test>*.json")
    return split


def read_coco(
    src: str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    names: list[str] | None = None,
    skip_bad: bool = False,
    warnings: Warnings | None = None,
    split: str | None = None,
) -> Dataset:
    """Read a COCO detection JSON, or a folder holding ``annotations/instances_<split>*.json``.

    Args:
        src: one JSON file (all its images go to ``split``), or a folder such as :func:`write_coco`
            writes, whose ``instances_train*/val*/test*.json`` give the splits.
        images_dir: the folder ``file_name`` is relative to (default: see the module docstring).
        names: class names in id order, matched to category names. Default: sorted by category id.
        skip_bad: skip missing images and bad annotations, counting them in ``warnings``.
        split: the split of a single JSON's images (default ``train``).

    Raises:
        DataError: naming the JSON and the image or annotation id, for an annotation whose image is
            missing, an unknown category, a bad or zero-area bbox, or a malformed file.
    """
    src = Path(src)
    warnings = warnings if warnings is not None else Warnings()
    images_dir = Path(images_dir) if images_dir is not None else None
    if src.is_dir():
        if split is not None:
            raise DataError(f"{src}: a split can only be given for a single COCO JSON file")
        files = sorted((src / "annotations").glob("instances_*.json"))
        if not files:
            raise DataError(f"{src}: no annotations/instances_*.json found: not a COCO dataset folder")
        jobs = [(f, _split_of(f)) for f in files]
    elif src.is_file():
        split = split or "train"
        if split not in SPLITS:
            raise DataError(f"{src}: split must be one of {', '.join(SPLITS)}, got {split!r}")
        jobs = [(src, split)]
    else:
        raise DataError(f"{src}: no such file or folder")
    images: list[ImageRecord] = []
    for path, file_split in jobs:
        # Later files match their category names against the first file's (or the given) names.
        names, recs = _read_file(path, images_dir, names, file_split, skip_bad, warnings)
        if not recs:
            raise DataError(f"{path}: split '{file_split}' holds no images")
        images.extend(recs)
    seen: set[tuple[str, Path]] = set()
    for rec in images:
        if (rec.split, rec.rel_path) in seen:
            raise DataError(f"{src}: image {rec.rel_path} appears twice in split '{rec.split}'")
        seen.add((rec.split, rec.rel_path))
    return Dataset(names=list(names or []), images=images, root=src)


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
