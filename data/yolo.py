"""YOLO datasets: read a ``data.yaml`` or an ``images/`` + ``labels/`` folder, write a dataset folder.

Layout, as ultralytics expects it: every ``.../images/...`` image has its label at the same path
with the last ``images`` folder replaced by ``labels`` and the suffix by ``.txt``. A label line is
``class cx cy w h`` normalised to [0, 1]; a polygon line (``class x1 y1 x2 y2 ...``) is read as
its bounding box, as ultralytics does. A missing label file means an image with no objects.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from blendaug.data.atomic import atomic_dir, link_or_copy
from blendaug.data.errors import DataError, Warnings, where
from blendaug.data.imageio import image_size, is_image_file
from blendaug.data.model import SPLITS, Dataset, ImageRecord, clip_boxes, cxcywh_norm_to_xyxy, xyxy_to_cxcywh_norm

# Label coordinates may overshoot [0, 1] by float noise from other tools; beyond this they are wrong.
COORD_TOL = 1e-6
NAMES_FILES = ("classes.txt", "obj.names", "names.txt")


def label_path_for(image_path: Path) -> Path:
    """ultralytics' rule: the last ``images`` folder becomes ``labels`` and the suffix ``.txt``."""
    parts = list(image_path.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def parse_label_file(path: Path, n_classes: int, warnings: Warnings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse one YOLO label file into ``(boxes_cxcywh_norm (N,4), class_ids (N,))``.

    Args:
        path: the ``.txt`` file.
        n_classes: class ids must be in ``[0, n_classes)``.
        warnings: when given, a bad line is skipped and counted instead of raising.

    Raises:
        DataError: naming ``file:line`` for a wrong field count, a non-number, a coordinate out of
            range, a non-positive size or an unknown class id.
    """
    boxes: list[list[float]] = []
    ids: list[int] = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for line_no, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            box, cls = _parse_line(fields, n_classes)
        except DataError as e:
            message = f"{where(path, line_no)}: {e}"
            if warnings is None:
                raise DataError(message) from None
            warnings.add("bad YOLO label line skipped", message)
            continue
        boxes.append(box)
        ids.append(cls)
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(ids, dtype=np.int64)


def _parse_line(fields: list[str], n_classes: int) -> tuple[list[float], int]:
    n = len(fields)
    if n != 5 and (n < 7 or n % 2 == 0):
        raise DataError(f"expected 5 fields (class cx cy w h) or a polygon, got {n}")
    try:
        values = [float(f) for f in fields]
    except ValueError:
        bad = next(f for f in fields if not _is_float(f))
        raise DataError(f"not a number: {bad!r}") from None
    if not all(np.isfinite(values)):
        raise DataError("not a finite number")
    cls_f = values[0]
    if cls_f != int(cls_f):
        raise DataError(f"class id must be an integer, got {fields[0]!r}")
    cls = int(cls_f)
    if not 0 <= cls < n_classes:
        raise DataError(f"unknown class id {cls} (dataset has {n_classes} classes)")
    coords = np.asarray(values[1:])
    if coords.min() < -COORD_TOL or coords.max() > 1 + COORD_TOL:
        raise DataError(f"coordinate out of range [0, 1]: {fields[1:]}")
    coords = coords.clip(0.0, 1.0)
    if n == 5:
        cx, cy, w, h = coords
    else:
        xs, ys = coords[0::2], coords[1::2]
        cx, cy, w, h = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2, xs.max() - xs.min(), ys.max() - ys.min()
    if w <= 0 or h <= 0:
        raise DataError(f"box width and height must be > 0, got w={w:g} h={h:g}")
    return [float(cx), float(cy), float(w), float(h)], cls


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _names_from_yaml(raw: object, yaml_path: Path) -> list[str]:
    if isinstance(raw, dict):
        try:
            keys = sorted(int(k) for k in raw)
        except (TypeError, ValueError):
            raise DataError(f"{yaml_path}: key 'names': class ids must be integers") from None
        if keys != list(range(len(keys))):
            raise DataError(f"{yaml_path}: key 'names': class ids must be 0..{len(keys) - 1}, got {keys}")
        return [str(raw[k] if k in raw else raw[str(k)]) for k in keys]
    if isinstance(raw, list) and raw:
        return [str(n) for n in raw]
    raise DataError(f"{yaml_path}: key 'names' must be a non-empty list or a {{id: name}} mapping")


def _names_from_folder(root: Path) -> list[str] | None:
    for fname in NAMES_FILES:
        f = root / fname
        if f.is_file():
            names = [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
            if names:
                return names
    return None


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))


def _split_sources(src: Path) -> tuple[Path, dict[str, list[Path]], list[str] | None, Path]:
    """Find ``(root, {split: [image folders or list files]}, names, described_by)`` for a dataset."""
    yaml_path = src if src.is_file() else src / "data.yaml"
    if src.is_file() and src.suffix not in (".yaml", ".yml"):
        raise DataError(f"{src}: expected a data.yaml or a dataset folder")
    if yaml_path.is_file():
        try:
            cfg = yaml.safe_load(yaml_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise DataError(f"{yaml_path}: not valid YAML ({e})") from None
        if not isinstance(cfg, dict):
            raise DataError(f"{yaml_path}: expected a mapping with keys path, train, val, names")
        if "names" not in cfg:
            raise DataError(f"{yaml_path}: missing key 'names'")
        names = _names_from_yaml(cfg["names"], yaml_path)
        root = Path(cfg.get("path") or yaml_path.parent)
        if not root.is_absolute():
            root = (yaml_path.parent / root).resolve()
        if not root.is_dir():
            # A moved dataset keeps its old absolute path; the yaml's own folder is the next best guess.
            if (yaml_path.parent / "images").is_dir():
                root = yaml_path.parent
            else:
                raise DataError(f"{yaml_path}: key 'path' points to a missing folder: {root}")
        if "train" not in cfg:
            raise DataError(f"{yaml_path}: missing key 'train'")
        sources: dict[str, list[Path]] = {}
        for split in SPLITS:
            value = cfg.get(split)
            if value in (None, ""):
                continue
            entries = value if isinstance(value, list) else [value]
            paths = []
            for entry in entries:
                p = Path(str(entry))
                p = p if p.is_absolute() else root / p
                if not p.exists():
                    raise DataError(f"{yaml_path}: key '{split}' points to a missing path: {p}")
                paths.append(p)
            sources[split] = paths
        return root, sources, names, yaml_path
    images = src / "images"
    if not images.is_dir():
        raise DataError(f"{src}: no data.yaml and no images/ folder: not a YOLO dataset")
    split_dirs = {s: [images / s] for s in SPLITS if (images / s).is_dir()}
    return src, split_dirs or {"train": [images]}, _names_from_folder(src), src


def read_yolo(
    src: str | os.PathLike,
    names: list[str] | None = None,
    skip_bad: bool = False,
    warnings: Warnings | None = None,
) -> Dataset:
    """Read a YOLO dataset (``data.yaml``, a folder holding one, or ``images/`` + ``labels/``).

    Without a ``data.yaml``, splits come from ``images/{train,val,test}`` when present, otherwise
    every image is ``train``; class names come from ``names``, ``classes.txt`` or ``obj.names``.

    Args:
        names: class names, overriding whatever the dataset says.
        skip_bad: skip bad label lines and unreadable images, counting them in ``warnings``.

    Raises:
        DataError: a missing key or path, an unreadable image, a bad label line (``file:line``),
            or a split that holds no image.
    """
    src = Path(src)
    if not src.exists():
        raise DataError(f"{src}: no such file or folder")
    warnings = warnings if warnings is not None else Warnings()
    root, sources, found_names, described_by = _split_sources(src)
    names = list(names or found_names or [])
    if not names:
        raise DataError(f"{described_by}: no class names (add classes.txt or a data.yaml, or pass --names)")
    images: list[ImageRecord] = []
    for split, paths in sources.items():
        split_images = [
            _read_image(img, base, split, len(names), skip_bad, warnings) for base, img in _iter_split(paths, root)
        ]
        split_images = [r for r in split_images if r is not None]
        if not split_images:
            raise DataError(f"{described_by}: split '{split}' holds no images ({', '.join(map(str, paths))})")
        images.extend(split_images)
    seen: set[tuple[str, Path]] = set()
    for rec in images:
        key = (rec.split, rec.rel_path)
        if key in seen:
            raise DataError(f"{rec.path}: listed twice in split '{rec.split}'")
        seen.add(key)
    return Dataset(names=names, images=images, root=root)


def _iter_split(paths: list[Path], root: Path):
    """Yield ``(base folder for rel_path, image path)`` for folders and ``.txt`` image lists."""
    for p in paths:
        if p.is_dir():
            for img in _list_images(p):
                yield p, img
        else:
            for line in p.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line:
                    img = Path(line)
                    yield root, (img if img.is_absolute() else (root / img))


def _read_image(
    img: Path, base: Path, split: str, n_classes: int, skip_bad: bool, warnings: Warnings
) -> ImageRecord | None:
    try:
        width, height = image_size(img)
        lbl = label_path_for(img)
        boxes_norm, ids = (
            parse_label_file(lbl, n_classes, warnings if skip_bad else None)
            if lbl.is_file()
            else (np.zeros((0, 4)), np.zeros((0,), dtype=np.int64))
        )
    except DataError as e:
        if not skip_bad:
            raise
        warnings.add("unreadable image skipped", str(e))
        return None
    try:
        rel = img.relative_to(base)
    except ValueError:
        rel = Path(img.name)
    # In-range centres and sizes can still put an edge past the border (cx + w/2 > 1); the model
    # promises boxes inside the image, and COCO's reader clips too, so round trips stay exact.
    boxes = clip_boxes(cxcywh_norm_to_xyxy(boxes_norm, width, height), width, height)
    return ImageRecord(path=img, width=width, height=height, boxes_xyxy_px=boxes, class_ids=ids, split=split,
                       rel_path=rel)


def format_label_lines(rec: ImageRecord) -> str:
    """YOLO label text for one image (``class cx cy w h``, 8 decimals, one line per box)."""
    boxes = xyxy_to_cxcywh_norm(rec.boxes_xyxy_px, rec.width, rec.height)
    return "".join(
        f"{int(c)} {b[0]:.8f} {b[1]:.8f} {b[2]:.8f} {b[3]:.8f}\n" for c, b in zip(rec.class_ids, boxes, strict=True)
    )


def data_yaml_text(out: Path, names: list[str], splits: list[str]) -> str:
    """A ``data.yaml`` with an absolute ``path`` (ultralytics resolves relative ones elsewhere)."""
    cfg: dict = {"path": str(Path(out).absolute())}
    for s in splits:
        cfg[s] = f"images/{s}"
    cfg["nc"] = len(names)
    cfg["names"] = {i: n for i, n in enumerate(names)}
    return yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)


def write_record(out: Path, rec: ImageRecord, image_bytes: bytes | None = None,
                 link: Callable[[Path, Path], None] = link_or_copy) -> None:
    """Write one image and its label file into the YOLO folder ``out`` (``images/<split>/<rel_path>``).

    The image is ``image_bytes`` when given (a new image), else the embedded data of ``rec``, else a
    link to ``rec.path`` made by ``link``.
    """
    rel = Path(rec.split) / rec.rel_path
    dst = out / "images" / rel
    payload = image_bytes if image_bytes is not None else rec.data if not rec.path.is_file() else None
    if payload is not None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(payload)
    else:
        link(rec.path, dst)
    lbl = out / "labels" / rel.with_suffix(".txt")
    lbl.parent.mkdir(parents=True, exist_ok=True)
    lbl.write_text(format_label_lines(rec), encoding="utf-8")


def write_yolo(ds: Dataset, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``ds`` as a YOLO folder: ``images/<split>/``, ``labels/<split>/``, ``data.yaml``.

    Image files are hard-linked where possible (copied otherwise); embedded images are written out.
    The folder appears only when complete.

    Returns:
        the path of the written ``data.yaml``.
    """
    out = Path(out).absolute()
    if not ds.images:
        raise DataError(f"{ds.root or out}: nothing to write, the dataset has no images")
    targets: dict[Path, Path] = {}
    for rec in ds.images:
        target = Path(rec.split) / rec.rel_path
        if target in targets:
            raise DataError(f"{rec.path}: same output path as {targets[target]} ({target}); rename one of them")
        targets[target] = rec.path
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for rec in ds.images:
            write_record(tmp, rec)
        (tmp / "data.yaml").write_text(data_yaml_text(out, ds.names, ds.splits_present()), encoding="utf-8")
    return out / "data.yaml"
