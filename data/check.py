"""``blendaug data check``: read every image and label of a dataset and list every problem, grouped by kind.

Unlike the readers, which stop at the first bad file (or skip it with ``--skip-bad``), the check goes on and
reports all of them, with counts and the first few ``file:line`` examples per kind. A kind is *fatal* when
the readers refuse it (or when it leaks test images into training); the command then exits non-zero.

YOLO datasets get the full check (:func:`check_yolo`). Other formats are read with ``skip_bad`` and their
readers' counted problems are reported, followed by the same image, box and leak checks (:func:`check_records`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blendaug.data import leaks
from blendaug.data.errors import DataError, Warnings, where
from blendaug.data.imageio import load_image_rgb
from blendaug.data.model import Dataset, cxcywh_norm_to_xyxy
from blendaug.data.yolo import NAMES_FILES, split_sources, yolo_yaml
from blendaug.data.yolo_labels import BAD_LINE, DEGENERATE, OUTSIDE, parse_label_bytes
from blendaug.data.yolo_paths import iter_split, label_path_for, load_yaml_mapping

# kind -> fatal. Reader kinds from other formats are added as they come (fatal when the reader skipped them).
KINDS = {
    "dataset cannot be read": True,
    "unreadable image": True,
    BAD_LINE: True,
    DEGENERATE: True,
    OUTSIDE: True,
    "images sharing one label file": True,
    "leak: same file in two splits": True,
    "leak: identical image bytes in two splits": True,
    "leak: near-duplicate images across splits (perceptual hash)": False,
    "label file without an image": False,
    "box crosses the image border (clipped when read)": False,
    "box under 1 pixel wide or high": False,
    "data.yaml 'path' points away from the yaml's folder": False,
}


# Text files that sit among labels and are not labels: class names, darknet's image lists.
_NOT_LABELS = {*NAMES_FILES, "train.txt", "val.txt", "valid.txt", "test.txt"}


@dataclass
class CheckReport:
    """Problems by kind (counts, the first ``max_examples`` messages, which kinds are fatal) and what was read."""

    root: Path
    fmt: str
    max_examples: int = 3
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    fatal_kinds: set[str] = field(default_factory=set)
    images: dict[str, int] = field(default_factory=dict)  # split -> images listed
    label_files: int = 0
    boxes: int = 0
    names: list[str] = field(default_factory=list)

    def add(self, kind: str, message: str, fatal: bool | None = None, count: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + count
        shown = self.examples.setdefault(kind, [])
        if len(shown) < self.max_examples:
            shown.append(message)
        if KINDS.get(kind, False) if fatal is None else fatal:
            self.fatal_kinds.add(kind)

    @property
    def fatal(self) -> int:
        return sum(n for k, n in self.counts.items() if k in self.fatal_kinds)

    def rel(self, path: Path) -> str:
        """``path`` relative to the dataset root when inside it (shorter examples)."""
        try:
            return Path(path).absolute().relative_to(self.root.absolute()).as_posix()
        except ValueError:
            return str(path)

    def format(self) -> str:
        """The report ``blendaug data check`` prints."""
        per_split = ", ".join(f"{s} {n}" for s, n in self.images.items())
        lines = [f"checked {self.root} ({self.fmt})",
                 f"{sum(self.images.values())} images ({per_split or 'none'}), "
                 + (f"{self.label_files} label files, " if self.fmt == "yolo" else "")
                 + f"{self.boxes} boxes, {len(self.names)} classes: {', '.join(self.names) or '-'}", ""]
        order = sorted(self.counts, key=lambda k: (k not in self.fatal_kinds, k))
        for kind in order:
            tag = "FATAL" if kind in self.fatal_kinds else "WARN "
            lines.append(f"{tag} {self.counts[kind]} x {kind}")
            lines += [f"        {m}" for m in self.examples[kind]]
            if self.counts[kind] > len(self.examples[kind]):
                lines.append(f"        ... and {self.counts[kind] - len(self.examples[kind])} more")
        n_fatal, n_warn = self.fatal, sum(self.counts.values()) - self.fatal
        if not self.counts:
            lines.append("no problems found")
        else:
            lines += ["", f"{n_fatal} fatal problem(s) of {len(self.fatal_kinds)} kind(s), {n_warn} warning(s)"
                      + ("; the readers stop at the fatal ones (--skip-bad skips bad images and lines, not leaks)"
                         if n_fatal else "")]
        return "\n".join(lines)


def _decode(path: Path, data: bytes | None, report: CheckReport) -> tuple[np.ndarray, bytes] | None:
    """``(rgb, encoded bytes)`` of one image, or None (reported) when it cannot be read."""
    try:
        raw = data if data is not None else path.read_bytes()
        if not raw:
            raise DataError(f"{path}: zero-byte image file")
        return load_image_rgb(raw, name=str(path)), raw
    except FileNotFoundError:
        report.add("unreadable image", f"{report.rel(path)}: image file not found")
    except OSError as e:
        report.add("unreadable image", f"{report.rel(path)}: cannot read ({e.strerror})")
    except DataError as e:
        report.add("unreadable image", report.rel(path) + str(e).removeprefix(str(path)))
    return None


def _key(split: str, path: Path, rgb: np.ndarray, raw: bytes) -> leaks.ImageKey:
    return leaks.ImageKey(split=split, path=path.resolve(), sha256=hashlib.sha256(raw).hexdigest(),
                          phash=leaks.perceptual_hash(rgb))


def _box_notes(boxes_xyxy: np.ndarray, width: int, height: int, at: str, report: CheckReport) -> None:
    """Warnings for boxes that cross the border or are under a pixel (the readers accept both).

    Crossings under half a pixel are rounding in the label file (6 decimals of a 1000 px image), not noted.
    """
    tol = 0.5
    for b in boxes_xyxy:
        if b[0] < -tol or b[1] < -tol or b[2] > width + tol or b[3] > height + tol:
            report.add("box crosses the image border (clipped when read)", f"{at}: box {np.round(b, 2).tolist()} "
                       f"in a {width}x{height} image")
        clipped_w = min(b[2], width) - max(b[0], 0)
        clipped_h = min(b[3], height) - max(b[1], 0)
        if 0 < clipped_w < 1 or 0 < clipped_h < 1:
            report.add("box under 1 pixel wide or high", f"{at}: {clipped_w:.2f} x {clipped_h:.2f} px")


def _leaks(keys: list[leaks.ImageKey], report: CheckReport, max_bits: int) -> None:
    for path, splits in leaks.same_file_in_splits(keys):
        report.add("leak: same file in two splits", f"{report.rel(path)} is in {' and '.join(splits)}")
    for group in leaks.identical_bytes_in_splits(keys):
        report.add("leak: identical image bytes in two splits",
                   " = ".join(f"{k.split}:{report.rel(k.path)}" for k in group))
    for a, b, bits in leaks.near_duplicates_across_splits(keys, max_bits):
        report.add("leak: near-duplicate images across splits (perceptual hash)",
                   f"{a.split}:{report.rel(a.path)} ~ {b.split}:{report.rel(b.path)} ({bits} of 64 bits differ)")


def _orphan_labels(sources: dict[str, list[Path]], used: set[Path], report: CheckReport) -> None:
    """Label files in the label folders of folder splits that no listed image maps to."""
    folders = {label_path_for(p / "x.jpg").parent for paths in sources.values() for p in paths if p.is_dir()}
    for folder in sorted(folders):
        if not folder.is_dir():
            continue
        for txt in sorted(folder.rglob("*.txt")):
            if txt.name not in _NOT_LABELS and txt.resolve() not in used:
                report.add("label file without an image", report.rel(txt))


def _check_yaml_path(yaml_path: Path, root: Path, report: CheckReport) -> None:
    declared = load_yaml_mapping(yaml_path).get("path")
    if declared and root.resolve() != yaml_path.parent.resolve():
        report.add("data.yaml 'path' points away from the yaml's folder",
                   f"{yaml_path}: path {declared!r} is not the yaml's folder {yaml_path.parent} (a copied "
                   "dataset silently reads the original)")


def check_yolo(src: Path, names: list[str] | None = None, max_examples: int = 3,
               max_bits: int = leaks.DEFAULT_MAX_BITS) -> CheckReport:
    """Every problem of a YOLO dataset (``data.yaml``, a folder holding one, or ``images/`` + ``labels/``)."""
    src = Path(src)
    report = CheckReport(root=src if src.is_dir() else src.parent, fmt="yolo", max_examples=max_examples)
    notes = Warnings()
    try:
        yaml_path = yolo_yaml(src)
        root, sources, found, _ = split_sources(src, notes)
        if yaml_path is not None:
            _check_yaml_path(yaml_path, root, report)
    except DataError as e:
        report.add("dataset cannot be read", str(e))
        return report
    report.root = root
    report.names = list(names or found or [])
    if not report.names:
        report.add("dataset cannot be read", f"{src}: no class names (add classes.txt or a data.yaml, or pass "
                                             "--names)")
    n_classes = len(report.names) or 10**9
    listed = {split: [img for _, img in iter_split(paths, notes)] for split, paths in sources.items()}
    for kind, n in notes.counts.items():
        report.add(kind, notes.samples[kind][0], fatal=False, count=n)
    by_label: dict[Path, list[Path]] = {}
    keys: list[leaks.ImageKey] = []
    used_labels: set[Path] = set()
    for split, images in listed.items():
        report.images[split] = len(images)
        for img in images:
            lbl = label_path_for(img)
            by_label.setdefault(lbl, [])
            if img not in by_label[lbl]:
                by_label[lbl].append(img)
            decoded = _decode(img, None, report)
            size = None
            if decoded is not None:
                rgb, raw = decoded
                keys.append(_key(split, img, rgb, raw))
                size = (rgb.shape[1], rgb.shape[0])
            if lbl.is_file() and lbl.resolve() not in used_labels:
                _check_label_file(lbl, n_classes, size, report)  # its lines, even when the image is unreadable
            used_labels.add(lbl.resolve())
    for lbl, images in by_label.items():
        if len(images) > 1:
            report.add("images sharing one label file",
                       f"{', '.join(report.rel(i) for i in images)} -> {report.rel(lbl)}")
    _orphan_labels(sources, used_labels, report)
    _leaks(keys, report, max_bits)
    return report


def _check_label_file(lbl: Path, n_classes: int, size: tuple[int, int] | None, report: CheckReport) -> None:
    try:
        raw = lbl.read_bytes()
    except OSError as e:
        report.add(BAD_LINE, f"{report.rel(lbl)}: cannot read ({e.strerror})")
        return
    report.label_files += 1
    boxes_norm, _, problems = parse_label_bytes(raw, n_classes)
    for p in problems:
        report.add(p.kind, f"{where(report.rel(lbl), p.line)}: {p.reason}")
    report.boxes += len(boxes_norm)
    if size is not None:
        width, height = size
        _box_notes(cxcywh_norm_to_xyxy(boxes_norm, width, height), width, height, report.rel(lbl), report)


def check_records(ds: Dataset, report: CheckReport, max_bits: int = leaks.DEFAULT_MAX_BITS) -> CheckReport:
    """Decode every image of an already-read dataset, note tiny boxes, and look for leaks between splits."""
    report.names = list(ds.names)
    keys = []
    for rec in ds.images:
        report.images[rec.split] = report.images.get(rec.split, 0) + 1
        report.boxes += rec.n_boxes
        decoded = _decode(rec.path, rec.data, report)
        if decoded is not None:
            keys.append(_key(rec.split, rec.path, *decoded))
            _box_notes(rec.boxes_xyxy_px, rec.width, rec.height, report.rel(rec.path), report)
    _leaks(keys, report, max_bits)
    return report


def check_dataset(src: str | Path, fmt: str = "auto", names: list[str] | None = None, max_examples: int = 3,
                  max_bits: int = leaks.DEFAULT_MAX_BITS, **options) -> CheckReport:
    """Check ``src`` in any readable format (``fmt="auto"`` detects it); see the module docstring.

    Args:
        names: class names, as for the readers.
        max_examples: examples listed per kind.
        max_bits: perceptual-hash distance (of 64 bits) up to which two images are near-duplicates.
        options: reader options (``images_dir``, ``keep_difficult``), as for ``read_dataset``.
    """
    from blendaug.data.io import detect_format, read_dataset

    src = Path(src)
    try:
        fmt = detect_format(src) if fmt == "auto" else fmt
    except DataError as e:
        report = CheckReport(root=src, fmt=fmt, max_examples=max_examples)
        report.add("dataset cannot be read", str(e))
        return report
    if fmt == "yolo" and not options.get("images_dir"):
        return check_yolo(src, names, max_examples, max_bits)
    report = CheckReport(root=src if src.is_dir() else src.parent, fmt=fmt, max_examples=max_examples)
    warnings = Warnings(max_samples=max_examples)
    try:
        ds = read_dataset(src, fmt=fmt, names=names, skip_bad=True, warnings=warnings, **options)
    except DataError as e:
        report.add("dataset cannot be read", str(e))
        ds = None
    for kind, n in warnings.counts.items():
        report.add(kind, warnings.samples[kind][0], fatal=kind in warnings.skipped, count=n)
        report.examples[kind] = warnings.samples[kind][:max_examples]
    return check_records(ds, report, max_bits) if ds is not None else report
