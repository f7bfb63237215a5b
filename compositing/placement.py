"""Where pasted objects go and how big they are: pure functions on numbers and small arrays.

Sizes come from the background dataset itself: a pasted object's label box ``(w, h)`` is drawn
jointly from the real boxes of its class (one real box, times a small log-normal jitter), so the
synthetic boxes follow the real size distribution (orientation then fits the object to that box,
see :mod:`compositing.orientation`).

Placement modes are a registry, ``PLACEMENTS``: each proposes a box size and, optionally, the
centre it should have; the composer renders the object at that size and positions it.

- ``uniform``: a real size of the class, anywhere in the image that breaks no rule.
- ``context``: beside a real object of the same image, at the gap, size and orientation real
  objects of that class have beside such an object elsewhere in the dataset (see
  :mod:`compositing.context`). An image without real boxes, or one where no such place is free,
  falls back to ``uniform`` with a counted warning.

Overlap is intersection over the smaller box's area ("intersection over area"), so a small box
cannot hide under a large one even when their IoU is tiny.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from blendaug.compositing.context import GroundModel, NeighbourModel, find_place
from blendaug.data.errors import did_you_mean


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


def place_at(
    mask_hard: np.ndarray,
    centre_xy: tuple[float, float],
    image_wh: tuple[int, int],
    occupied_xyxy: np.ndarray,
    max_overlap: float,
    truncate: float = 0.0,
) -> Placement | None:
    """Put an object canvas whose hard mask is ``mask_hard`` (H, W) bool with its mask box centred on ``centre_xy``.

    The same rules as :func:`place_object` (visible fraction, overlap with ``occupied_xyxy``), at one
    position instead of random ones.

    Returns:
        the placement, or None when that position breaks a rule.
    """
    bx1, by1, bw, bh = cv2.boundingRect(mask_hard.view(np.uint8))
    if bw == 0:
        return None
    w, h = image_wh
    x0 = int(math.floor(centre_xy[0] - bw / 2.0 + 0.5)) - bx1
    y0 = int(math.floor(centre_xy[1] - bh / 2.0 + 0.5)) - by1
    box = (x0 + bx1, y0 + by1, x0 + bx1 + bw, y0 + by1 + bh)
    if box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h:
        if truncate <= 0:
            return None
        seen = visible_box(mask_hard, x0, y0, image_wh)
        if seen is None or (seen[2] - seen[0]) * (seen[3] - seen[1]) < (1.0 - truncate) * bw * bh - 1e-9:
            return None
        box = seen
    others = np.asarray(occupied_xyxy, dtype=np.float64).reshape(-1, 4).tolist()
    if _overlaps(box, others, max_overlap):
        return None
    return Placement(x0, y0, box)


@dataclass
class Scene:
    """What a placement mode may look at in one background: its size, real boxes and the dataset's statistics.

    Attributes:
        sizes_by_class: real ``(w, h)`` sizes ``(N_c, 2)`` per class id, from the background dataset.
        neighbours: the dataset's neighbour templates (the ``context`` mode's knowledge), or None.
        max_overlap, truncate, size_jitter: the composite's rules (see ``CompositeConfig``).
    """

    image_wh: tuple[int, int]
    boxes_xyxy_px: np.ndarray
    class_ids: np.ndarray
    sizes_by_class: list[np.ndarray]
    neighbours: NeighbourModel | None = None
    max_overlap: float = 0.1
    truncate: float = 0.0
    size_jitter: float = 0.0
    ground: GroundModel | None = None  # the colours of the ground the real objects stand on
    _fitting: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def max_wh(self) -> tuple[float, float]:
        """The largest box an object may have: the image, plus what may stick out of it."""
        return self.image_wh[0] * (1.0 + self.truncate), self.image_wh[1] * (1.0 + self.truncate)

    def sizes(self, class_id: int) -> np.ndarray:
        """The real sizes of ``class_id`` that fit this image (computed once per class)."""
        if class_id not in self._fitting:
            self._fitting[class_id] = sizes_that_fit(self.sizes_by_class[class_id], self.max_wh)
        return self._fitting[class_id]


@dataclass(frozen=True)
class Proposal:
    """A label-box size to render an object at and, when the mode chooses it, the centre its box should have."""

    box_wh: tuple[float, float]
    centre_xy: tuple[float, float] | None = None


def propose_uniform(rng: np.random.Generator, scene: Scene, class_id: int, occupied_xyxy: list[list[float]],
                    tries: int) -> Proposal | None:
    """A real size of the class (no centre: the object goes anywhere that breaks no rule)."""
    box_wh = sample_box_size(rng, scene.sizes(class_id), scene.size_jitter, scene.max_wh)
    return None if box_wh is None else Proposal(box_wh)


def propose_context(rng: np.random.Generator, scene: Scene, class_id: int, occupied_xyxy: list[list[float]],
                    tries: int) -> Proposal | None:
    """A place beside a real box of the scene, from the dataset's neighbour templates (:func:`context.find_place`).

    Returns:
        None when the scene has no real box or neighbour model, the dataset never showed ``class_id``
        beside another object, or no drawn place was free.
    """
    if scene.neighbours is None or len(scene.boxes_xyxy_px) == 0:
        return None
    found = find_place(rng, scene.neighbours, scene.ground, scene.boxes_xyxy_px, scene.class_ids, class_id,
                       occupied_xyxy, scene.image_wh, scene.max_overlap, scene.truncate, scene.size_jitter,
                       scene.max_wh, tries)
    return None if found is None else Proposal(*found)


ProposeFn = Callable[[np.random.Generator, Scene, int, list[list[float]], int], Proposal | None]


@dataclass(frozen=True)
class PlacementMode:
    """A placement mode: its proposer, and the mode to use where it cannot place (None: skip the object)."""

    propose: ProposeFn
    fallback: str | None = None
    needs_boxes: bool = False  # it places relative to the image's real boxes
    description: str = ""


PLACEMENTS: dict[str, PlacementMode] = {
    "uniform": PlacementMode(propose_uniform, description="a real size of the class, anywhere free"),
    "context": PlacementMode(propose_context, fallback="uniform", needs_boxes=True,
                             description="beside a real object, at the gap, size and orientation real objects have"),
}


def get_placement(name: str) -> PlacementMode:
    """The placement mode ``name``.

    Raises:
        ValueError: an unknown name, with the closest known one.
    """
    if name not in PLACEMENTS:
        raise ValueError(f"placement: unknown mode {name!r} ({did_you_mean(name, PLACEMENTS)})")
    return PLACEMENTS[name]
