"""Where a YOLO dataset's images and labels are: ultralytics' ``data.yaml`` rules, in one place.

blendaug reads a ``data.yaml`` exactly as ultralytics 8.4 does (``ultralytics.data.utils.check_det_dataset``,
then ``BaseDataset.get_img_files`` and ``img2label_paths``), so ``blendaug data stats`` counts the images that
``yolo train data=...`` would train on. ``tests/data/test_yolo_paths.py`` checks every rule below against
ultralytics' own resolver in the installed version.

1. **Root.** The dataset root is ``path:`` when given, else the folder the yaml file is in.
2. **Relative ``path:``** is relative to the *current working folder*, not to the yaml file. When it does not
   exist there, ultralytics looks under its ``datasets_dir`` setting (``yolo settings``); blendaug does the same
   when given ``datasets_dir`` and otherwise stops with an error that says so.
3. **A split** (``train``, ``val``, ``test``; ``validation`` is read as ``val``) given as a string is
   ``root / value`` (an absolute value stays itself). When that does not exist and the value starts with
   ``../``, ``root / value[3:]`` is used: Roboflow's exports write ``train: ../train/images`` beside a
   ``train/`` folder.
4. **A list-valued split** is each ``root / entry``, without the ``../`` retry.
5. **Each split path** is a folder (every image under it, recursively, skipping hidden files and folders as
   ``glob`` does) or a ``.txt`` file listing one image per line (UTF-8, with or without a byte-order mark). A
   line starting with ``./`` is relative to the ``.txt`` file's folder; any other relative line to the current
   working folder. Lines without an image suffix are ignored (blendaug counts them).
6. **Labels.** An image's label is its path with the last ``/images/`` folder replaced by ``/labels/`` and
   the suffix by ``.txt`` (beside the image when the path has no ``images`` folder).
7. **Class names** come from ``names`` (a list, or an ``{id: name}`` mapping with ids ``0..n-1``), or
   ``class_0 .. class_<nc-1>`` when only ``nc`` is given; ``nc`` must match ``names``.

Where ultralytics would stop, blendaug differs in three documented ways: ``val`` may be missing (many
datasets are split later); a folder given instead of a yaml uses its ``data.yaml`` (or its only top-level
``*.yaml``/``*.yml``); and a ``path:`` that does not exist (an absolute path of a dataset moved from another
machine) falls back to the yaml's own folder, with a counted warning, when every split is found there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from blendaug.data.errors import DataError, Warnings, where
from blendaug.data.imageio import is_image_file
from blendaug.data.model import SPLITS

YAML_SPLIT_KEYS = {"train": "train", "val": "val", "validation": "val", "test": "test"}


@dataclass
class YamlLayout:
    """A resolved ``data.yaml``: its root, class names and the paths (folders or ``.txt`` lists) of each split."""

    yaml_path: Path
    root: Path
    names: list[str]
    splits: dict[str, list[Path]] = field(default_factory=dict)
    declared_path: str | None = None  # the ``path:`` value as written, None when absent


def find_data_yaml(folder: Path) -> Path | None:
    """``folder/data.yaml`` (or ``data.yml``), else the folder's only top-level ``*.yaml``/``*.yml``, else None."""
    for name in ("data.yaml", "data.yml"):
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for e in ("*.yaml", "*.yml") for p in folder.glob(e) if p.is_file())
    return found[0] if len(found) == 1 else None


