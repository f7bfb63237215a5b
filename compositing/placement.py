"""Where pasted objects go and how big they are: pure functions on numbers and small arrays.

Sizes come from the background dataset itself: a pasted object's label box ``(w, h)`` is drawn
jointly from the real boxes of its class (one real box, times a small log-normal jitter), so the
synthetic boxes follow the real size distribution. Orientation is then chosen so that the
*rotated* object's tight box has exactly that size (up to the mask's shape and pixel rounding):

- ``90``: a multiple of 90 degrees; the object is ``(w, h)`` or ``(h, w)`` before rotation.
- ``any``: ``90 k + phi``. When the crop tells the object's aspect (an elongated mask or letterbox),
  ``phi`` is the angle at which that object has exactly the sampled box, so a car filling a square
  box lies diagonally. Otherwise the object size ``(a, b)`` is solved from ``a cos + b sin = w``,
  ``a sin + b cos = h``, which has a positive solution only for ``|tan phi| < min(w, h) / max(w, h)``,
  so ``phi`` is drawn inside that range.
- ``none``: no rotation.

Overlap is intersection over the smaller box's area ("intersection over area"), so a small box
cannot hide under a large one even when their IoU is tiny.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
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
    if len(sizes_wh) == 0 or sizes_wh.max() <= min(max_wh):
        return sizes_wh  # the usual case, without a pass over every box
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
    if abs(det) < 1e-6:
        raise ValueError(f"object size is not unique at {angle_deg} degrees")
    a, b = (w * c - h * s) / det, (h * c - w * s) / det
    if a <= 0 or b <= 0:
        raise ValueError(f"no object of box size {box_wh} at {angle_deg} degrees")
    return a, b


def _elongated(aspect: float | None) -> bool:
    return aspect is not None and (aspect >= ELONGATED or aspect <= 1 / ELONGATED)


def _aspect_angle(box_wh: tuple[float, float], aspect: float) -> tuple[float, tuple[float, float]] | None:
    """Angle (degrees, >= 0) and size ``(a, b)`` of an object with ``a / b = aspect`` whose rotated box is ``box_wh``.

    From ``w = a cos + b sin``, ``h = a sin + b cos`` with ``a = r b``: ``tan = (h r - w) / (w r - h)``.
    None when no angle in [0, 45] degrees fits (the box is more elongated than the object).
    """
    w, h = box_wh
    r = aspect
    num, den = h * r - w, w * r - h
    if den == 0 or num / den < 0 or num / den > 1:
        return None
    theta = math.atan(num / den)
    c, s = math.cos(theta), math.sin(theta)
    b = w / (r * c + s)
    return math.degrees(theta), (r * b, b)


def orient_object(rng: np.random.Generator, rotate: str, box_wh: tuple[float, float],
                  object_aspect: float | None = None) -> tuple[float, tuple[float, float]]:
    """Draw a rotation (degrees, counter-clockwise) and the object size before it, for label box ``box_wh``.

    Args:
        rotate: ``90``, ``any`` or ``none``.
        object_aspect: width / height of the object inside its crop, when known. An elongated object
            is turned so its long side runs along the box's long side; with ``any`` its angle is the
            one at which an object of that aspect has exactly this box (a car filling a square box
            lies diagonally), with a random sign.

    Returns:
        ``(angle, (a, b))``: rotating an ``a x b`` rectangle by ``angle`` gives the box ``box_wh``.
    """
    w, h = box_wh
    if rotate == "none":
        return 0.0, (w, h)
    quarter = int(rng.integers(4))
    if _elongated(object_aspect) and _elongated(w / h):
        same_axis = (object_aspect > 1) == (w > h)
        quarter = 2 * (quarter // 2) + (0 if same_axis else 1)
    frame = (h, w) if quarter % 2 else (w, h)  # the box in the object's own (unrotated) frame
    if rotate == "90":
        return 90.0 * quarter, frame
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if _elongated(object_aspect):
        fit = _aspect_angle(frame, object_aspect)
        if fit is not None:
            return 90.0 * quarter + sign * fit[0], fit[1]
        return 90.0 * quarter, frame  # the box is longer than the object: no tilt fits, stretch it
    phi = math.degrees(float(rng.uniform(0.0, math.atan(min(w, h) / max(w, h)) * ANGLE_RANGE)))
    angle = 90.0 * quarter + sign * phi
    return angle, object_size_for_box(box_wh, angle)


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


def _overlaps(box: tuple[float, float, float, float], others: list[list[float]], max_overlap: float) -> bool:
    """Whether ``box`` has an intersection over the smaller area above ``max_overlap`` with any of ``others``.

    The same test as ``ioa(box, others).max() > max_overlap``, in plain Python: placement tries it
    for every candidate position against a handful of boxes, where numpy's per-call cost dominates.
    """
    x1, y1, x2, y2 = box
    area = (x2 - x1) * (y2 - y1)
    for ox1, oy1, ox2, oy2 in others:
        iw, ih = min(x2, ox2) - max(x1, ox1), min(y2, oy2) - max(y1, oy1)
        if iw <= 0 or ih <= 0:
            continue
        smaller = min(area, (ox2 - ox1) * (oy2 - oy1))
        if smaller > 0 and iw * ih / max(smaller, 1e-12) > max_overlap + 1e-12:
            return True
    return False


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
    bx1, by1, bw, bh = cv2.boundingRect(mask_hard.view(np.uint8))
    if bw == 0:
        return None
    bx2, by2 = bx1 + bw, by1 + bh
    w, h = image_wh
    slack_x, slack_y = int(math.floor(truncate * bw)), int(math.floor(truncate * bh))
    lo_x, hi_x = -bx1 - slack_x, w - bx2 + slack_x
    lo_y, hi_y = -by1 - slack_y, h - by2 + slack_y
    if hi_x < lo_x or hi_y < lo_y:
        return None
    full_area = bw * bh
    others = np.asarray(occupied_xyxy, dtype=np.float64).reshape(-1, 4).tolist()
    for _ in range(tries):
        # Two scalar draws: the same numbers as one draw with array bounds, at a third of the cost.
        x0, y0 = int(rng.integers(lo_x, hi_x + 1)), int(rng.integers(lo_y, hi_y + 1))
        if truncate > 0:
            box = visible_box(mask_hard, x0, y0, image_wh)
            if box is None or (box[2] - box[0]) * (box[3] - box[1]) < (1.0 - truncate) * full_area - 1e-9:
                continue
        else:
            box = (x0 + bx1, y0 + by1, x0 + bx2, y0 + by2)
        if _overlaps(box, others, max_overlap):
            continue
        return Placement(x0, y0, box)
    return None
