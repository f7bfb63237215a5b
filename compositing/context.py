"""Where real objects stand next to each other, learned from the background dataset's own boxes: pure numpy.

Vehicles seen from above stand in rows and lanes: side by side in parking bays, nose to tail along
a lane, across an aisle. A dataset's boxes already hold that structure, so the context placement
mode learns it from them with no model and no other data:

- every real box (the *anchor*) and each of its ``NEIGHBOURS`` nearest boxes in the same image
  give one *template*: the neighbour's class, its size relative to the anchor's (per axis), and its
  centre offset from the anchor's, normalised per axis by the two boxes' mean side
  (``u = dx / ((w_a + w_n) / 2)``, likewise ``v`` with heights), so that ``|u| = 1`` means the two
  boxes touch side by side; both hold whatever the image's scale (drone footage changes altitude);
- boxes cut by the image border are left out (their sizes and centres are not the objects'), and
  so are neighbours farther than ``REACH`` mean sides (not beside the anchor any more);
- templates are stored in the anchor's *landscape* frame (transposed when the anchor is taller
  than wide): aerial scenes look alike under quarter turns, so a row of upright cars also teaches
  where to park beside a sideways one.

:func:`NeighbourModel.draw` turns a template back around a real box of the image being composited:
a new object of the class asked for, at the realistic gap and with the realistic size (at this
image's scale) and orientation (its box's aspect) of a real neighbour of that kind of anchor.
:func:`ground_model` adds what the boxes cannot tell: the colour of the ground the image's real
objects stand on, so that a place beside a car at the end of its row does not land on the lawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# Templates per anchor: its nearest boxes (a car in a row has two beside it and one or two across).
NEIGHBOURS = 4
# Farthest neighbour kept, in mean box sides (Chebyshev, on the normalised offsets): about one free bay
# or one car length of gap.
REACH = 3.0
# Boxes within this many pixels of the image border are cut by it: neither anchors nor neighbours.
BORDER_PX = 1.0
# Places drawn and tested together, as arrays (most objects find one in the first batch).
PLACE_BATCH = 64


@dataclass(frozen=True)
class NeighbourModel:
    """Templates ``(anchor class, neighbour class, offset (u, v), relative size)``, anchor-landscape frame.

    Attributes:
        anchor_class, neighbour_class: (T,) int64.
        offset_uv: (T, 2) float64, the neighbour's centre offset in mean box sides per axis.
        size_rel: (T, 2) float64, the neighbour's box width and height over the anchor's.
    """

    anchor_class: np.ndarray
    neighbour_class: np.ndarray
    offset_uv: np.ndarray
    size_rel: np.ndarray
    _by_pair: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    _by_class: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    _tables: dict[int, tuple[np.ndarray, ...]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for c in np.unique(self.neighbour_class).tolist():
            self._by_class[c] = np.flatnonzero(self.neighbour_class == c)
        for a, c in set(zip(self.anchor_class.tolist(), self.neighbour_class.tolist(), strict=True)):
            self._by_pair[(a, c)] = np.flatnonzero((self.anchor_class == a) & (self.neighbour_class == c))

    def __len__(self) -> int:
        return len(self.neighbour_class)

    def _pools(self, class_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(templates, start, length)``: anchor class ``a``'s templates for ``class_id`` are
        ``templates[start[a]:start[a] + length[a]]``; the last entry (any anchor) serves unseen classes."""
        if class_id not in self._tables:
            default = self._by_class[class_id]
            n = int(max(self.anchor_class.max(), self.neighbour_class.max())) + 1
            pools = [self._by_pair.get((a, class_id), default) for a in range(n)] + [default]
            length = np.array([len(q) for q in pools], np.int64)
            self._tables[class_id] = (np.concatenate(pools), np.cumsum(length) - length, length)
        return self._tables[class_id]

    def knows(self, class_id: int) -> bool:
        """Whether any real object of ``class_id`` was seen beside another."""
        return class_id in self._by_class

    def draw(self, rng: np.random.Generator, anchors_xyxy: np.ndarray, anchor_classes: np.ndarray, class_id: int,
             n: int, size_jitter: float = 0.0,
             max_wh: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """``n`` places beside real boxes for a new object of ``class_id``: ``(sizes (n, 2), centres (n, 2))``, px.

        Each place takes a random anchor among ``anchors_xyxy`` (N, 4) and a template from anchors
        of its class when there are any (a car beside a truck stands where cars stand beside trucks),
        else from any anchor. The offset is mirrored at random per axis (a row runs both ways); the
        size is the template's relative size times the anchor's, jittered like
        :func:`placement.sample_box_size` (one log-normal factor, clamped to ``max_wh``). Drawn as
        arrays: placement tries many places per object.

        Returns:
            None when no real ``class_id`` object was ever seen beside another.
        """
        if class_id not in self._by_class:
            return None
        anchors = np.asarray(anchors_xyxy, np.float64).reshape(-1, 4)
        a = rng.integers(len(anchors), size=n)
        pick, flip = rng.random(n), rng.random((n, 2)) < 0.5
        factor = np.exp(rng.normal(0.0, size_jitter, n)) if size_jitter > 0 else np.ones(n)
        templates, start, length = self._pools(class_id)
        pool = np.minimum(np.asarray(anchor_classes, np.int64).reshape(-1)[a], len(length) - 1)
        t = templates[start[pool] + (pick * length[pool]).astype(np.int64)]
        box = anchors[a]
        awh = box[:, 2:] - box[:, :2]
        portrait = (awh[:, 1] > awh[:, 0])[:, None]  # back from the landscape frame
        uv, rel = self.offset_uv[t], self.size_rel[t]
        uv = np.where(portrait, uv[:, ::-1], uv) * np.where(flip, -1.0, 1.0)
        wh = np.where(portrait, rel[:, ::-1], rel) * awh
        if max_wh is not None:
            factor = np.minimum(factor, np.minimum(max_wh[0] / wh[:, 0], max_wh[1] / wh[:, 1]))
        wh = wh * factor[:, None]
        centres = (box[:, :2] + box[:, 2:]) / 2.0 + uv * (awh + wh) / 2.0
        return wh, centres


def whole_boxes(boxes_xyxy_px: np.ndarray, image_wh: tuple[int, int]) -> np.ndarray:
    """Which boxes (N, 4) keep ``BORDER_PX`` from every image border, (N,) bool: the others are cut by it."""
    b = np.asarray(boxes_xyxy_px, np.float64).reshape(-1, 4)
    w, h = image_wh
    return (b[:, 0] > BORDER_PX) & (b[:, 1] > BORDER_PX) & (b[:, 2] < w - BORDER_PX) & (b[:, 3] < h - BORDER_PX)


def _image_templates(boxes: np.ndarray, ids: np.ndarray, image_wh: tuple[int, int], k: int,
                     reach: float) -> tuple[np.ndarray, ...]:
    """The templates of one image: ``(anchor class (T,), class (T,), offset (T, 2), relative size (T, 2))``."""
    whole = whole_boxes(boxes, image_wh)
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
    offset, size = uv[anchor, neighbour], wh[neighbour] / wh[anchor]
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


# The ground around a real box: a ring RING x its shorter side (plus 2 px) wide; read, like candidate
# boxes, on every VIEW_STEP-th pixel.
RING = 0.15
VIEW_STEP = 4
# Colour histogram: COLOR_BINS = 2 ** COLOR_BITS levels per RGB channel, add-one smoothed; image-wide
# samples every IMAGE_STEP view pixels.
COLOR_BITS = 3
COLOR_BINS = 2 ** COLOR_BITS
IMAGE_STEP = 2
# A view pixel looks like the ground real objects stand on when its colour is at least GROUND_RATIO as
# enriched around real objects as the median ring sample's; a candidate box needs GROUND_SHARE of its
# view pixels like that.
GROUND_RATIO = 0.5
GROUND_SHARE = 0.8


@dataclass(frozen=True)
class GroundModel:
    """Where an image looks like the ground its real objects stand on.

    Attributes:
        ratio: (COLOR_BINS ** 3,) float, p(colour | ring around real boxes) / p(colour | image), an
            image's own back-projection (Swain and Ballard's colour indexing) with no model trained
            elsewhere; divided by its median over the ring samples, so a typical ground colour scores 1
            whether the image is all parking lot or mostly lawn.
        table: (H / VIEW_STEP + 1, W / VIEW_STEP + 1) int, the summed-area table of the ground-like
            pixels of every VIEW_STEP-th pixel of the background as it was before any paste (the
            composite may be drawn into the same array), for a constant-time share per box.
    """

    ratio: np.ndarray
    table: np.ndarray


_BIN_WEIGHTS = np.array([[COLOR_BINS ** 2, COLOR_BINS, 1]], np.float64)


def _view_bins(image: np.ndarray) -> np.ndarray | None:
    """The colour bin ``r' * COLOR_BINS**2 + g' * COLOR_BINS + b'`` of every VIEW_STEP-th pixel, (h, w) uint16.

    Only whole VIEW_STEP cells count (the last few rows and columns may be left out). Nearest-neighbour
    resizing by a whole factor reads exactly ``image[::VIEW_STEP, ::VIEW_STEP]``, in C.
    """
    h, w = (image.shape[0] // VIEW_STEP), (image.shape[1] // VIEW_STEP)
    if h == 0 or w == 0:
        return None
    small = cv2.resize(image[:h * VIEW_STEP, :w * VIEW_STEP], (w, h), interpolation=cv2.INTER_NEAREST)
    levels = (small >> (8 - COLOR_BITS)).astype(np.float32)
    return cv2.transform(levels, _BIN_WEIGHTS).astype(np.uint16)


def ground_model(image: np.ndarray, boxes_xyxy_px: np.ndarray) -> GroundModel | None:
    """Learn the ground colours from the ring just outside each real box of ``image`` (H, W, 3) uint8.

    The ring is ``2 + RING * (shorter side)`` px wide; it and the colours are read on the image's
    ``VIEW_STEP`` grid, with the pixels of every real box left out.

    Returns:
        None when the image has no box, or no ring pixel falls inside it.
    """
    boxes = np.asarray(boxes_xyxy_px, np.float64).reshape(-1, 4)
    view = _view_bins(image)
    if len(boxes) == 0 or view is None:
        return None
    vh, vw = view.shape
    gap = 2.0 + RING * np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    outer = np.stack([boxes[:, 0] - gap, boxes[:, 1] - gap, boxes[:, 2] + gap, boxes[:, 3] + gap], axis=1)
    ring = np.zeros((vh, vw), bool)
    for b, value in ((outer, True), (boxes, False)):  # every ring, then every box cleared
        cells = np.ceil(b / VIEW_STEP).astype(np.int64)
        cells[:, 0::2], cells[:, 1::2] = cells[:, 0::2].clip(0, vw), cells[:, 1::2].clip(0, vh)
        for c1, r1, c2, r2 in cells.tolist():
            ring[r1:r2, c1:c2] = value
    ring_bins = view[ring]
    if len(ring_bins) == 0:
        return None
    n_bins = COLOR_BINS ** 3
    around = np.bincount(ring_bins, minlength=n_bins) + 1.0
    everywhere = np.bincount(view[IMAGE_STEP // 2::IMAGE_STEP, IMAGE_STEP // 2::IMAGE_STEP].ravel(),
                             minlength=n_bins) + 1.0
    ratio = (around / around.sum()) / (everywhere / everywhere.sum())
    ratio /= np.median(ratio[ring_bins])
    like = (ratio >= GROUND_RATIO).astype(np.uint8)[view]
    return GroundModel(ratio, cv2.integral(like))


def ground_share(model: GroundModel, boxes_xyxy: np.ndarray) -> np.ndarray:
    """The share of the view pixels in each box (N, 4) that look like ground, (N,) float; 0 for a box outside."""
    table = model.table
    h, w = table.shape[0] - 1, table.shape[1] - 1
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    # View pixel i samples image pixel i * VIEW_STEP: a box holds the samples from ceil(x1 / step) on.
    c1 = np.clip(np.ceil(boxes[:, 0] / VIEW_STEP), 0, w).astype(np.int64)
    r1 = np.clip(np.ceil(boxes[:, 1] / VIEW_STEP), 0, h).astype(np.int64)
    c2 = np.clip(np.ceil(boxes[:, 2] / VIEW_STEP), 0, w).astype(np.int64)
    r2 = np.clip(np.ceil(boxes[:, 3] / VIEW_STEP), 0, h).astype(np.int64)
    area = (c2 - c1).clip(0) * (r2 - r1).clip(0)
    inside = table[r2, c2] - table[r1, c2] - table[r2, c1] + table[r1, c1]
    return np.where(area > 0, inside / np.maximum(area, 1), 0.0)


def looks_like_ground(model: GroundModel, box_xyxy: tuple[float, float, float, float]) -> bool:
    """Whether at least ``GROUND_SHARE`` of the view pixels in the box look like ground."""
    return bool(ground_share(model, np.asarray([box_xyxy]))[0] >= GROUND_SHARE)


def boxes_fit(boxes_xyxy: np.ndarray, image_wh: tuple[int, int], occupied_xyxy: np.ndarray, max_overlap: float,
              truncate: float = 0.0) -> np.ndarray:
    """Which nominal boxes (N, 4) keep ``1 - truncate`` of their area inside the image and clear of ``occupied_xyxy``.

    A cheap test, on arrays, of the boxes a placement aims at before any object is rendered.

    Returns:
        (N,) bool.
    """
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    others = np.asarray(occupied_xyxy, np.float64).reshape(-1, 4)
    w, h = image_wh
    iw = np.minimum(boxes[:, 2], w) - np.maximum(boxes[:, 0], 0.0)
    ih = np.minimum(boxes[:, 3], h) - np.maximum(boxes[:, 1], 0.0)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    ok = (iw > 0) & (ih > 0) & (iw.clip(0) * ih.clip(0) >= (1.0 - truncate) * area - 1e-9)
    if len(others) and ok.any():
        # (N, M) intersection over the smaller area, as _overlaps computes it.
        ix = np.minimum(boxes[:, None, 2], others[None, :, 2]) - np.maximum(boxes[:, None, 0], others[None, :, 0])
        iy = np.minimum(boxes[:, None, 3], others[None, :, 3]) - np.maximum(boxes[:, None, 1], others[None, :, 1])
        other_area = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
        smaller = np.minimum(area[:, None], other_area[None, :])
        ioa_nm = np.where((ix > 0) & (iy > 0) & (smaller > 0), ix.clip(0) * iy.clip(0) / np.maximum(smaller, 1e-12), 0)
        ok &= ~(ioa_nm > max_overlap + 1e-12).any(axis=1)
    return ok


def _place(wh: np.ndarray, centres: np.ndarray, i: int) -> tuple[tuple[float, float], tuple[float, float]]:
    return (float(wh[i, 0]), float(wh[i, 1])), (float(centres[i, 0]), float(centres[i, 1]))


def find_place(rng: np.random.Generator, model: NeighbourModel, ground: GroundModel | None, anchors_xyxy: np.ndarray,
               anchor_classes: np.ndarray, class_id: int, occupied_xyxy, image_wh: tuple[int, int],
               max_overlap: float, truncate: float, size_jitter: float, max_wh: tuple[float, float] | None,
               tries: int) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """A free place beside one of the real ``anchors_xyxy`` for a new ``class_id`` object: ``((w, h), (cx, cy))``.

    Anchors cut by the image border are left out (their boxes are not the objects'). Draws up to
    ``tries`` places (:meth:`NeighbourModel.draw`), ``PLACE_BATCH`` at a time, and returns the first
    whose box keeps ``1 - truncate`` of itself in the image, overlaps no ``occupied_xyxy`` box by more
    than ``max_overlap`` (intersection over the smaller area) and, with a ``ground`` model, stands on
    ground coloured like the real objects'. When no free place passes the
    ground test, the first free one is taken: beside a real object still beats anywhere.

    Returns:
        None when the model never saw ``class_id`` beside another object, every anchor is cut by the
        border, or no drawn place was free.
    """
    whole = whole_boxes(anchors_xyxy, image_wh)
    if not whole.any():
        return None
    anchors, classes = np.asarray(anchors_xyxy, np.float64).reshape(-1, 4)[whole], np.asarray(anchor_classes)[whole]
    free = None
    for start in range(0, tries, PLACE_BATCH):
        drawn = model.draw(rng, anchors, classes, class_id, min(PLACE_BATCH, tries - start), size_jitter, max_wh)
        if drawn is None:
            return None
        wh, centres = drawn
        boxes = np.concatenate([centres - wh / 2.0, centres + wh / 2.0], axis=1)
        fit = boxes_fit(boxes, image_wh, occupied_xyxy, max_overlap, truncate)
        good = fit if ground is None else fit & (ground_share(ground, boxes) >= GROUND_SHARE)
        if good.any():
            return _place(wh, centres, int(np.argmax(good)))
        if free is None and fit.any():
            free = _place(wh, centres, int(np.argmax(fit)))
    return free