def label_path_for(image_path: Path) -> Path:
    """ultralytics' rule: the last ``images`` folder becomes ``labels`` and the suffix ``.txt``."""
    parts = list(image_path.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def names_from_yaml(cfg: dict, yaml_path: Path) -> list[str]:
    """Class names from ``names`` and/or ``nc`` (rule 7)."""
    raw, nc = cfg.get("names"), cfg.get("nc")
    if nc is not None:
        try:
            nc_f = float(nc)
            if nc_f != int(nc_f) or nc_f < 1:
                raise ValueError
        except (TypeError, ValueError):
            raise DataError(f"{yaml_path}: key 'nc' must be a positive integer, got {nc!r}") from None
        nc = int(nc_f)
    if raw is None:
        if nc is None:
            raise DataError(f"{yaml_path}: missing key 'names'")
        return [f"class_{i}" for i in range(nc)]
    if isinstance(raw, dict):
        try:
            ids = {int(k): v for k, v in raw.items()}
        except (TypeError, ValueError):
            raise DataError(f"{yaml_path}: key 'names': class ids must be integers") from None
        if sorted(ids) != list(range(len(ids))):
            raise DataError(f"{yaml_path}: key 'names': class ids must be 0..{len(ids) - 1}, got {sorted(ids)}")
        names = [str(ids[i]) for i in range(len(ids))]
    elif isinstance(raw, list) and raw:
        names = [str(n) for n in raw]
    else:
        raise DataError(f"{yaml_path}: key 'names' must be a non-empty list or a {{id: name}} mapping")
    if nc is not None and nc != len(names):
        raise DataError(f"{yaml_path}: key 'nc' is {nc} but 'names' has {len(names)} entries")
    return names


def load_yaml_mapping(yaml_path: Path) -> dict:
    try:
        cfg = yaml.safe_load(yaml_path.read_text(encoding="utf-8-sig")) or {}
    except UnicodeDecodeError as e:
        raise DataError(f"{yaml_path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        raise DataError(f"{yaml_path}: not valid YAML ({' '.join(str(e).split())})") from None
    if not isinstance(cfg, dict):
        raise DataError(f"{yaml_path}: expected a mapping with keys path, train, val, names")
    return cfg


def _root(cfg: dict, yaml_path: Path, datasets_dir: Path | None) -> Path:
    declared = cfg.get("path")
    if declared is not None and not isinstance(declared, str):
        raise DataError(f"{yaml_path}: key 'path' must be a string, got {declared!r}")
    root = Path(declared) if declared else yaml_path.parent
    if not root.exists() and not root.is_absolute():
        if datasets_dir is None:
            raise DataError(f"{yaml_path}: key 'path' {declared!r} is relative, so it is read from the current "
                            f"folder {Path.cwd()} as ultralytics does, and it is not there (ultralytics would try "
                            "its datasets_dir next); make it absolute, or drop it to use the yaml's folder")
        root = (datasets_dir / root).resolve()
    return root.absolute()


def _split_paths(value: object, root: Path, key: str, yaml_path: Path) -> list[Path]:
    if isinstance(value, str):
        p = (root / value).resolve()
        if not p.exists() and value.startswith("../"):
            p = (root / value[3:]).resolve()
        return [p]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [(root / v).resolve() for v in value]
    raise DataError(f"{yaml_path}: key '{key}' must be a path or a list of paths, got {value!r}")


def resolve_data_yaml(yaml_path: Path, datasets_dir: Path | None = None,
                      warnings: Warnings | None = None) -> YamlLayout:
    """Resolve ``yaml_path`` by the rules in the module docstring.

    Args:
        datasets_dir: ultralytics' ``datasets_dir`` setting, for a relative ``path:`` missing from the cwd.
        warnings: gets the moved-dataset fallback (rule "absolute ``path:`` that does not exist").

    Raises:
        DataError: naming the yaml and the key: bad YAML, missing ``train``/``names``, a split path that
            does not exist.
    """
    yaml_path = Path(yaml_path).absolute()
    cfg = load_yaml_mapping(yaml_path)
    names = names_from_yaml(cfg, yaml_path)
    if "train" not in cfg:
        raise DataError(f"{yaml_path}: missing key 'train'")
    root = _root(cfg, yaml_path, datasets_dir)
    values = {YAML_SPLIT_KEYS[k]: v for k, v in cfg.items() if k in YAML_SPLIT_KEYS and v not in (None, "", [])}
    splits = {s: _split_paths(values[s], root, s, yaml_path) for s in SPLITS if s in values}
    if not root.exists() and root != yaml_path.parent:
        here = {s: _split_paths(values[s], yaml_path.parent, s, yaml_path) for s in splits}
        if all(p.exists() for paths in here.values() for p in paths):
            if warnings is not None:
                warnings.add("data.yaml 'path' missing, read from the yaml's own folder",
                             f"{yaml_path}: path {cfg.get('path')!r} does not exist; using {yaml_path.parent}")
            root, splits = yaml_path.parent, here
    for split, paths in splits.items():
        for p in paths:
            if not p.exists():
                raise DataError(f"{yaml_path}: key '{split}' points to a missing path: {p}")
    return YamlLayout(yaml_path=yaml_path, root=root, names=names, splits=splits,
                      declared_path=cfg.get("path") or None)


def _visible(path: Path, base: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(base).parts)


def list_images(folder: Path) -> list[Path]:
    """Every image file under ``folder``, recursively, sorted; hidden files and folders are skipped."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p) and _visible(p, folder))


def read_image_list(list_file: Path, warnings: Warnings | None = None) -> list[Path]:
    """The images a ``.txt`` image list names (rule 5), in file order.

    Raises:
        DataError: naming ``file:line`` for bytes that are not UTF-8.
    """
    raw = list_file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{where(list_file, line)}: not UTF-8 text ({e.reason})") from None
    images = []
    for line_no, line in enumerate(text.strip().splitlines(), start=1):
        if not is_image_file(Path(line)):
            if line.strip() and warnings is not None:
                warnings.add("image list line without an image suffix ignored",
                             f"{where(list_file, line_no)}: {line!r}")
            continue
        if line.startswith("./"):
            line = os.path.join(str(list_file.parent), line[2:])
        images.append(Path(line).absolute())
    return images


def iter_split(paths: list[Path], warnings: Warnings | None = None):
    """Yield ``(base folder for rel_path, image path)`` for each split path: a folder or a ``.txt`` list."""
    for p in paths:
        if p.is_dir():
            for img in list_images(p):
                yield p, img
        else:
            for img in read_image_list(p, warnings):
                yield p.parent, img
