"""One door to every dataset format: registries of readers and writers, and format auto-detection."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from blendaug.data.coco import ROBOFLOW_JSON, ROBOFLOW_SPLITS, read_coco, write_coco
from blendaug.data.errors import ConfigError, DataError, Warnings
from blendaug.data.labelme import read_labelme
from blendaug.data.labelstudio import read_labelstudio
from blendaug.data.model import Dataset
from blendaug.data.voc import read_voc
from blendaug.data.yolo import names_from_folder, read_yolo, write_yolo
from blendaug.data.yolo_paths import find_data_yaml

# Every reader is called as reader(src, names=..., skip_bad=..., warnings=..., **options).
FORMATS: dict[str, Callable[..., Dataset]] = {
    "yolo": read_yolo, "labelme": read_labelme, "coco": read_coco, "voc": read_voc, "labelstudio": read_labelstudio,
}
WRITERS: dict[str, Callable[..., Path]] = {"yolo": write_yolo, "coco": write_coco}
# The reader options beyond the common four, and the formats that take each (and the flag that sets it).
OPTIONS: dict[str, tuple[str, set[str]]] = {
    "images_dir": ("--images", {"coco", "voc", "labelstudio"}),
    "keep_difficult": ("--keep-difficult", {"voc"}),
}

# Looking at a few files is enough to tell a folder's format; a big folder is not read twice.
_PROBE = 20
_PEEK_BYTES = 4096


def _probe_json(folder: Path, key: str) -> bool:
    for i, path in enumerate(sorted(folder.rglob("*.json"))):
        if i >= _PROBE:
            break
        try:
            obj = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(obj, dict) and key in obj:
            return True
    return False


def _is_voc_xml(path: Path) -> bool:
    try:
        head = path.read_bytes()[:_PEEK_BYTES].decode("utf-8", errors="replace")
    except OSError:
        return False
    return "<annotation" in head


def _probe_voc(folder: Path) -> bool:
    for i, path in enumerate(sorted(folder.rglob("*.xml"))):
        if i >= _PROBE:
            break
        if _is_voc_xml(path):
            return True
    return False


def _has_data_yaml(folder: Path) -> bool:
    found = find_data_yaml(folder)
    if found is None:
        return False
    try:
        return found.name in ("data.yaml", "data.yml") or "train:" in found.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return False


def _json_file_format(path: Path) -> str:
    """A JSON list is a Label Studio export; an object is COCO (a labelme file lives in a folder)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_PEEK_BYTES).decode("utf-8-sig", errors="replace").lstrip()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    return "labelstudio" if head.startswith("[") else "coco"


def detect_format(src: str | os.PathLike) -> str:
    """Guess the format of ``src``.

    Files: ``.json`` holding a list (Label Studio) or an object (COCO); ``.yaml``/``.yml``: yolo;
    ``.xml``: voc. Folders, first match wins: ``annotations/instances_*.json`` or Roboflow's
    ``<split>/_annotations.coco.json``: coco; ``data.yaml`` (or one top-level yaml) or ``images/`` +
    ``labels/``: yolo; JSON files with ``shapes``: labelme; XML files with an ``<annotation>``: voc;
    just ``images/``, or ``classes.txt``/``obj.names`` (darknet's layout): yolo.

    Raises:
        DataError: naming ``src`` and the formats, when none fits.
    """
    src = Path(src)
    if not src.exists():
        raise DataError(f"{src}: no such file or folder")
    if src.is_file():
        suffix = src.suffix.lower()
        if suffix == ".json":
            return _json_file_format(src)
        if suffix in (".yaml", ".yml"):
            return "yolo"
        if suffix == ".xml":
            return "voc"
    else:
        if any((src / "annotations").glob("instances_*.json")) or any(
                (src / d / ROBOFLOW_JSON).is_file() for d in ROBOFLOW_SPLITS):
            return "coco"
        if _has_data_yaml(src) or ((src / "images").is_dir() and (src / "labels").is_dir()):
            return "yolo"
        if _probe_json(src, "shapes"):
            return "labelme"
        if _probe_voc(src):
            return "voc"
        if (src / "images").is_dir() or names_from_folder(src) is not None:
            return "yolo"
    raise DataError(f"{src}: cannot tell its format (looked for {', '.join(FORMATS)}); pass --format")


def read_dataset(
    src: str | os.PathLike,
    fmt: str = "auto",
    names: list[str] | None = None,
    skip_bad: bool = False,
    warnings: Warnings | None = None,
    **options,
) -> Dataset:
    """Read a dataset in any known format (``fmt="auto"`` detects it, see :func:`detect_format`).

    Args:
        skip_bad: skip what can be skipped (bad label lines, unreadable images, bad shapes or boxes),
            counting each in ``warnings`` (``warnings.skipped_total()`` is how many were left out).
        options: format options, see :data:`OPTIONS` (``images_dir=``, ``keep_difficult=``); None or
            False means "not given".

    Raises:
        ConfigError: an unknown ``fmt``, or an option the format does not take.
        DataError: whatever the reader finds wrong, naming the file (and line or key).
    """
    if fmt == "auto":
        fmt = detect_format(src)
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown format {fmt!r} (choose from auto, {', '.join(FORMATS)})")
    given = {k: v for k, v in options.items() if v not in (None, False)}
    for key in given:
        if key not in OPTIONS:
            raise TypeError(f"read_dataset() got an unknown option {key!r}")
        flag, formats = OPTIONS[key]
        if fmt not in formats:
            raise ConfigError(f"{flag}: only for --format {', '.join(sorted(formats))}, not {fmt}")
    return FORMATS[fmt](src, names=names, skip_bad=skip_bad, warnings=warnings, **given)


def write_dataset(ds: Dataset, out: str | os.PathLike, fmt: str, overwrite: bool = False) -> Path:
    """Write ``ds`` to ``out`` as ``fmt`` (a key of :data:`WRITERS`); the folder appears only when complete.

    Returns:
        what the writer returns (YOLO: ``data.yaml``; COCO: the folder).
    """
    if fmt not in WRITERS:
        raise ConfigError(f"--format: unknown output format {fmt!r} (choose from {', '.join(WRITERS)})")
    return WRITERS[fmt](ds, out, overwrite=overwrite)
