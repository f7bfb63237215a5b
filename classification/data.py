"""Real crop folders for the classifier: scan, restrict classes, split (seeded, stratified), load into memory.

A crop folder is an ImageFolder tree: ``ROOT/<class>/**/*.png|jpg`` (the output of ``blendaug data crops``,
whose ``index.csv`` is not needed here, or e.g. the Zenodo tiny-vehicle set). Splits come from, in order:
1. a split file (``split.csv`` written by an earlier run: ``file,class,split`` with ``file`` relative to ROOT);
2. ``ROOT/train``, ``ROOT/val``, ``ROOT/test`` subfolders, each an ImageFolder tree (a missing ``val`` is
   carved out of ``train``; a missing ``test`` is an error, since the test split must be fixed and untouched);
3. otherwise a seeded split, stratified per class (default 70/15/15).
``train_per_class`` then keeps a seeded subset of train per class (the data-scarce regime); val and test are
untouched, and the dropped train images are recorded with split ``unused``.
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from blendaug.data.errors import ConfigError, DataError, Warnings, where
from blendaug.data.imageio import is_image_file, load_image_rgb

SPLITS = ("train", "val", "test")
SPLIT_FILE_COLUMNS = ("file", "class", "split")


@dataclass
class CropSplits:
    """Which files (relative to ``root``) are in which split, with their class ids."""

    root: Path
    classes: list[str]
    files: dict[str, list[str]] = field(default_factory=dict)  # split -> rel paths (posix)
    labels: dict[str, list[int]] = field(default_factory=dict)  # split -> class ids
    source: str = "seeded"  # seeded | folders | file

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per split and class: ``{"train": {"car": 50, ...}, ...}``."""
        return {
            s: {c: int(np.sum(np.asarray(self.labels[s]) == i)) for i, c in enumerate(self.classes)}
            for s in self.files
        }


def parse_classes(value: str | None) -> list[str] | None:
    """``"car,minibus"`` -> ``["car", "minibus"]``; empty -> None (all classes)."""
    names = [n.strip() for n in value.split(",") if n.strip()] if value else []
    return names or None


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p) and not p.name.startswith("."))


def scan_image_folder(root: Path, warnings: Warnings) -> dict[str, list[Path]]:
    """``{class: sorted image paths}`` of an ImageFolder tree; empty class folders are a counted warning."""
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of class folders")
    found: dict[str, list[Path]] = {}
    for cdir in _class_dirs(root):
        images = _images_under(cdir)
        if images:
            found[cdir.name] = images
        else:
            warnings.add("empty class folder", f"{cdir}: no images, class skipped")
    return found


