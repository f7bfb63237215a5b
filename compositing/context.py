"""Where real objects stand next to each other, learned from the background dataset's own boxes: pure numpy.

Vehicles seen from above stand in rows and lanes: side by side in parking bays, nose to tail along
a lane, across an aisle. A dataset's boxes already hold that structure, so the context placement
mode learns it from them with no model and no other data:

- every real box (the *anchor*) and each of its ``NEIGHBOURS`` nearest boxes in the same image
  give one *template*: the neighbour's class and size, and its centre offset from the anchor's,
  normalised per axis by the two boxes' mean side (``u = dx / ((w_a + w_n) / 2)``, likewise ``v``
  with heights), so that ``|u| = 1`` means the two boxes touch side by side, whatever their size;
- boxes cut by the image border are left out (their sizes and centres are not the objects'), and
  so are neighbours farther than ``REACH`` mean sides (not beside the anchor any more);
- templates are stored in the anchor's *landscape* frame (transposed when the anchor is taller
  than wide): aerial scenes look alike under quarter turns, so a row of upright cars also teaches
  where to park beside a sideways one.

:func:`NeighbourModel.draw` turns a template back around a real box of the image being composited:
a new object of the class asked for, at the realistic gap and with the realistic size and
orientation (its box's aspect) of a real neighbour of that kind of anchor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Templates per anchor: its nearest boxes (a car in a row has two beside it and one or two across).
NEIGHBOURS = 4
# Farthest neighbour kept, in mean box sides (Chebyshev, on the normalised offsets): about one free bay
# or one car length of gap.
REACH = 3.0
# Boxes within this many pixels of the image border are cut by it: neither anchors nor neighbours.
BORDER_PX = 1.0


@dataclass(frozen=True)
class NeighbourModel:
    """Templates ``(anchor class, neighbour class, offset (u, v), neighbour size (w, h))``, anchor-landscape frame.

    Attributes:
        anchor_class, neighbour_class: (T,) int64.
        offset_uv: (T, 2) float64, the neighbour's centre offset in mean box sides per axis.
        size_wh: (T, 2) float64, the neighbour's box size in pixels.
    """

    anchor_class: np.ndarray
    neighbour_class: np.ndarray
    offset_uv: np.ndarray
    size_wh: np.ndarray
    _by_pair: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    _by_class: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for c in np.unique(self.neighbour_class).tolist():
            self._by_class[c] = np.flatnonzero(self.neighbour_class == c)
        for a, c in set(zip(self.anchor_class.tolist(), self.neighbour_class.tolist(), strict=True)):
            self._by_pair[(a, c)] = np.flatnonzero((self.anchor_class == a) & (self.neighbour_class == c))

    def __len__(self) -> int:
        return len(self.neighbour_class)

    def knows(self, class_id: int) -> bool:
        """Whether any real object of ``class_id`` was seen beside another."""
        return class_id in self._by_class

    def draw(self, rng: np.random.Generator, anchor_xyxy: tuple[float, float, float, float], anchor_class: int,
             class_id: int, size_jitter: float = 0.0,
             max_wh: tuple[float, float] | None = None) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """One place beside a real box for a new object of ``class_id``: ``((w, h), (cx, cy))`` in pixels.

        The template comes from anchors of the same class when there are any (a car beside a truck
        stands where cars stand beside trucks), else from any anchor. Its offset is mirrored at
        random per axis (a row runs both ways), its size jittered like
        :func:`placement.sample_box_size` (one log-normal factor, clamped to ``max_wh``).

        Returns:
            None when no real ``class_id`` object was ever seen beside another.
        """
        pool = self._by_pair.get((anchor_class, class_id))
        if pool is None:
            pool = self._by_class.get(class_id)
            if pool is None:
                return None
        t = int(pool[rng.integers(len(pool))])
        (u, v), (w, h) = self.offset_uv[t].tolist(), self.size_wh[t].tolist()
        x1, y1, x2, y2 = anchor_xyxy
        aw, ah = x2 - x1, y2 - y1
        if ah > aw:  # back from the landscape frame
            u, v, w, h = v, u, h, w
        u = u if rng.random() < 0.5 else -u
        v = v if rng.random() < 0.5 else -v
        factor = math.exp(rng.normal(0.0, size_jitter)) if size_jitter > 0 else 1.0
        if max_wh is not None:
            factor = min(factor, max_wh[0] / w, max_wh[1] / h)
        w, h = w * factor, h * factor
        centre = ((x1 + x2) / 2.0 + u * (aw + w) / 2.0, (y1 + y2) / 2.0 + v * (ah + h) / 2.0)
        return (w, h), centre


def _image_templates(boxes: np.ndarray, ids: np.ndarray, image_wh: tuple[int, int], k: int,
                     reach: float) -> tuple[np.ndarray, ...]:
    """The templates of one image: ``(anchor class (T,), class (T,), offset (T, 2), size (T, 2))``."""
    w_img, h_img = image_wh
    whole = ((boxes[:, 0] > BORDER_PX) & (boxes[:, 1] > BORDER_PX) & (boxes[:, 2] < w_img - BORDER_PX)
             & (boxes[:, 3] < h_img - BORDER_PX))
    boxes, ids = boxes[whole], ids[whole]
    if len(boxes) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros((0, 2))
    wh = boxes[:, 2:] - boxes[:, :2]  # (N, 2)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    # (N, N, 2): neighbour j's offset from anchor i in mean sides per axis.
    uv = (centre[None, :, :] - centre[:, None, :]) / ((wh[:, None, :] + wh[None, :, :]) / 2.0)
    dist = np.abs(uv).max(axis=2)
    np.fill_diagonal(dist, np.inf)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]  # (N, k) nearest first
    anchor = np.repeat(np.arange(len(boxes)), order.shape[1])
    neighbour = order.reshape(-1)
    keep = dist[anchor, neighbour] <= reach
    anchor, neighbour = anchor[keep], neighbour[keep]
    offset, size = uv[anchor, neighbour], wh[neighbour]
    portrait = wh[anchor, 1] > wh[anchor, 0]
    offset[portrait], size[portrait] = offset[portrait][:, ::-1], size[portrait][:, ::-1]
    return ids[anchor], ids[neighbour], offset, size


def learn_neighbours(boxes_xyxy_px: list[np.ndarray], class_ids: list[np.ndarray], images_wh: list[tuple[int, int]],
                     k: int = NEIGHBOURS, reach: float = REACH) -> NeighbourModel:
    """Learn the neighbour templates of a dataset (one entry per image in each list).

    Args:
        boxes_xyxy_px: (N_i, 4) real boxes of each image; class_ids: (N_i,) their classes.
        images_wh: each image's ``(width, height)``, to leave out boxes cut by its border.
        k: neighbours per anchor; reach: farthest neighbour, in mean box sides.

    Returns:
        the model (empty when no image holds two whole boxes close enough).
    """
    parts = [_image_templates(np.asarray(b, np.float64).reshape(-1, 4), np.asarray(c, np.int64).reshape(-1), wh, k,
                              reach)
             for b, c, wh in zip(boxes_xyxy_px, class_ids, images_wh, strict=True)]
    if not parts:
        return NeighbourModel(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros((0, 2)))
    anchor, neighbour, offset, size = (np.concatenate([p[i] for p in parts]) for i in range(4))
    return NeighbourModel(anchor, neighbour, offset.reshape(-1, 2), size.reshape(-1, 2))


# Ground samples per real box (on a ring just outside it), points tested inside a candidate box
# (GRID_POINTS x GRID_POINTS), and the pixel step of the image view they are read from.
RING_POINTS = 32
GRID_POINTS = 5
VIEW_STEP = 4
# Colour histogram: COLOR_BINS = 2 ** COLOR_BITS levels per RGB channel, add-one smoothed; image-wide
# samples every IMAGE_STEP view pixels.
COLOR_BITS = 3
COLOR_BINS = 2 ** COLOR_BITS
IMAGE_STEP = 2
# A candidate pixel looks like the ground real objects stand on when its colour is at least GROUND_RATIO
# as enriched around real objects as the median ring sample's; a candidate needs GROUND_SHARE of its
# points like that.
GROUND_RATIO = 0.5
GROUND_SHARE = 0.8


@dataclass(frozen=True)
class GroundModel:
    """How much more common each colour is on the ground real objects stand on than in the whole image.

    Attributes:
        ratio: (COLOR_BINS ** 3,) float, p(colour | ring around real boxes) / p(colour | image), an
            image's own back-projection (Swain and Ballard's colour indexing) with no model trained
            elsewhere; divided by its median over the ring samples, so a typical ground colour scores 1
            whether the image is all parking lot or mostly lawn.
        bins: (H / VIEW_STEP, W / VIEW_STEP) int, the colour bin of every VIEW_STEP-th pixel of the
            background as it was before any paste (the composite may be drawn into the same array).
    """

    ratio: np.ndarray
    bins: np.ndarray


def _bins(px: np.ndarray) -> np.ndarray:
    """The colour bin ``(r, g, b)`` -> ``r' * COLOR_BINS**2 + g' * COLOR_BINS + b'`` of uint8 pixels (..., 3)."""
    q = (px >> (8 - COLOR_BITS)).astype(np.uint16)
    return (q[..., 0] << (2 * COLOR_BITS)) | (q[..., 1] << COLOR_BITS) | q[..., 2]


