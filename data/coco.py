"""COCO detection JSON: read one file, or a folder of splits; the writer is :mod:`blendaug.data.coco_write`.

Reading:

- A folder is ``annotations/instances_<split>*.json`` (COCO's own layout and what :func:`write_coco`
  writes; another tag, such as CVAT's ``instances_default.json``, is read as train, counted) or Roboflow's
  COCO export, ``<train|valid|val|test>/_annotations.coco.json`` beside the images.
- Category ids (any integers, in any order) map to contiguous 0-based class ids: in the order of
  ``names`` when given (matched by category name), otherwise sorted by category id.
- An empty placeholder category is dropped (counted): one with no annotation in any of the files that
  is the ``supercategory`` of another category or whose own ``supercategory`` is ``"none"``. Roboflow
  declares one (id 0, named after the project) before the real classes. Another category without
  annotations is kept (counted: pass ``names`` to drop it).
- Where images are looked for, first hit wins, per image: ``images_dir/file_name`` when
  ``images_dir`` is given, and only there. Otherwise, for ``DIR/instances_<tag>.json``:
  ``DIR/file_name``, ``DIR/images/file_name``, ``DIR/../images/<tag>/file_name``,
  ``DIR/../<tag>/file_name``, ``DIR/../images/file_name``. That covers a JSON next to its images,
  COCO's own ``annotations/instances_val2017.json`` + ``val2017/`` (or ``images/val2017/``), and
  what :func:`write_coco` writes.
- ``iscrowd: 1`` annotations are skipped (counted; COCO evaluation ignores them too); ``area`` is not read
  (the box is what counts); boxes are clipped to the image (counted).
- CVAT's ``attributes.rotation`` (degrees, clockwise about the box centre): a rotated box becomes the
  axis-aligned box around it (counted).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from blendaug.data.coco_write import coco_object, write_coco  # noqa: F401 (re-exported)
from blendaug.data.errors import DataError, Warnings
from blendaug.data.imageio import image_size
from blendaug.data.model import SPLITS, Dataset, ImageRecord, points_bbox, rotated_rect_corners

_INSTANCES = re.compile(r"^instances_(?P<tag>.+)\.json$")
ROBOFLOW_JSON = "_annotations.coco.json"
ROBOFLOW_SPLITS = {"train": "train", "valid": "val", "val": "val", "test": "test"}


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
    warnings.add(kind, message, skipped=True)


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
            warnings.add("COCO category not in the class names skipped", f"{at}: category_id {cat}", skipped=True)
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
        rotation = _rotation(ann, at)
        if rotation % 360:
            box = points_bbox(rotated_rect_corners(x, y, w, h, rotation, pivot="center"))
            warnings.add("CVAT rotated box read as its axis-aligned bounding box",
                         f"{at}: rotation {rotation:g} degrees, bbox {bbox} -> {box.round(3).tolist()}")
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


def _rotation(ann: dict, at: str) -> float:
    attributes = ann.get("attributes")
    if not isinstance(attributes, dict) or attributes.get("rotation") in (None, ""):
        return 0.0
    try:
        rotation = float(attributes["rotation"])
        if not np.isfinite(rotation):
            raise ValueError
    except (TypeError, ValueError):
        raise DataError(f"{at}: key 'attributes.rotation' must be a number of degrees, got "
                        f"{attributes['rotation']!r}") from None
    return rotation


def _annotated(obj: dict) -> set:
    return {a.get("category_id") for a in obj.get("annotations", []) if isinstance(a, dict)}


def _used_names(objs: list[tuple[Path, dict]]) -> set[str]:
    """Names of the categories that have at least one annotation in some file."""
    used: set[str] = set()
    for path, obj in objs:
        ids = _annotated(obj)
        used |= {name for cat_id, name in category_names(obj, path).items() if cat_id in ids}
    return used


def placeholder_categories(objs: list[tuple[Path, dict]]) -> dict[str, str]:
    """Category names that are empty placeholders (see the module docstring): ``{name: where it is declared}``."""
    used = _used_names(objs)
    declared: dict[str, tuple[Path, dict]] = {}
    parents: set[str] = set()  # names that are the supercategory of another category
    for path, obj in objs:
        for cat in obj["categories"]:
            declared.setdefault(cat["name"], (path, cat))
            if isinstance(cat.get("supercategory"), str) and cat["supercategory"] != cat["name"]:
                parents.add(cat["supercategory"])
    return {name: f"{path}: category {cat['id']} {name!r}" for name, (path, cat) in declared.items()
            if name not in used and (name in parents or cat.get("supercategory") == "none")}


def _class_names(objs: list[tuple[Path, dict]], warnings: Warnings) -> list[str]:
    """The first file's category names sorted by id, less the empty placeholders (counted)."""
    path, first = objs[0]
    dropped = placeholder_categories(objs)
    for at in dropped.values():
        warnings.add("COCO empty placeholder category dropped", f"{at}: no annotations")
    used = _used_names(objs)
    names = []
    for cat_id, name in category_names(first, path).items():
        if name in dropped:
            continue
        if name not in used:
            warnings.add("COCO category without annotations kept (pass --names to drop it)",
                         f"{path}: category {cat_id} {name!r}")
        names.append(name)
    if not names:
        raise DataError(f"{path}: no categories (pass --names)")
    return names


