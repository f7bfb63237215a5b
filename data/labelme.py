"""labelme JSON folders: one ``.json`` per labeled image, read into the internal model.

Rules (labelme's own conventions where it has them):

- Every ``*.json`` under the folder (recursively) is a labelme file; images without one are left out
  (counted), since labelme writes no file for an image nobody labeled.
- ``imagePath`` is relative to the JSON file (Windows separators accepted). A path that leaves the
  dataset folder is refused. When the file is absent but ``imageData`` (base64) is embedded, the
  embedded image is used.
- Every shape type labelme 6.3 draws becomes a box: ``rectangle`` (its two corners, in whatever order
  they were drawn), ``polygon`` and ``oriented_rectangle`` (the axis-aligned box of their points),
  ``circle`` (centre ``points[0]``, a point on the rim ``points[1]``: ``centre +- radius``), ``mask``
  (the box of the decoded mask's pixels; the mask's top-left pixel is at ``int(points[0])``, as labelme
  places it), and ``line``, ``linestrip`` and ``points`` (the box of their points, counted). A ``point``
  has no area and is skipped (counted), as is a zero-area shape (an accidental click) and an unknown type.
- Boxes are clipped to the image (counted); the image size comes from the image itself (EXIF applied),
  as labelme shows it, not from ``imageHeight``/``imageWidth``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections import Counter
from pathlib import Path, PureWindowsPath

import numpy as np

from blendaug.data.errors import DataError, Warnings
from blendaug.data.imageio import IMAGE_SUFFIXES, image_size, is_image_file, load_mask
from blendaug.data.model import Dataset, ImageRecord, points_bbox


def _circle(points: np.ndarray, shape: dict) -> np.ndarray:
    if len(points) != 2:
        raise ValueError(f"a circle needs 2 points (centre, rim), got {len(points)}")
    (cx, cy), (px, py) = points
    r = math.hypot(px - cx, py - cy)
    return np.array([cx - r, cy - r, cx + r, cy + r])


def _mask(points: np.ndarray, shape: dict) -> np.ndarray:
    encoded = shape.get("mask")
    if not isinstance(encoded, str):
        raise ValueError("a mask shape needs 'mask', a base64-encoded PNG")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("'mask' is not valid base64") from None
    try:
        pixels = load_mask(data, "mask")
    except DataError as e:
        raise ValueError(f"'mask' is not a readable PNG ({str(e).removeprefix('mask: ')})") from None
    ys, xs = np.nonzero(pixels)
    if xs.size == 0:
        return np.zeros(4)  # no pixel set: zero area
    x0, y0 = np.floor(points[0])  # labelme pastes the mask at int(points[0])
    return np.array([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1], dtype=np.float64)


def _bbox(points: np.ndarray, shape: dict) -> np.ndarray:
    return points_bbox(points)


# shape_type -> (minimum number of points, (points (N, 2), shape) -> box xyxy (4,))
SHAPE_TO_BOX = {
    "rectangle": (2, _bbox),
    "polygon": (3, _bbox),
    "oriented_rectangle": (3, _bbox),  # labelme saves its 4 corners
    "circle": (2, _circle),
    "mask": (1, _mask),
    "line": (2, _bbox),
    "linestrip": (2, _bbox),
    "points": (1, _bbox),
}
# Shapes that outline no region: their box is only the extent of their points, so they are counted.
LINE_SHAPES = ("line", "linestrip", "points")
NO_AREA_SHAPES = ("point",)


class _Skip(Exception):
    """One shape is bad: raised as a DataError, or counted under ``kind`` with ``skip_bad``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ZeroArea(ValueError):
    """A shape whose box has no area (an accidental click): skipped and counted, never fatal."""


def shape_to_box(shape: dict) -> np.ndarray | None:
    """The ``xyxy`` box of one labelme shape, or ``None`` for a shape type that has no box here.

    Raises:
        ZeroArea: the box has zero width or height.
        ValueError: malformed points (too few, not numbers) or a bad mask.
    """
    shape_type = shape.get("shape_type") or "polygon"  # labelme < 4 wrote null for polygons
    if shape_type not in SHAPE_TO_BOX:
        return None
    min_points, to_box = SHAPE_TO_BOX[shape_type]
    raw = shape.get("points")
    try:
        points = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"points must be a list of [x, y] numbers, got {raw!r}") from None
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be a list of [x, y] numbers, got {raw!r}")
    if len(points) < min_points:
        raise ValueError(f"a {shape_type} needs at least {min_points} points, got {len(points)}")
    if not np.isfinite(points).all():
        raise ValueError("points must be finite numbers")
    box = to_box(points, shape)
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ZeroArea(f"zero-area {shape_type} (box {box.tolist()})")
    return box


