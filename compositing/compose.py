"""Compose one image: place, scale, rotate, mask and blend crops into a background; pure, in memory.

Everything random comes from the ``rng`` passed in, drawn in a fixed order, so a composite depends
only on (background, crops, config, rng seed), never on which worker made it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from blendaug.compositing.blend import BLEND_MODES, MODIFIERS, parse_blend
from blendaug.compositing.context import NeighbourModel, ground_model, learn_neighbours
from blendaug.compositing.crops import CropPool, LoadedCrop
from blendaug.compositing.labels import PasteMask, merge_labels
from blendaug.compositing.masks import object_region
from blendaug.compositing.orientation import ROTATIONS, object_size_for_box, orient_object
from blendaug.compositing.placement import (
    PLACEMENTS,
    Placement,
    PlacementMode,
    Scene,
    get_placement,
    place_at,
    place_object,
)
from blendaug.data.errors import Warnings

QUARTER_TURNS = (None, cv2.ROTATE_90_COUNTERCLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_CLOCKWISE)
# Renders per object to correct the mask's box towards the sampled size (see render_object).
RENDER_ITERATIONS = 3


@dataclass(frozen=True)
class CompositeConfig:
    """How objects are pasted (one per stage, composed into the study config)."""

    per_image: tuple[int, int] = (1, 4)  # (lo, hi) objects pasted per composite, inclusive
    blend: str = "gaussian"  # blend mode, 'all', plus modifiers: 'gaussian+color+noise'
    mask: str = "rect"  # object mask: rect, ellipse, grabcut or alpha
    rotate: str = "90"  # orientation: '90' (quarter turns), 'any' angle, or 'none'
    placement: str = "context"  # where objects go: 'context' (beside real objects, as they stand) or 'uniform'
    max_overlap: float = 0.1  # max intersection over the smaller box's area with any other box
    min_visible: float = 0.5  # drop a box when less than this fraction of it stays visible
    truncate: float = 0.0  # max fraction of a pasted box that may fall outside the image
    size_jitter: float = 0.05  # log-normal jitter on sampled box sizes (sd of the log factor)
    tries: int = 30  # positions tried per sampled size
    size_tries: int = 5  # sizes (and angles) tried per object before giving up

    def check(self) -> None:
        """Raise ValueError naming the first bad field."""
        parse_blend(self.blend)
        get_placement(self.placement)
        lo, hi = self.per_image
        if not 0 <= lo <= hi:
            raise ValueError(f"per_image: expected 0 <= lo <= hi, got {self.per_image}")
        if self.rotate not in ROTATIONS:
            raise ValueError(f"rotate: expected one of {', '.join(ROTATIONS)}, got {self.rotate!r}")
        for name in ("max_overlap", "min_visible", "truncate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: expected a fraction in [0, 1], got {getattr(self, name)}")
        if self.truncate >= 1.0:
            raise ValueError("truncate: must be below 1 (an object must stay partly visible)")


@dataclass
class Paste:
    """One pasted object, for ``meta.jsonl``."""

    crop_index: int
    class_id: int
    box_xyxy_px: tuple[int, int, int, int]
    blend: str
    angle: float
    kept: bool = True
    placement: str = "uniform"  # the mode that placed it (a fallback names itself)


@dataclass
class Composite:
    """A composited image (H, W, 3) uint8 with its labels (background boxes first)."""

    image: np.ndarray
    boxes_xyxy_px: np.ndarray
    class_ids: np.ndarray
    pastes: list[Paste] = field(default_factory=list)
    dropped: int = 0


def _render(crop: LoadedCrop, object_ab: tuple[float, float], angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale the crop so its object region is ``a x b`` pixels, then rotate it by ``angle`` on a canvas that fits."""
    a, b = object_ab
    x1, y1, x2, y2 = crop.region
    sx, sy = a / (x2 - x1), b / (y2 - y1)
    h, w = crop.rgb.shape[:2]
    size = (max(1, int(round(w * sx))), max(1, int(round(h * sy))))
    interp = cv2.INTER_AREA if sx < 1 and sy < 1 else cv2.INTER_LINEAR
    rgb = cv2.resize(crop.rgb, size, interpolation=interp)
    mask = cv2.resize(crop.mask, size, interpolation=interp)
    quarters = int(round(angle / 90.0))
    if abs(angle - 90.0 * quarters) < 1e-9:
        # Quarter turns are exact: no interpolation. Counter-clockwise, as np.rot90 and getRotationMatrix2D.
        turn = QUARTER_TURNS[quarters % 4]
        return (rgb, mask) if turn is None else (cv2.rotate(rgb, turn), cv2.rotate(mask, turn))
    h, w = mask.shape
    c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    nw, nh = int(math.ceil(w * c + h * s)) + 2, int(math.ceil(w * s + h * c)) + 2
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
    m[0, 2] += (nw - 1) / 2.0 - (w - 1) / 2.0
    m[1, 2] += (nh - 1) / 2.0 - (h - 1) / 2.0
    rgb = cv2.warpAffine(rgb, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(mask, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return rgb, mask


def render_object(crop: LoadedCrop, object_ab: tuple[float, float], angle: float, box_wh: tuple[float, float],
                  iterations: int = RENDER_ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """Render the crop as an ``a x b`` object rotated by ``angle``, aiming at the label box ``box_wh``.

    At a quarter turn the mask's box is the object size (up to pixel rounding). At a free angle the
    rotated rectangle has the box ``box_wh``, but a rounded or elliptic mask and interpolation make
    it smaller: the object is resized by the measured shortfall and rendered again, a fixed number
    of times, keeping the closest; so pasted sizes follow the real ones.

    Returns:
        ``(rgb (h, w, 3) uint8, mask (h, w) float32)``: the object canvas.
    """
    if abs(angle - 90.0 * round(angle / 90.0)) < 1e-9:
        return _render(crop, object_ab, angle)
    a, b = object_ab
    target = box_wh
    best, best_err = None, math.inf
    for _ in range(iterations):
        rgb, mask = _render(crop, (a, b), angle)
        region = object_region(mask)
        if region is None:
            break
        bw, bh = region[2] - region[0], region[3] - region[1]
        err = max(abs(bw - box_wh[0]), abs(bh - box_wh[1]))
        if err < best_err:
            best, best_err = (rgb, mask), err
        if err <= 0.5:
            break
        target = (target[0] * box_wh[0] / bw, target[1] * box_wh[1] / bh)
        try:
            # Aim the rectangle's box past the shortfall, side by side (best for ellipses and rounded corners).
            a, b = object_size_for_box(target, angle)
        except ValueError:
            # Near 45 degrees the sides are not unique: scale the object evenly instead.
            f = math.sqrt(box_wh[0] * box_wh[1] / (bw * bh))
            a, b = a * f, b * f
    return best if best is not None else _render(crop, object_ab, angle)


def paste_object(image: np.ndarray, canvas_rgb: np.ndarray, canvas_mask: np.ndarray, at: Placement, mode: str,
                 modifiers: list[str], rng: np.random.Generator) -> PasteMask:
    """Blend the canvas into ``image`` in place at ``at``, on a local ROI.

    Returns:
        the pasted hard mask (``mask > 0.5``) and where it lies, for the occlusion of other boxes.
    """
    ih, iw = image.shape[:2]
    ch, cw = canvas_mask.shape
    margin = 4 + int(0.1 * max(ch, cw))
    rx1, ry1 = max(0, at.x0 - margin), max(0, at.y0 - margin)
    rx2, ry2 = min(iw, at.x0 + cw + margin), min(ih, at.y0 + ch + margin)
    # The canvas part inside the ROI, in canvas and ROI coordinates.
    cx1, cy1 = max(0, rx1 - at.x0), max(0, ry1 - at.y0)
    cx2, cy2 = min(cw, rx2 - at.x0), min(ch, ry2 - at.y0)
    ox, oy = at.x0 + cx1 - rx1, at.y0 + cy1 - ry1
    dst = image[ry1:ry2, rx1:rx2]
    obj = dst.copy()  # outside the canvas the "object" is the background itself: blurred alpha changes nothing
    obj[oy:oy + cy2 - cy1, ox:ox + cx2 - cx1] = canvas_rgb[cy1:cy2, cx1:cx2]
    mask = np.zeros(dst.shape[:2], np.float32)
    mask[oy:oy + cy2 - cy1, ox:ox + cx2 - cx1] = canvas_mask[cy1:cy2, cx1:cx2]
    for name in modifiers:
        obj = MODIFIERS[name](obj, mask, dst, rng)
    image[ry1:ry2, rx1:rx2] = BLEND_MODES[mode](dst, obj, mask, rng)
    return rx1, ry1, mask > 0.5


def _try_mode(rng: np.random.Generator, mode: PlacementMode, scene: Scene, crop: LoadedCrop, class_id: int,
              occupied: np.ndarray, cfg: CompositeConfig):
    """Up to ``cfg.size_tries`` proposals of ``mode``, each rendered and positioned: the first that fits.

    A mode that chooses the centre searches up to ``cfg.tries * cfg.size_tries`` places for one that
    is free (a proposal that then fails on the rendered mask's exact box uses up the rest).

    Returns:
        ``(placement, angle, canvas_rgb, canvas_mask)`` or None.
    """
    occupied_list = occupied.tolist()
    for _ in range(cfg.size_tries):
        proposal = mode.propose(rng, scene, class_id, occupied_list, cfg.tries * cfg.size_tries)
        if proposal is None:
            break
        angle, object_ab = orient_object(rng, cfg.rotate, proposal.box_wh, crop.aspect)
        canvas_rgb, canvas_mask = render_object(crop, object_ab, angle, proposal.box_wh)
        if proposal.centre_xy is None:
            placed = place_object(rng, canvas_mask > 0.5, scene.image_wh, occupied, cfg.max_overlap, cfg.truncate,
                                  cfg.tries)
        else:
            placed = place_at(canvas_mask > 0.5, proposal.centre_xy, scene.image_wh, occupied, cfg.max_overlap,
                              cfg.truncate)
        if placed is not None:
            return placed, angle, canvas_rgb, canvas_mask
    return None


def _place(rng: np.random.Generator, mode_name: str | None, scene: Scene, crop: LoadedCrop, class_id: int,
           occupied: np.ndarray, cfg: CompositeConfig, warnings: Warnings, where: str):
    """Place with ``mode_name``, then with its fallbacks (each fallback counted): ``(..., mode used)`` or None."""
    while mode_name is not None:
        mode = PLACEMENTS[mode_name]
        found = _try_mode(rng, mode, scene, crop, class_id, occupied, cfg)
        if found is not None:
            return (*found, mode_name)
        if mode.fallback is not None:
            warnings.add(f"{mode_name} placement found no free place (placed {mode.fallback})", where)
        mode_name = mode.fallback
    return None


def compose_image(
    background: np.ndarray,
    bg_boxes_xyxy_px: np.ndarray,
    bg_class_ids: np.ndarray,
    pool: CropPool,
    sizes_by_class: list[np.ndarray],
    cfg: CompositeConfig,
    rng: np.random.Generator,
    warnings: Warnings | None = None,
    name: str = "image",
    out: np.ndarray | None = None,
    neighbours: NeighbourModel | None = None,
) -> Composite:
    """Paste ``cfg.per_image`` random crops from ``pool`` into a copy of ``background`` (H, W, 3) uint8.

    Args:
        sizes_by_class: real label-box sizes ``(N_c, 2)`` per class id, from the background dataset.
        warnings: counts objects with no valid placement ("no valid placement") and placement fallbacks.
        name: the background's name, for warning messages.
        out: a buffer shaped like ``background`` to composite into (the result's ``image`` is then
            this buffer). Reusing one buffer avoids a fresh full-image allocation per composite,
            whose page faults cost more than the copy itself. ``out=background`` composites in
            place, with no copy at all, for a caller that needs the background only once.
        neighbours: the background dataset's neighbour templates, for ``placement: context``
            (:func:`context.learn_neighbours`); None learns them from this background alone.

    Returns:
        the composite, its labels and a record of each paste.
    """
    warnings = warnings if warnings is not None else Warnings()
    modes, modifiers = parse_blend(cfg.blend)
    if out is background:
        image = background if background.flags.writeable else background.copy()
    elif out is not None and out.shape == background.shape and out.dtype == background.dtype:
        np.copyto(out, background)
        image = out
    else:
        image = background.copy()
    ih, iw = image.shape[:2]
    paste_masks: list[PasteMask] = []
    occupied = np.asarray(bg_boxes_xyxy_px, np.float64).reshape(-1, 4)
    pastes: list[Paste] = []
    scene = Scene((iw, ih), occupied, np.asarray(bg_class_ids).reshape(-1), sizes_by_class, neighbours,
                  cfg.max_overlap, cfg.truncate, cfg.size_jitter)
    placement: str | None = cfg.placement
    mode = get_placement(cfg.placement)
    if mode.needs_boxes and len(occupied) == 0:
        warnings.add(f"{cfg.placement} placement: background without real boxes (placed {mode.fallback})", name)
        placement = mode.fallback
    elif mode.needs_boxes:
        scene.ground = ground_model(background, occupied)  # before any paste: ``image`` may be ``background``
        if neighbours is None:
            scene.neighbours = learn_neighbours([occupied], [scene.class_ids], [(iw, ih)])
    n_objects = int(rng.integers(cfg.per_image[0], cfg.per_image[1] + 1))
    for _ in range(n_objects):
        crop_index = int(rng.integers(len(pool)))
        crop = pool.load(crop_index)
        class_id = pool.records[crop_index].class_id
        found = _place(rng, placement, scene, crop, class_id, occupied, cfg, warnings, name)
        if found is None:
            warnings.add("no valid placement (object skipped)",
                         f"{name}: no place for a {pool.records[crop_index].class_name} crop")
            continue
        placed, angle, canvas_rgb, canvas_mask, used = found
        mode_name = modes[int(rng.integers(len(modes)))] if len(modes) > 1 else modes[0]
        paste_masks.append(paste_object(image, canvas_rgb, canvas_mask, placed, mode_name, modifiers, rng))
        pastes.append(Paste(crop_index, class_id, placed.box_xyxy_px, mode_name, round(float(angle), 4),
                            placement=used))
        occupied = np.concatenate([occupied, np.asarray([placed.box_xyxy_px], np.float64)])
    paste_boxes = np.asarray([p.box_xyxy_px for p in pastes], np.float64).reshape(-1, 4)
    paste_ids = np.asarray([p.class_id for p in pastes], np.int64)
    boxes, ids, bg_kept, paste_kept = merge_labels(bg_boxes_xyxy_px, bg_class_ids, paste_boxes, paste_ids, paste_masks,
                                                   (iw, ih), cfg.min_visible)
    for p, kept in zip(pastes, paste_kept, strict=True):
        p.kept = bool(kept)
    dropped = int((~bg_kept).sum() + (~paste_kept).sum())
    return Composite(image=image, boxes_xyxy_px=boxes, class_ids=ids, pastes=pastes, dropped=dropped)