def _read_file(path, obj, images_dir, names, split, skip_bad, warnings) -> list[ImageRecord]:
    cats = category_names(obj, path)
    index = {n: i for i, n in enumerate(names)}
    used = _annotated(obj)
    class_of: dict[int, int | None] = {}
    for cat_id, name in cats.items():
        if name not in index and cat_id in used and not skip_bad:
            raise DataError(f"{path}: category {cat_id} {name!r} is not in the class names {names}")
        class_of[cat_id] = index.get(name)
    records = _read_images(obj, path, image_bases(path, images_dir), split, skip_bad, warnings)
    per_image = _read_annotations(obj, path, records, class_of, skip_bad, warnings)
    for image_id, rec in records.items():
        boxes, ids = per_image[image_id]
        rec.boxes_xyxy_px = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        rec.class_ids = np.asarray(ids, dtype=np.int64)
    return list(records.values())


def _split_of(path: Path, warnings: Warnings) -> str:
    """``instances_<train|val|test>*.json`` give their split; another tag (CVAT's ``default``) is read as train."""
    m = _INSTANCES.match(path.name)
    split = next((s for s in SPLITS if m and m["tag"].startswith(s)), None)
    if split is None:
        warnings.add("COCO file whose name gives no split read as train", f"{path}: not instances_<train|val|test>*")
        split = "train"
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
        jobs = coco_folder_files(src, warnings)
        if not jobs:
            raise DataError(f"{src}: no annotations/instances_*.json and no <split>/{ROBOFLOW_JSON} found: "
                            "not a COCO dataset folder")
    elif src.is_file():
        split = split or "train"
        if split not in SPLITS:
            raise DataError(f"{src}: split must be one of {', '.join(SPLITS)}, got {split!r}")
        jobs = [(src, split)]
    else:
        raise DataError(f"{src}: no such file or folder")
    objs = [(path, _load(path)) for path, _ in jobs]
    for path, obj in objs:
        category_names(obj, path)  # malformed categories are errors before anything else is reported
    # Later files match their category names against the first file's (or the given) names.
    names = list(names) if names else _class_names(objs, warnings)
    images: list[ImageRecord] = []
    for (path, obj), (_, file_split) in zip(objs, jobs, strict=True):
        recs = _read_file(path, obj, images_dir, names, file_split, skip_bad, warnings)
        if not recs:
            raise DataError(f"{path}: split '{file_split}' holds no images")
        images.extend(recs)
    seen: set[tuple[str, Path]] = set()
    for rec in images:
        if (rec.split, rec.rel_path) in seen:
            raise DataError(f"{src}: image {rec.rel_path} appears twice in split '{rec.split}'")
        seen.add((rec.split, rec.rel_path))
    return Dataset(names=names, images=images, root=src)


def coco_folder_files(src: Path, warnings: Warnings) -> list[tuple[Path, str]]:
    """``[(json, split)]`` of a COCO folder: ``annotations/instances_*.json``, else Roboflow's split folders."""
    files = sorted((src / "annotations").glob("instances_*.json"))
    if files:
        return [(f, _split_of(f, warnings)) for f in files]
    return [(src / d / ROBOFLOW_JSON, s) for d, s in ROBOFLOW_SPLITS.items() if (src / d / ROBOFLOW_JSON).is_file()]
