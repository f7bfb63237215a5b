"""Where pasted objects go and how big they are: pure functions on numbers and small arrays.

Sizes come from the background dataset itself: a pasted object's label box ``(w, h)`` is drawn
jointly from the real boxes of its class (one real box, times a small log-normal jitter), so the
synthetic boxes follow the real size distribution. Orientation is then chosen so that the
*rotated* object's tight box has exactly that size (up to the mask's shape and pixel rounding):

- ``90``: a multiple of 90 degrees; the object is ``(w, h)`` or ``(h, w)`` before rotation.
- ``any``: ``90 k + phi``; the object size ``(a, b)`` is solved from ``a cos + b sin = w``,
  ``a sin + b cos = h``, which has a positive solution only for ``|tan phi| < min(w, h) / max(w, h)``,
  so ``phi`` is drawn inside that range.
- ``none``: no rotation.

Overlap is intersection over the smaller box's area ("intersection over area"), so a small box
cannot hide under a large one even when their IoU is tiny.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ROTATIONS = ("90", "any", "none")
# Objects whose long side is this much longer than the short side keep their long axis along
# the sampled box's long axis (fewer stretched crops); squarer ones get a random quarter turn.
ELONGATED = 1.2
# Fraction of the feasible angle range used for free rotation: at the limit one side is 0 px.
ANGLE_RANGE = 0.8


def parse_range(text: str) -> tuple[int, int]:
    """``"1-4"`` -> ``(1, 4)``; ``"3"`` -> ``(3, 3)``.

    Raises:
        ValueError: not ``lo-hi`` with ``0 <= lo <= hi``.
    """
    parts = str(text).strip().split("-")
    try:
        lo, hi = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None or hi is None or lo < 0 or hi < lo:
        raise ValueError(f"expected a range 'lo-hi' with 0 <= lo <= hi, got {text!r}")
    return lo, hi


def box_sizes_by_class(boxes_xyxy_px: list[np.ndarray], class_ids: list[np.ndarray],
                       n_classes: int) -> list[np.ndarray]:
    """Collect the real ``(w, h)`` box sizes per class: ``[(N_c, 2) float64 for each class]``."""
    boxes = np.concatenate([b.reshape(-1, 4) for b in boxes_xyxy_px]) if boxes_xyxy_px else np.zeros((0, 4))
    ids = np.concatenate([c.reshape(-1) for c in class_ids]) if class_ids else np.zeros((0,), dtype=np.int64)
    wh = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    keep = (wh > 0).all(axis=1)
    return [wh[keep & (ids == c)] for c in range(n_classes)]


def sizes_that_fit(sizes_wh: np.ndarray, max_wh: tuple[float, float]) -> np.ndarray:
    """The real sizes ``(N, 2)`` with ``w <= max_w`` and ``h <= max_h`` (for backgrounds smaller than some boxes)."""
    return sizes_wh[(sizes_wh[:, 0] <= max_wh[0]) & (sizes_wh[:, 1] <= max_wh[1])]


def sample_box_size(rng: np.random.Generator, sizes_wh: np.ndarray, jitter: float = 0.0,
                    max_wh: tuple[float, float] | None = None) -> tuple[float, float] | None:
    """Draw one label-box size ``(w, h)`` jointly from real sizes ``(N, 2)``.

    Args:
        sizes_wh: the real sizes to draw from; pass them through :func:`sizes_that_fit` first when
            the image is smaller than some of them.
        jitter: standard deviation of a log-normal factor applied to both sides (same factor,
            so the aspect ratio is the real box's).
        max_wh: the jittered size is clamped to fit this.

    Returns:
        ``(w, h)`` in pixels, or None when ``sizes_wh`` is empty.
    """
    if len(sizes_wh) == 0:
        return None
    w, h = sizes_wh[rng.integers(len(sizes_wh))]
    factor = float(np.exp(rng.normal(0.0, jitter))) if jitter > 0 else 1.0
    if max_wh is not None:
        factor = min(factor, max_wh[0] / w, max_wh[1] / h)
    return float(w * factor), float(h * factor)


def object_size_for_box(box_wh: tuple[float, float], angle_deg: float) -> tuple[float, float]:
    """Object size ``(a, b)`` before rotation whose rotated rectangle has tight box ``box_wh``.

    ``angle_deg`` must be ``90 k + phi`` with ``|tan phi| < min(w, h) / max(w, h)``.
    """
    w, h = box_wh
    k = int(round(angle_deg / 90.0))
    phi = math.radians(angle_deg - 90.0 * k)
    if k % 2:
        w, h = h, w
    c, s = math.cos(abs(phi)), math.sin(abs(phi))
    if s < 1e-12:
        return w, h
    det = c * c - s * s
    a, b = (w * c - h * s) / det, (h * c - w * s) / det
    if a <= 0 or b <= 0:
        raise ValueError(f"no object of box size {box_wh} at {angle_deg} degrees")
    return a, b


def sample_angle(rng: np.random.Generator, rotate: str, box_wh: tuple[float, float],
                 object_aspect: float | None = None) -> float:
    """Draw a rotation in degrees (counter-clockwise) for an object whose label box is ``box_wh``.

    Args:
        rotate: ``90``, ``any`` or ``none``.
        object_aspect: width / height of the object inside its crop, when known; an elongated
            object is turned so its long side runs along the box's long side.
    """
    if rotate == "none":
        return 0.0
    w, h = box_wh
    quarter = int(rng.integers(4))
    if object_aspect is not None and (object_aspect >= ELONGATED or object_aspect <= 1 / ELONGATED):
        box_aspect = w / h
        if box_aspect >= ELONGATED or box_aspect <= 1 / ELONGATED:
            same_axis = (object_aspect > 1) == (box_aspect > 1)
            quarter = 2 * (quarter // 2) + (0 if same_axis else 1)
    if rotate == "90":
        return 90.0 * quarter
    phi_max = math.atan(min(w, h) / max(w, h)) * ANGLE_RANGE
    return 90.0 * quarter + math.degrees(float(rng.uniform(-phi_max, phi_max)))


def ioa(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over the smaller area between ``box`` (4,) and each of ``others`` (N, 4)."""
    others = np.asarray(others, dtype=np.float64).reshape(-1, 4)
    iw = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    ih = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    inter = iw.clip(0) * ih.clip(0)
    area_box = (box[2] - box[0]) * (box[3] - box[1])
    area_other = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    smaller = np.minimum(area_box, area_other)
    return np.where(smaller > 0, inter / np.maximum(smaller, 1e-12), 0.0)


@dataclass(frozen=True)
class Placement:
    """Where an object canvas goes: its top-left corner and the label box it yields (in-image)."""

    x0: int
    y0: int
    box_xyxy_px: tuple[int, int, int, int]


def visible_box(mask_hard: np.ndarray, x0: int, y0: int, image_wh: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Tight box (pixel edges) of the mask pixels that land inside the image, or None if none do."""
    w, h = image_wh
    ch, cw = mask_hard.shape
    cx1, cy1 = max(0, -x0), max(0, -y0)
    cx2, cy2 = min(cw, w - x0), min(ch, h - y0)
    if cx2 <= cx1 or cy2 <= cy1:
        return None
    part = mask_hard[cy1:cy2, cx1:cx2]
    cols, rows = np.flatnonzero(part.any(axis=0)), np.flatnonzero(part.any(axis=1))
    if len(cols) == 0:
        return None
    left, top = x0 + cx1, y0 + cy1
    return left + int(cols[0]), top + int(rows[0]), left + int(cols[-1]) + 1, top + int(rows[-1]) + 1


def place_object(
    rng: np.random.Generator,
    mask_hard: np.ndarray,
    image_wh: tuple[int, int],
    occupied_xyxy: np.ndarray,
    max_overlap: float,
    truncate: float = 0.0,
    tries: int = 20,
) -> Placement | None:
    """Find a position for an object canvas whose hard mask is ``mask_hard`` (H, W) bool.

    The label box is the tight box of the mask pixels inside the image. A position is valid when
    that box keeps at least ``1 - truncate`` of the full mask box's area, and its intersection
    over the smaller area with every ``occupied_xyxy`` (N, 4) box is at most ``max_overlap``.

    Returns:
        the placement, or None after ``tries`` failed positions.
    """
    rows, cols = np.flatnonzero(mask_hard.any(axis=1)), np.flatnonzero(mask_hard.any(axis=0))
    if len(rows) == 0:
        return None
    bx1, by1, bx2, by2 = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    bw, bh = bx2 - bx1, by2 - by1
    w, h = image_wh
    slack_x, slack_y = int(math.floor(truncate * bw)), int(math.floor(truncate * bh))
    lo_x, hi_x = -bx1 - slack_x, w - bx2 + slack_x
    lo_y, hi_y = -by1 - slack_y, h - by2 + slack_y
    if hi_x < lo_x or hi_y < lo_y:
        return None
    full_area = bw * bh
    for _ in range(tries):
        x0, y0 = int(rng.integers(lo_x, hi_x + 1)), int(rng.integers(lo_y, hi_y + 1))
        if truncate > 0:
            box = visible_box(mask_hard, x0, y0, image_wh)
            if box is None or (box[2] - box[0]) * (box[3] - box[1]) < (1.0 - truncate) * full_area - 1e-9:
                continue
        else:
            box = (x0 + bx1, y0 + by1, x0 + bx2, y0 + by2)
        if len(occupied_xyxy) and ioa(np.asarray(box, dtype=np.float64), occupied_xyxy).max() > max_overlap + 1e-12:
            continue
        return Placement(x0, y0, box)
    return None
