"""The labels of a composite: the background's boxes plus the pasted ones, minus those a paste hides.

Each paste leaves a hard mask (``mask > 0.5``) at a position in the image: ``(x0, y0, (h, w) bool)``.
A background box is covered by every paste; a pasted box only by the pastes after it. A box is
dropped when its visible fraction (box pixels not covered) falls below ``min_visible``.
"""

from __future__ import annotations

import math

import numpy as np

PasteMask = tuple[int, int, np.ndarray]  # (x0, y0, hard mask (h, w) bool) in image pixels


def _pixel_span(lo: float, hi: float) -> tuple[int, int]:
    return int(math.floor(lo)), int(math.ceil(hi))


def visible_fraction(box_xyxy_px: np.ndarray, masks: list[PasteMask], image_wh: tuple[int, int]) -> float:
    """Fraction of the box's pixels (inside the image) not covered by any of ``masks``."""
    w, h = image_wh
    x1, x2 = _pixel_span(box_xyxy_px[0], box_xyxy_px[2])
    y1, y2 = _pixel_span(box_xyxy_px[1], box_xyxy_px[3])
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 <= x1 or y2 <= y1:
        return 0.0
    cover = None
    for mx, my, m in masks:
        ix1, iy1 = max(x1, mx), max(y1, my)
        ix2, iy2 = min(x2, mx + m.shape[1]), min(y2, my + m.shape[0])
        if ix2 <= ix1 or iy2 <= iy1:
            continue
        if cover is None:
            cover = np.zeros((y2 - y1, x2 - x1), bool)
        cover[iy1 - y1:iy2 - y1, ix1 - x1:ix2 - x1] |= m[iy1 - my:iy2 - my, ix1 - mx:ix2 - mx]
    return 1.0 if cover is None else 1.0 - float(cover.sum()) / cover.size


def _touches(box: list[float], extents: list[tuple[int, int, int, int]]) -> bool:
    """Whether the box's pixel span overlaps any paste extent (a superset of "a paste covers one of its pixels")."""
    x1, x2 = _pixel_span(box[0], box[2])
    y1, y2 = _pixel_span(box[1], box[3])
    return any(ex1 < x2 and ex2 > x1 and ey1 < y2 and ey2 > y1 for ex1, ey1, ex2, ey2 in extents)


def merge_labels(
    bg_boxes_xyxy_px: np.ndarray,
    bg_class_ids: np.ndarray,
    paste_boxes_xyxy_px: np.ndarray,
    paste_class_ids: np.ndarray,
    paste_masks: list[PasteMask],
    image_wh: tuple[int, int],
    min_visible: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Combine background and pasted boxes, dropping the ones hidden below ``min_visible``.

    Args:
        bg_boxes_xyxy_px: (N, 4) background boxes; paste_boxes_xyxy_px: (M, 4) pasted boxes, in paste order.
        paste_masks: the M pastes' hard masks, in paste order.

    Returns:
        ``(boxes (K, 4), class_ids (K,), bg_kept (N,) bool, paste_kept (M,) bool)``, background
        boxes first; ``K = N + M - dropped``.
    """
    bg = np.asarray(bg_boxes_xyxy_px, np.float64).reshape(-1, 4)
    pb = np.asarray(paste_boxes_xyxy_px, np.float64).reshape(-1, 4)
    # Only a box that touches a paste's extent can lose pixels: count pixels for those alone (plain
    # Python for the cheap test: a composite has a handful of boxes, where numpy's per-call cost dominates).
    extents = [(x, y, x + m.shape[1], y + m.shape[0]) for x, y, m in paste_masks]
    bg_kept = np.array([not _touches(b, extents) or visible_fraction(b, paste_masks, image_wh) >= min_visible
                        for b in bg.tolist()], dtype=bool)
    # A pasted box is covered only by the pastes after it.
    paste_kept = np.array([not _touches(b, extents[j + 1:])
                           or visible_fraction(b, paste_masks[j + 1:], image_wh) >= min_visible
                           for j, b in enumerate(pb.tolist())], dtype=bool)
    boxes = np.concatenate([bg[bg_kept], pb[paste_kept]]).reshape(-1, 4)
    bg_ids, paste_ids = np.asarray(bg_class_ids, np.int64), np.asarray(paste_class_ids, np.int64)
    ids = np.concatenate([bg_ids[bg_kept], paste_ids[paste_kept]])
    return boxes, ids, bg_kept, paste_kept