def ground_model(image: np.ndarray, boxes_xyxy_px: np.ndarray) -> GroundModel | None:
    """Learn the ground colours from a ring of points just outside each real box of ``image`` (H, W, 3) uint8.

    Returns:
        None when the image has no box, or no ring point falls inside it.
    """
    boxes = np.asarray(boxes_xyxy_px, np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return None
    h, w = image.shape[:2]
    t = (np.arange(RING_POINTS) + 0.5) / RING_POINTS * 2 * np.pi
    gap = 2.0 + 0.15 * np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])  # (N,)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    rx, ry = (boxes[:, 2] - boxes[:, 0]) / 2 + gap, (boxes[:, 3] - boxes[:, 1]) / 2 + gap
    # Points on the rectangle around each box: the unit square's boundary at angle t, stretched.
    c, s = np.cos(t), np.sin(t)
    k = 1.0 / np.maximum(np.abs(c), np.abs(s))
    xs = np.floor(cx[:, None] + rx[:, None] * c * k).astype(np.int64).ravel()
    ys = np.floor(cy[:, None] + ry[:, None] * s * k).astype(np.int64).ravel()
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    if not inside.any():
        return None
    n_bins = COLOR_BINS ** 3
    ring_bins = _bins(image[ys[inside], xs[inside]])
    view = _bins(image[::VIEW_STEP, ::VIEW_STEP])
    ring = np.bincount(ring_bins, minlength=n_bins) + 1.0
    everywhere = np.bincount(view[IMAGE_STEP // 2::IMAGE_STEP, IMAGE_STEP // 2::IMAGE_STEP].ravel(),
                             minlength=n_bins) + 1.0
    ratio = (ring / ring.sum()) / (everywhere / everywhere.sum())
    return GroundModel(ratio / np.median(ratio[ring_bins]), view)


def looks_like_ground(model: GroundModel, box_xyxy: tuple[float, float, float, float]) -> bool:
    """Whether at least ``GROUND_SHARE`` of a grid of points inside the box have colours common around real objects."""
    h, w = model.bins.shape
    x1, y1, x2, y2 = (v / VIEW_STEP for v in box_xyxy)
    f = (np.arange(GRID_POINTS) + 0.5) / GRID_POINTS
    xs = np.clip(np.floor(x1 + (x2 - x1) * f), 0, w - 1).astype(np.int64)
    ys = np.clip(np.floor(y1 + (y2 - y1) * f), 0, h - 1).astype(np.int64)
    ratio = model.ratio[model.bins[ys[:, None], xs[None, :]]]
    return float((ratio >= GROUND_RATIO).mean()) >= GROUND_SHARE