def restrict_classes(found: dict[str, list], wanted: list[str] | None, root: Path) -> list[str]:
    """The class list of a run: ``wanted`` in the given order, or every class found (sorted).

    Raises:
        ConfigError: a wanted class is not in ``root`` (with the closest names).
        DataError: fewer than 2 classes.
    """
    if wanted:
        for name in wanted:
            if name not in found:
                close = difflib.get_close_matches(name, list(found), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else f" (found: {', '.join(found) or 'none'})"
                raise ConfigError(f"--classes: {name!r} has no images in {root}{hint}")
        classes = list(dict.fromkeys(wanted))
    else:
        classes = sorted(found)
    if len(classes) < 2:
        raise DataError(f"{root}: found {len(classes)} class(es) with images ({', '.join(classes) or 'none'}); "
                        "a classifier needs at least 2")
    return classes


def stratified_split(n_per_class: list[int], val: float, test: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Assign each item of each class to train (0), val (1) or test (2).

    Per class, ``round(n * frac)`` items go to val and to test (at least 1 each when the fraction is > 0);
    at least one item stays in train.

    Returns:
        one (n_c,) int8 array of split codes per class, in item order.
    """
    out = []
    for c, n in enumerate(n_per_class):
        n_test = max(1, round(n * test)) if test > 0 else 0
        n_val = max(1, round(n * val)) if val > 0 else 0
        if n - n_test - n_val < 1:
            raise DataError(f"class #{c} has {n} image(s): too few to split into train/val/test")
        codes = np.zeros(n, dtype=np.int8)
        perm = rng.permutation(n)
        codes[perm[:n_test]] = 2
        codes[perm[n_test:n_test + n_val]] = 1
        out.append(codes)
    return out


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _from_folders(root: Path, wanted: list[str] | None, val: float, seed: int, warnings: Warnings) -> CropSplits:
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        missing = [s for s in ("train", "test") if not (root / s).is_dir()]
        raise DataError(f"{root}: has split subfolders but no {'/'.join(missing)}/ (need train/ and test/; "
                        "val/ is optional)")
    train_found = scan_image_folder(root / "train", warnings)
    classes = restrict_classes(train_found, wanted, root / "train")
    cs = CropSplits(root, classes, source="folders")
    for split in SPLITS:
        if not (root / split).is_dir():
            continue
        found = train_found if split == "train" else scan_image_folder(root / split, warnings)
        for name in sorted(set(found) - set(classes)):
            if wanted is None:
                warnings.add("class missing from train", f"{root / split / name}: class not in train/, skipped")
        cs.files[split] = [_rel(p, root) for c in classes for p in found.get(c, [])]
        cs.labels[split] = [i for i, c in enumerate(classes) for _ in found.get(c, [])]
    if "val" not in cs.files:
        # Carve val out of train, stratified and seeded, exactly like the seeded split.
        pairs = list(zip(cs.files["train"], cs.labels["train"], strict=True))
        per_class = [[f for f, y in pairs if y == i] for i in range(len(classes))]
        codes = stratified_split([len(p) for p in per_class], val, 0.0, np.random.default_rng(seed))
        cs.files["train"], cs.labels["train"], cs.files["val"], cs.labels["val"] = [], [], [], []
        for i, (files, code) in enumerate(zip(per_class, codes, strict=True)):
            for f, k in zip(files, code, strict=True):
                split = "val" if k == 1 else "train"
                cs.files[split].append(f)
                cs.labels[split].append(i)
    return cs


def _seeded(root: Path, wanted: list[str] | None, val: float, test: float, seed: int, warnings: Warnings) -> CropSplits:
    found = scan_image_folder(root, warnings)
    classes = restrict_classes(found, wanted, root)
    codes = stratified_split([len(found[c]) for c in classes], val, test, np.random.default_rng(seed))
    cs = CropSplits(root, classes, {s: [] for s in SPLITS}, {s: [] for s in SPLITS}, source="seeded")
    for i, c in enumerate(classes):
        for path, k in zip(found[c], codes[i], strict=True):
            cs.files[SPLITS[k]].append(_rel(path, root))
            cs.labels[SPLITS[k]].append(i)
    return cs


def read_split_file(path: Path, root: Path, wanted: list[str] | None) -> CropSplits:
    """Read a ``split.csv`` (``file,class,split``); classes keep their first-seen order unless ``wanted`` is given."""
    if not path.is_file():
        raise DataError(f"{path}: split file not found")
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    if not rows or any(col not in rows[0] for col in SPLIT_FILE_COLUMNS):
        raise DataError(f"{path}: a split file needs the columns {', '.join(SPLIT_FILE_COLUMNS)}")
    seen = list(dict.fromkeys(r["class"] for r in rows if r["split"] in SPLITS))
    classes = restrict_classes({c: [1] for c in seen}, wanted, path)
    cs = CropSplits(root, classes, {s: [] for s in SPLITS}, {s: [] for s in SPLITS}, source="file")
    for line, r in enumerate(rows, start=2):
        if r["split"] not in SPLITS or r["class"] not in classes:
            continue
        if not (root / r["file"]).is_file():
            raise DataError(f"{where(path, line)}: {r['file']} not found under {root}")
        cs.files[r["split"]].append(r["file"])
        cs.labels[r["split"]].append(classes.index(r["class"]))
    return cs


def subsample_train(cs: CropSplits, per_class: int, seed: int, warnings: Warnings) -> None:
    """Keep a seeded ``per_class`` images of each class in train; the rest move to split ``unused``."""
    rng = np.random.default_rng([seed, 1])
    files, labels = np.asarray(cs.files["train"], dtype=object), np.asarray(cs.labels["train"])
    keep = np.zeros(len(files), dtype=bool)
    for i, c in enumerate(cs.classes):
        idx = np.flatnonzero(labels == i)
        if len(idx) < per_class:
            warnings.add("train class below --train-per-class", f"{c}: only {len(idx)} train images (< {per_class})")
        keep[np.sort(rng.permutation(idx)[:per_class])] = True
    cs.files["unused"] = cs.files.get("unused", []) + list(files[~keep])
    cs.labels["unused"] = cs.labels.get("unused", []) + labels[~keep].tolist()
    cs.files["train"], cs.labels["train"] = list(files[keep]), labels[keep].tolist()


def make_splits(root: Path, classes: list[str] | None = None, val: float = 0.15, test: float = 0.15, seed: int = 0,
                train_per_class: int | None = None, split_file: Path | None = None,
                warnings: Warnings | None = None) -> CropSplits:
    """Decide the train/val/test files of a run (see the module docstring for the rules).

    Args:
        root: the crop folder.
        classes: restrict to these classes (in this order); None = all.
        val, test: fractions for the seeded split (and val carved from ``train/``).
        seed: split seed (independent of the training seed, so training seeds share one split).
        train_per_class: keep this many train images per class (None = all).
        split_file: reuse a recorded split instead.
        warnings: collects counted warnings.
    """
    warnings = warnings if warnings is not None else Warnings()
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    if not (0 <= val < 1 and 0 < test < 1 and val + test < 1):
        raise ConfigError(f"--val {val} / --test {test}: need 0 <= val, 0 < test and val + test < 1")
    if split_file is not None:
        cs = read_split_file(Path(split_file), root, classes)
    elif any((root / s).is_dir() for s in SPLITS):
        cs = _from_folders(root, classes, val, seed, warnings)
    else:
        cs = _seeded(root, classes, val, test, seed, warnings)
    for split in ("train", "test"):
        if not cs.files.get(split):
            raise DataError(f"{root}: the {split} split is empty")
    if train_per_class is not None:
        if train_per_class < 1:
            raise ConfigError("--train-per-class must be >= 1")
        subsample_train(cs, train_per_class, seed, warnings)
    return cs


def split_file_text(cs: CropSplits) -> str:
    """CSV text of a split: ``file,class,split`` for every image, ``unused`` included."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SPLIT_FILE_COLUMNS)
    for split, files in cs.files.items():
        for f, y in zip(files, cs.labels[split], strict=True):
            w.writerow([f, cs.classes[y], split])
    return buf.getvalue()


def resize_square(image_rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize (H, W, 3) to (size, size, 3); non-square crops are stretched (crops are square by construction)."""
    h, w = image_rgb.shape[:2]
    if (h, w) == (size, size):
        return image_rgb
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(image_rgb, (size, size), interpolation=interp)


def load_images(root: Path, files: list[str], labels: list[int], size: int, skip_bad: bool = False,
                warnings: Warnings | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode and resize images into memory.

    Returns:
        ``(images (N, size, size, 3) uint8, labels (N,) int64, kept rel paths)``.

    Raises:
        DataError: an unreadable image (naming it), unless ``skip_bad`` (then a counted warning).
    """
    warnings = warnings if warnings is not None else Warnings()
    images = np.zeros((len(files), size, size, 3), dtype=np.uint8)
    keep = np.zeros(len(files), dtype=bool)
    for i, rel in enumerate(files):
        try:
            images[i] = resize_square(load_image_rgb(root / rel), size)
            keep[i] = True
        except DataError as e:
            if not skip_bad:
                raise DataError(f"{e} (pass --skip-bad to skip unreadable images)") from e
            warnings.add("unreadable image skipped", str(e))
    kept = [f for f, k in zip(files, keep, strict=True) if k]
    return images[keep], np.asarray(labels, dtype=np.int64)[keep], kept
