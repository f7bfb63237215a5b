"""YOLO label files, parsed: pure functions from bytes to boxes, with every problem named by line.

A line is ``class cx cy w h`` normalised to [0, 1]; a polygon line (``class x1 y1 x2 y2 ...``) is read as its
bounding box, as ultralytics does. A UTF-8 byte-order mark at the start of the file is accepted (Windows
editors write one); any other byte that is not UTF-8 makes that line bad.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blendaug.data.errors import DataError, Warnings, where

# Label coordinates may overshoot [0, 1] by float noise from other tools; beyond this they are wrong.
COORD_TOL = 1e-6
BOM = b"\xef\xbb\xbf"

# Kinds of bad lines (``blendaug data check`` groups by them; a reader refuses every one).
BAD_LINE = "bad label line"
DEGENERATE = "degenerate box (zero or negative width or height)"
OUTSIDE = "box outside the image (coordinates beyond [0, 1])"


@dataclass
class LineProblem:
    line: int
    kind: str
    reason: str


class _Bad(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def parse_label_bytes(raw: bytes, n_classes: int) -> tuple[np.ndarray, np.ndarray, list[LineProblem]]:
    """Parse a whole label file.

    Returns:
        ``(boxes_cxcywh_norm (N, 4), class_ids (N,), problems)``: the good lines' boxes, and one
        :class:`LineProblem` per bad line (that line is left out).
    """
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    boxes: list[list[float]] = []
    ids: list[int] = []
    problems: list[LineProblem] = []
    for line_no, line in enumerate(raw.splitlines(), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            problems.append(LineProblem(line_no, BAD_LINE, f"not UTF-8 text (byte 0x{line[e.start]:02x} at column "
                                                           f"{e.start + 1})"))
            continue
        fields = text.split()
        if not fields:
            continue
        try:
            box, cls = parse_line(fields, n_classes)
        except _Bad as e:
            problems.append(LineProblem(line_no, e.kind, str(e)))
            continue
        boxes.append(box)
        ids.append(cls)
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(ids, dtype=np.int64), problems


def parse_line(fields: list[str], n_classes: int) -> tuple[list[float], int]:
    """One line's ``([cx, cy, w, h], class_id)``; raises ``_Bad`` (a kind and a reason) for a bad line."""
    n = len(fields)
    if n != 5 and (n < 7 or n % 2 == 0):
        raise _Bad(BAD_LINE, f"expected 5 fields (class cx cy w h) or a polygon, got {n}")
    try:
        values = [float(f) for f in fields]
    except ValueError:
        bad = next(f for f in fields if not _is_float(f))
        raise _Bad(BAD_LINE, f"not a number: {bad!r}") from None
    if not all(np.isfinite(values)):
        raise _Bad(BAD_LINE, "not a finite number")
    cls_f = values[0]
    if cls_f != int(cls_f):
        raise _Bad(BAD_LINE, f"class id must be an integer, got {fields[0]!r}")
    cls = int(cls_f)
    if not 0 <= cls < n_classes:
        raise _Bad(BAD_LINE, f"unknown class id {cls} (dataset has {n_classes} classes)")
    coords = np.asarray(values[1:])
    if coords.min() < -COORD_TOL or coords.max() > 1 + COORD_TOL:
        raise _Bad(OUTSIDE, f"coordinate out of range [0, 1]: {fields[1:]}")
    coords = coords.clip(0.0, 1.0)
    if n == 5:
        cx, cy, w, h = coords
    else:
        xs, ys = coords[0::2], coords[1::2]
        cx, cy, w, h = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2, xs.max() - xs.min(), ys.max() - ys.min()
    if w <= 0 or h <= 0:
        raise _Bad(DEGENERATE, f"box width and height must be > 0, got w={w:g} h={h:g}")
    return [float(cx), float(cy), float(w), float(h)], cls


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_label_file(path: Path, n_classes: int, warnings: Warnings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse one YOLO label file into ``(boxes_cxcywh_norm (N,4), class_ids (N,))``.

    Args:
        path: the ``.txt`` file.
        n_classes: class ids must be in ``[0, n_classes)``.
        warnings: when given, a bad line is skipped and counted instead of raising.

    Raises:
        DataError: naming ``file:line`` for a wrong field count, a non-number, a coordinate out of
            range, a non-positive size, an unknown class id or bytes that are not UTF-8.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read the label file ({e.strerror})") from None
    boxes, ids, problems = parse_label_bytes(raw, n_classes)
    for p in problems:
        message = f"{where(path, p.line)}: {p.reason}"
        if warnings is None:
            raise DataError(message)
        warnings.add("bad YOLO label line skipped", message, skipped=True)
    return boxes, ids


def read_names_file(path: Path) -> list[str]:
    """Class names, one per line (``classes.txt``, ``obj.names``); a BOM is accepted."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return [ln.strip() for ln in text.splitlines() if ln.strip()]
