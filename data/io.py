"""One door to every dataset format: registries of readers and writers, and format auto-detection."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from blendaug.data.coco import read_coco, write_coco
from blendaug.data.errors import ConfigError, DataError, Warnings
from blendaug.data.labelme import read_labelme
from blendaug.data.model import Dataset
from blendaug.data.yolo import read_yolo, write_yolo

# Every reader is called as reader(src, names=..., skip_bad=..., warnings=...).
FORMATS: dict[str, Callable[..., Dataset]] = {"yolo": read_yolo, "labelme": read_labelme, "coco": read_coco}
WRITERS: dict[str, Callable[..., Path]] = {"yolo": write_yolo, "coco": write_coco}

# Looking at a few JSON files is enough to tell a labelme folder; a big folder is not read twice.
_LABELME_PROBE = 20


def _is_labelme_folder(folder: Path) -> bool:
    for i, path in enumerate(sorted(folder.rglob("*.json"))):
        if i >= _LABELME_PROBE:
            break
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(obj, dict) and "shapes" in obj:
            return True
    return False


def detect_format(src: str | os.PathLike) -> str:
    """Guess the format of ``src``.

    A ``.json`` file, or a folder with ``annotations/instances_*.json``: coco. A ``.yaml`` file, or a
    folder with ``data.yaml`` or ``images/`` + ``labels/``: yolo. A folder of JSON files with
    ``shapes``: labelme. A folder with just ``images/``: yolo (unlabeled images).

    Raises:
        DataError: naming ``src`` and the formats, when none fits.
    """
    src = Path(src)
    if not src.exists():
        raise DataError(f"{src}: no such file or folder")
    if src.is_file():
        suffix = src.suffix.lower()
        if suffix == ".json":
            return "coco"
        if suffix in (".yaml", ".yml"):
            return "yolo"
    else:
        if any((src / "annotations").glob("instances_*.json")):
            return "coco"
        if (src / "data.yaml").is_file() or ((src / "images").is_dir() and (src / "labels").is_dir()):
            return "yolo"
        if _is_labelme_folder(src):
            return "labelme"
        if (src / "images").is_dir():
            return "yolo"
    raise DataError(f"{src}: cannot tell its format (looked for {', '.join(FORMATS)}); pass --format")


def read_dataset(
    src: str | os.PathLike,
    fmt: str = "auto",
    names: list[str] | None = None,
    skip_bad: bool = False,
    warnings: Warnings | None = None,
) -> Dataset:
    """Read a dataset in any known format (``fmt="auto"`` detects it, see :func:`detect_format`).

    Raises:
        ConfigError: an unknown ``fmt``.
        DataError: whatever the reader finds wrong, naming the file (and line or key).
    """
    if fmt == "auto":
        fmt = detect_format(src)
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown format {fmt!r} (choose from auto, {', '.join(FORMATS)})")
    return FORMATS[fmt](src, names=names, skip_bad=skip_bad, warnings=warnings)


def write_dataset(ds: Dataset, out: str | os.PathLike, fmt: str, overwrite: bool = False) -> Path:
    """Write ``ds`` to ``out`` as ``fmt`` (a key of :data:`WRITERS`); the folder appears only when complete.

    Returns:
        what the writer returns (YOLO: ``data.yaml``; COCO: the folder).
    """
    if fmt not in WRITERS:
        raise ConfigError(f"--format: unknown output format {fmt!r} (choose from {', '.join(WRITERS)})")
    return WRITERS[fmt](ds, out, overwrite=overwrite)
