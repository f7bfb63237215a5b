"""Label Studio JSON exports of rectangle labels: one task per image.

Rules:

- The file is Label Studio's "JSON" export, a list of tasks ``{"data": {"image": ...}, "annotations":
  [{"result": [...]}]}``, or its "JSON-MIN" export, a list of ``{"image": ..., "label": [...]}``.
- A task's first annotation that is not ``was_cancelled`` is used (others are counted). A task without one
  is left out (counted): nobody labelled it. An annotation with an empty ``result`` is an image with no object.
- Each ``rectanglelabels`` result is one box: ``value.x``, ``y``, ``width``, ``height`` in percent of the
  image, class ``value.rectanglelabels[0]``. ``value.rotation`` (degrees, clockwise about the box's
  top-left corner ``(x, y)``, as Label Studio turns it) makes the box the axis-aligned box around the
  rotated one (counted). Other result types (polygons, key points, choices) are skipped (counted).
- The image size is the image file's own; ``original_width``/``original_height`` that differ are counted
  (percentages do not depend on the size).
- Images are looked up under ``images_dir`` (default: the JSON's folder) by the export's path: for
  ``/data/local-files/?d=REL`` the ``REL`` part; for uploads (``/data/upload/<project>/<8 hex>-name.jpg``),
  URLs and other paths every tail of the path, longest first, then the file name without the upload prefix.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np

from blendaug.data.errors import DataError, Warnings
from blendaug.data.imageio import image_size
from blendaug.data.model import Dataset, ImageRecord, clip_boxes, points_bbox, rotated_rect_corners

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def image_candidates(ref: str, images_dir: Path) -> list[Path]:
    """Where the image of an export path ``ref`` may be under ``images_dir``, in lookup order."""
    parsed = urlparse(ref)
    if "d" in parse_qs(parsed.query):  # /data/local-files/?d=images/a.jpg
        rel = PurePosixPath(unquote(parse_qs(parsed.query)["d"][0]))
    else:
        rel = PurePosixPath(unquote(parsed.path if parsed.scheme else ref.replace("\\", "/")))
    parts = [p for p in rel.parts if p not in ("/", "..", ".")]
    tails = [images_dir.joinpath(*parts[i:]) for i in range(len(parts))]
    if parts and _UPLOAD_PREFIX.match(parts[-1]):
        tails.append(images_dir / _UPLOAD_PREFIX.sub("", parts[-1]))
    return list(dict.fromkeys(tails))


def _load(path: Path) -> list:
    try:
        obj = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a valid JSON file ({e})") from None
    if not isinstance(obj, list):
        raise DataError(f"{path}: expected a Label Studio export: a JSON list of tasks")
    return obj


def _task_results(task: dict, at: str, warnings: Warnings) -> tuple[str, list | None, str]:
    """``(image reference, results or None for an unlabelled task, key of the results)``."""
    if "data" in task:  # the full JSON export
        image = task["data"].get("image") if isinstance(task["data"], dict) else None
        if not isinstance(image, str):
            raise DataError(f"{at}.data.image: missing or not a string")
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            raise DataError(f"{at}.annotations: not a list")
        usable = [(i, a) for i, a in enumerate(annotations) if isinstance(a, dict) and not a.get("was_cancelled")]
        if not usable:
            return image, None, f"{at}.annotations"
        if len(usable) > 1:
            warnings.add("Label Studio task with several annotations (the first is used)",
                         f"{at}: {len(usable)} annotations, used annotations[{usable[0][0]}]")
        i, annotation = usable[0]
        result = annotation.get("result", [])
        if not isinstance(result, list):
            raise DataError(f"{at}.annotations[{i}].result: not a list")
        return image, result, f"{at}.annotations[{i}].result"
    image = task.get("image")  # JSON-MIN: the values themselves, under "label"
    if not isinstance(image, str):
        raise DataError(f"{at}: neither 'data.image' (JSON export) nor 'image' (JSON-MIN export)")
    labels = task.get("label")
    if labels is None:
        return image, None, f"{at}.label"
    if not isinstance(labels, list):
        raise DataError(f"{at}.label: not a list")
    return image, [{"type": "rectanglelabels", "value": v, **v} for v in labels], f"{at}.label"


def _number(value: dict, key: str, at: str, default: float | None = None) -> float:
    raw = value.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not np.isfinite(raw):
        raise DataError(f"{at}.{key}: must be a number, got {raw!r}")
    return float(raw)


def _result_box(result: dict, at: str, width: int, height: int, warnings: Warnings) -> tuple[str, np.ndarray]:
    value = result.get("value")
    if not isinstance(value, dict):
        raise DataError(f"{at}.value: missing or not an object")
    labels = value.get("rectanglelabels")
    if not isinstance(labels, list) or not labels or not all(isinstance(n, str) for n in labels):
        raise DataError(f"{at}.value.rectanglelabels: must be a non-empty list of label names, got {labels!r}")
    if len(labels) > 1:
        warnings.add("Label Studio box with several labels (the first is used)", f"{at}: {labels}")
    x, y, w, h = (_number(value, k, f"{at}.value") for k in ("x", "y", "width", "height"))
    rotation = _number(value, "rotation", f"{at}.value", default=0.0)
    if w <= 0 or h <= 0:
        raise DataError(f"{at}.value: zero-area box (width {w:g} %, height {h:g} %)")
    x, w = x / 100 * width, w / 100 * width
    y, h = y / 100 * height, h / 100 * height
    box = np.array([x, y, x + w, y + h])
    if rotation % 360:
        box = points_bbox(rotated_rect_corners(x, y, w, h, rotation, pivot="top-left"))
        warnings.add("Label Studio rotated box read as its axis-aligned bounding box",
                     f"{at}: rotation {rotation:g} degrees -> box {box.round(3).tolist()}")
    return labels[0].strip(), box


def _read_task(task, at, images_dir, warnings):
    """``(ImageRecord without boxes, [(label, box)])``, or None for an unlabelled task."""
    if not isinstance(task, dict):
        raise DataError(f"{at}: not a task object")
    ref, results, results_at = _task_results(task, at, warnings)
    if results is None:
        warnings.add("Label Studio task without an annotation left out", f"{at}: {ref}")
        return None
    candidates = image_candidates(ref, images_dir)
    image = next((c for c in candidates if c.is_file()), None)
    if image is None:
        key = "data.image" if "data" in task else "image"
        raise DataError(f"{at}.{key}: {ref!r} not found under {images_dir} (pass --images ROOT)")
    width, height = image_size(image)
    labeled = []
    for j, result in enumerate(results):
        rat = f"{results_at}[{j}]"
        if not isinstance(result, dict):
            raise DataError(f"{rat}: not an object")
        if result.get("type") != "rectanglelabels":
            warnings.add("Label Studio result that is not a rectangle skipped", f"{rat}: type {result.get('type')!r}")
            continue
        declared = (result.get("original_width"), result.get("original_height"))
        if None not in declared and tuple(declared) != (width, height):
            warnings.add("Label Studio original_width/height differ from the image (the image wins)",
                         f"{rat}: says {declared[0]}x{declared[1]}, {image} is {width}x{height}")
        label, box = _result_box(result, rat, width, height, warnings)
        clipped = clip_boxes(box, width, height)[0]
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            raise DataError(f"{rat}.value: box {box.round(3).tolist()} is outside the {width}x{height} image")
        if not np.allclose(clipped, box, rtol=0, atol=1e-9):
            warnings.add("Label Studio box clipped to the image", f"{rat}: box {box.round(3).tolist()} clipped")
        labeled.append((label, clipped))
    try:
        rel = image.resolve().relative_to(images_dir.resolve())
    except ValueError:
        rel = Path(image.name)
    return ImageRecord(path=image, width=width, height=height, split="train", rel_path=rel), labeled


def read_labelstudio(
    src: str | os.PathLike,
    names: list[str] | None = None,
    skip_bad: bool = False,
    warnings: Warnings | None = None,
    images_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Read a Label Studio JSON (or JSON-MIN) export of rectangle labels; every image goes to ``train``.

    Args:
        names: class names in id order; a label not in it is an error (skipped with ``skip_bad``).
            Default: the sorted set of labels seen.
        skip_bad: skip bad tasks, counting them in ``warnings``.
        images_dir: the image root the export's paths are looked up under (default: the JSON's folder).

    Raises:
        DataError: naming the JSON file and the key (``[3].annotations[0].result[1].value.x``).
    """
    src = Path(src)
    if not src.is_file():
        raise DataError(f"{src}: not a Label Studio JSON export file")
    warnings = warnings if warnings is not None else Warnings()
    root = Path(images_dir) if images_dir is not None else src.parent
    tasks = _load(src)
    parsed, owner = [], {}
    for i, task in enumerate(tasks):
        at = f"{src}: [{i}]"
        try:
            got = _read_task(task, at, root, warnings)
            if got is not None and got[0].path.resolve() in owner:
                first = owner[got[0].path.resolve()]
                raise DataError(f"{at}: image {got[0].path} is already labelled by task [{first}]")
        except DataError as e:
            if not skip_bad:
                raise
            warnings.add("bad Label Studio task skipped", str(e), skipped=True)
            continue
        if got is not None:
            owner[got[0].path.resolve()] = i
            parsed.append((got, at))
    names = list(names) if names else sorted({label for (_, labeled), _ in parsed for label, _ in labeled})
    if not names:
        raise DataError(f"{src}: no rectangle labels in any task, so no class names (pass --names)")
    index = {n: i for i, n in enumerate(names)}
    images = []
    for (rec, labeled), at in parsed:
        boxes, ids = [], []
        for label, box in labeled:
            if label not in index:
                message = f"{at}: label {label!r} is not in the class names {names}"
                if not skip_bad:
                    raise DataError(message)
                warnings.add("Label Studio label not in the class names skipped", message, skipped=True)
                continue
            boxes.append(box)
            ids.append(index[label])
        rec.boxes_xyxy_px = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        rec.class_ids = np.asarray(ids, dtype=np.int64)
        images.append(rec)
    if not images:
        raise DataError(f"{src}: no labelled task with an image")
    return Dataset(names=names, images=images, root=src)