def _load_json(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a valid JSON file ({e})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("shapes"), list):
        raise DataError(f"{path}: not a labelme file (key 'shapes' missing or not a list)")
    return obj


def _image_for(json_path: Path, obj: dict, root: Path) -> tuple[Path, bytes | None]:
    """Resolve the image of one labelme file: ``(path, embedded bytes or None)``."""
    raw_path = obj.get("imagePath")
    if raw_path:
        if not isinstance(raw_path, str):
            raise DataError(f"{json_path}: key 'imagePath' must be a string, got {raw_path!r}")
        image = (json_path.parent / PureWindowsPath(raw_path).as_posix()).resolve()
    else:
        # No imagePath: the image next to the JSON with the same stem, as labelme saves it.
        candidates = [json_path.with_suffix(s) for s in IMAGE_SUFFIXES]
        image = next((c for c in candidates if c.is_file()), candidates[0]).resolve()
    if not image.is_relative_to(root):
        raise DataError(f"{json_path}: key 'imagePath' {raw_path!r} leaves the dataset folder {root}")
    if image.is_file():
        return image, None
    embedded = obj.get("imageData")
    if embedded:
        try:
            return image, base64.b64decode(embedded, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise DataError(f"{json_path}: key 'imageData' is not valid base64") from None
    if not raw_path:
        raise DataError(f"{json_path}: no 'imagePath', no image of the same name next to it, and no imageData")
    raise DataError(f"{json_path}: image {image} not found and no imageData embedded")


def _read_one(json_path: Path, root: Path, skip_bad: bool, warnings: Warnings, no_box: Counter):
    """Parse one file into ``(ImageRecord without boxes, [(label, box)])``; shapes without a box go to ``no_box``."""
    obj = _load_json(json_path)
    image, data = _image_for(json_path, obj, root)
    width, height = image_size(data if data is not None else image, name=str(json_path if data else image))
    declared = (obj.get("imageWidth"), obj.get("imageHeight"))
    if None not in declared and tuple(declared) != (width, height):
        warnings.add("labelme imageWidth/imageHeight differ from the image (the image wins)",
                     f"{json_path}: JSON says {declared[0]}x{declared[1]}, image is {width}x{height}")
    labeled: list[tuple[str, np.ndarray]] = []
    for i, shape in enumerate(obj["shapes"]):
        if not isinstance(shape, dict):
            raise DataError(f"{json_path}: shapes[{i}] is not an object")
        try:
            labeled.append(_shape_entry(shape, i, json_path, width, height, warnings))
        except _Skip as e:
            if not skip_bad:
                raise DataError(str(e)) from None
            warnings.add(e.kind, str(e), skipped=True)
        except _Unsupported as e:
            no_box[e.args[0]] += 1
    rec = ImageRecord(path=image, width=width, height=height, split="train", rel_path=image.relative_to(root),
                      data=data)
    return rec, labeled


class _Unsupported(Exception):
    pass


def _shape_entry(shape: dict, i: int, json_path: Path, width: int, height: int, warnings: Warnings):
    label = shape.get("label")
    at = f"{json_path}: shapes[{i}]"
    if not isinstance(label, str) or not label.strip():
        raise _Skip("labelme shape without a label skipped", f"{at}: missing or empty 'label'")
    shape_type = shape.get("shape_type") or "polygon"
    try:
        box = shape_to_box(shape)
    except ZeroArea as e:
        warnings.add("labelme zero-area shape skipped", f"{at} ({label!r}): {e}")
        raise _Unsupported(shape_type) from None
    except ValueError as e:
        raise _Skip("bad labelme shape skipped", f"{at} ({label!r}): {e}") from None
    if box is None:
        kind = ("labelme point shape skipped (a point has no area)" if shape_type in NO_AREA_SHAPES
                else "labelme shape type without a box skipped")
        warnings.add(kind, f"{at}: shape type {shape_type!r} ({label!r}) skipped")
        raise _Unsupported(shape_type)
    if shape_type in LINE_SHAPES:
        warnings.add("labelme line or points shape read as the box of its points",
                     f"{at}: {shape_type} ({label!r}) -> box {box.tolist()}")
    clipped = box.copy()
    clipped[[0, 2]] = clipped[[0, 2]].clip(0, width)
    clipped[[1, 3]] = clipped[[1, 3]].clip(0, height)
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise _Skip("labelme box outside the image skipped", f"{at} ({label!r}): box {box.tolist()} is outside "
                    f"the {width}x{height} image")
    if not np.array_equal(clipped, box):
        warnings.add("labelme box clipped to the image", f"{at} ({label!r}): box {box.tolist()} clipped")
    return label.strip(), clipped


def read_labelme(
    src: str | os.PathLike,
    names: list[str] | None = None,
    skip_bad: bool = False,
    warnings: Warnings | None = None,
) -> Dataset:
    """Read a folder of labelme JSON files (recursively); every image goes to split ``train``.

    Args:
        src: the dataset folder; images must lie inside it.
        names: class names in id order; a label not in it is an error (skipped and counted with
            ``skip_bad``). Default: the sorted set of labels seen.
        skip_bad: skip bad shapes and bad files, counting them in ``warnings``.
        warnings: where counted warnings go (unknown shape types, clipped boxes, skips).

    Raises:
        DataError: naming the JSON file (and shape index or label) for invalid JSON, an image that
            is missing or outside ``src``, a malformed shape or an unknown label.
    """
    src = Path(src)
    if not src.is_dir():
        raise DataError(f"{src}: not a folder of labelme JSON files")
    root = src.resolve()
    warnings = warnings if warnings is not None else Warnings()
    json_files = sorted(p for p in src.rglob("*.json") if p.is_file())
    if not json_files:
        raise DataError(f"{src}: no labelme .json files found")
    parsed: list[tuple[ImageRecord, list[tuple[str, np.ndarray]], Path]] = []
    owner: dict[Path, Path] = {}
    no_box: Counter = Counter()  # shape type -> shapes that gave no box (points, zero area, unknown types)
    for json_path in json_files:
        try:
            rec, labeled = _read_one(json_path, root, skip_bad, warnings, no_box)
            if rec.path in owner:
                raise DataError(f"{json_path}: image {rec.path} is already labeled by {owner[rec.path]}")
        except DataError as e:
            if not skip_bad:
                raise
            warnings.add("bad labelme file skipped", str(e), skipped=True)
            continue
        owner[rec.path] = json_path
        parsed.append((rec, labeled, json_path))
    for img in sorted(p for p in src.rglob("*") if p.is_file() and is_image_file(p)):
        if img.resolve() not in owner:
            warnings.add("image without a labelme JSON left out", str(img))
    names = list(names) if names else sorted({label for _, labeled, _ in parsed for label, _ in labeled})
    index = {n: i for i, n in enumerate(names)}
    images: list[ImageRecord] = []
    for rec, labeled, json_path in parsed:
        boxes, ids = [], []
        for label, box in labeled:
            if label not in index:
                message = f"{json_path}: label {label!r} is not in the class names {names}"
                if not skip_bad:
                    raise DataError(message)
                warnings.add("labelme label not in the class names skipped", message, skipped=True)
                continue
            boxes.append(box)
            ids.append(index[label])
        rec.boxes_xyxy_px = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        rec.class_ids = np.asarray(ids, dtype=np.int64)
        images.append(rec)
    if not images:
        raise DataError(f"{src}: no usable labelme files")
    if not names:
        if no_box:
            skipped = ", ".join(f"{n} x {t}" for t, n in sorted(no_box.items()))
            raise DataError(f"{src}: no shape gave a box, so no class names: skipped {skipped} (a point or a "
                            "zero-area shape has no box); pass --names to import the images without boxes")
        raise DataError(f"{src}: no labeled shapes found, so no class names (pass --names)")
    return Dataset(names=names, images=images, root=src)
