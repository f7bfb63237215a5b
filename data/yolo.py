"""YOLO datasets: read a ``data.yaml`` or an ``images/`` + ``labels/`` folder, write a dataset folder.

Layout, as ultralytics expects it: every ``.../images/...`` image has its label at the same path
with the last ``images`` folder replaced by ``labels`` and the suffix by ``.txt``. How a ``data.yaml``
is resolved (``path:``, ``../`` retry, lists, ``.txt`` image lists) is :mod:`blendaug.data.yolo_paths`;
label lines are :mod:`blendaug.data.yolo_labels`. A missing label file means an image with no objects.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from blendaug.data.atomic import atomic_dir, link_or_copy
from blendaug.data.errors import DataError, Warnings
from blendaug.data.imageio import image_size
from blendaug.data.model import SPLITS, Dataset, ImageRecord, clip_boxes, cxcywh_norm_to_xyxy, xyxy_to_cxcywh_norm
from blendaug.data.yolo_labels import COORD_TOL, parse_label_file, read_names_file  # noqa: F401 (re-exported)
from blendaug.data.yolo_paths import find_data_yaml, iter_split, label_path_for, resolve_data_yaml

NAMES_FILES = ("classes.txt", "obj.names", "names.txt")


def names_from_folder(root: Path) -> list[str] | None:
    """Class names from ``classes.txt``, ``obj.names`` or ``names.txt`` in ``root``, else None."""
    for fname in NAMES_FILES:
        f = root / fname
        if f.is_file():
            names = read_names_file(f)
            if names:
                return names
    return None


def yolo_yaml(src: Path) -> Path | None:
    """The ``data.yaml`` that describes ``src`` (the file itself, or the one in the folder), or None."""
    if src.is_file():
        if src.suffix.lower() not in (".yaml", ".yml"):
            raise DataError(f"{src}: expected a data.yaml or a dataset folder")
        return src
    return find_data_yaml(src)


def split_sources(src: Path, warnings: Warnings | None = None, datasets_dir: Path | None = None
                  ) -> tuple[Path, dict[str, list[Path]], list[str] | None, Path]:
    """Find ``(root, {split: [image folders or list files]}, names, described_by)`` for a dataset."""
    yaml_path = yolo_yaml(src)
    if yaml_path is not None:
        layout = resolve_data_yaml(yaml_path, datasets_dir=datasets_dir, warnings=warnings)
        return layout.root, layout.splits, layout.names, layout.yaml_path
    images = src / "images"
    if not images.is_dir():
        names = names_from_folder(src)
        if names is None:
            raise DataError(f"{src}: no data.yaml, no images/ folder and no classes.txt or obj.names: not a YOLO "
                            "dataset")
        # darknet's layout (CVAT's YOLO 1.1, labelImg's YOLO mode): images with their .txt beside them.
        return src, {"train": [src]}, names, src
    split_dirs = {s: [images / s] for s in SPLITS if (images / s).is_dir()}
    return src, split_dirs or {"train": [images]}, names_from_folder(src), src


def read_yolo(
    src: str | os.PathLike,
    names: list[str] | None = None,
    skip_bad: bool = False,
    warnings: Warnings | None = None,
    datasets_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Read a YOLO dataset (``data.yaml``, a folder holding one, or ``images/`` + ``labels/``).

    Without a ``data.yaml``, splits come from ``images/{train,val,test}`` when present, otherwise
    every image is ``train``; class names come from ``names``, ``classes.txt`` or ``obj.names``. A folder
    without ``images/`` but with ``classes.txt`` or ``obj.names`` is darknet's layout: every image under it
    (``train``), each label beside its image.

    Args:
        names: class names, overriding whatever the dataset says.
        skip_bad: skip bad label lines and unreadable images, counting them in ``warnings``.
        datasets_dir: ultralytics' ``datasets_dir``, for a relative ``path:`` (see :mod:`~blendaug.data.yolo_paths`).

    Raises:
        DataError: a missing key or path, an unreadable image, a bad label line (``file:line``),
            two images sharing one label file, or a split that holds no image.
    """
    src = Path(src)
    if not src.exists():
        raise DataError(f"{src}: no such file or folder")
    warnings = warnings if warnings is not None else Warnings()
    root, sources, found_names, described_by = split_sources(
        src, warnings, Path(datasets_dir) if datasets_dir is not None else None)
    names = list(names or found_names or [])
    if not names:
        raise DataError(f"{described_by}: no class names (add classes.txt or a data.yaml, or pass --names)")
    listed = {split: list(iter_split(paths, warnings)) for split, paths in sources.items()}
    shared = _shared_labels([img for pairs in listed.values() for _, img in pairs])
    images: list[ImageRecord] = []
    for split, pairs in listed.items():
        split_images = []
        for base, img in pairs:
            if img in shared:
                message = (f"{shared[img][0]} and {shared[img][1]} both map to the label file {label_path_for(img)}; "
                           "rename one of them")
                if not skip_bad:
                    raise DataError(message)
                warnings.add("images sharing one label file skipped", message, skipped=True)
                continue
            rec = _read_image(img, base, split, len(names), skip_bad, warnings)
            if rec is not None:
                split_images.append(rec)
        if not split_images:
            paths = sources[split]
            raise DataError(f"{described_by}: split '{split}' holds no images ({', '.join(map(str, paths))})")
        images.extend(split_images)
    seen: set[tuple[str, Path]] = set()
    for rec in images:
        key = (rec.split, rec.rel_path)
        if key in seen:
            raise DataError(f"{rec.path}: listed twice in split '{rec.split}'")
        seen.add(key)
    return Dataset(names=names, images=images, root=root)


def _shared_labels(images: list[Path]) -> dict[Path, tuple[Path, Path]]:
    """Images whose label file another, different image maps to too (``a.jpg`` and ``a.png`` beside ``a.txt``)."""
    by_label: dict[Path, list[Path]] = {}
    for img in dict.fromkeys(images):
        by_label.setdefault(label_path_for(img), []).append(img)
    shared: dict[Path, tuple[Path, Path]] = {}
    for group in by_label.values():
        if len(group) > 1:
            for img in group:
                shared[img] = (group[0], group[1])
    return shared


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
        warnings.add("unreadable image skipped", str(e), skipped=True)
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
