"""Pure drawing functions for toyworld: noise textures, vehicles seen from above, trees, shadows.

Everything works on numpy arrays with OpenCV primitives (no per-pixel Python loops). Geometry is in
pixels of the scene canvas; a vehicle's heading is in degrees in image coordinates (0 = +x, right;
90 = +y, down), and its local frame has ``x`` along the body (front at ``+length/2``) and ``y``
across it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Sub-pixel precision for cv2.fillPoly: coordinates are fixed point with this many fractional bits.
_SHIFT = 4
_ONE = 1 << _SHIFT


def _fixed(poly_xy: np.ndarray) -> np.ndarray:
    """Canvas coordinates (pixel ``i`` spans ``[i, i + 1]``) to OpenCV fixed point (pixel centres at integers)."""
    return np.round((np.asarray(poly_xy) - 0.5) * _ONE).astype(np.int32).reshape(-1, 1, 2)

WINDOW_RGB = np.array([28.0, 33.0, 42.0])
# Vehicles are drawn at this many times the canvas resolution and area-averaged down: OpenCV's own
# anti-aliased fill is up to a pixel too fat and ignores sub-pixel offsets, which would make a 16 px
# wide car's label box visibly loose; supersampling keeps the drawn body within ~0.25 px of its box.
SUPERSAMPLE = 4


@dataclass(frozen=True)
class Vehicle:
    """One vehicle on the scene canvas.

    Attributes:
        class_id: index into ``TOYWORLD_NAMES`` (0 car, 1 van, 2 truck).
        center: ``(x, y)`` pixels on the canvas.
        length, width: body size in pixels.
        heading_deg: direction the front points to (0 = right, 90 = down).
        body_rgb, cargo_rgb: paint colours; ``cargo_rgb`` is the trailer of a truck (body is its cab).
    """

    class_id: int
    center: tuple[float, float]
    length: float
    width: float
    heading_deg: float
    body_rgb: tuple[float, float, float]
    cargo_rgb: tuple[float, float, float]


def noise_field(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth unit-variance noise, (h, w) float32: normal draws on a grid of ``cell`` px, cubic-upsampled."""
    gh, gw = max(2, int(np.ceil(h / cell)) + 1), max(2, int(np.ceil(w / cell)) + 1)
    coarse = rng.standard_normal((gh, gw), dtype=np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def rotated_points(local_xy: np.ndarray, center: tuple[float, float], heading_deg: float) -> np.ndarray:
    """Map (N, 2) vehicle-local points to canvas pixels: rotate by ``heading_deg``, then translate."""
    t = np.deg2rad(heading_deg)
    c, s = np.cos(t), np.sin(t)
    rot = np.array([[c, -s], [s, c]])
    return local_xy @ rot.T + np.asarray(center, dtype=np.float64)


def _rect(x0: float, x1: float, half_w: float) -> np.ndarray:
    return np.array([[x0, -half_w], [x1, -half_w], [x1, half_w], [x0, half_w]], dtype=np.float64)


def _trapezoid(x0: float, x1: float, half_w0: float, half_w1: float) -> np.ndarray:
    return np.array([[x0, -half_w0], [x1, -half_w1], [x1, half_w1], [x0, half_w0]], dtype=np.float64)


def _chamfered(length: float, width: float, cut: float) -> np.ndarray:
    hl, hw = length / 2, width / 2
    return np.array([
        [hl - cut, -hw], [hl, -hw + cut], [hl, hw - cut], [hl - cut, hw],
        [-hl + cut, hw], [-hl, hw - cut], [-hl, -hw + cut], [-hl + cut, -hw],
    ], dtype=np.float64)


def body_polygon(v: Vehicle) -> np.ndarray:
    """The body outline on the canvas, (8, 2): a rectangle with cut corners (tighter for trucks)."""
    cut = (0.12 if v.class_id == 2 else 0.22) * v.width
    return rotated_points(_chamfered(v.length, v.width, cut), v.center, v.heading_deg)


def box_xyxy(v: Vehicle) -> np.ndarray:
    """Tight axis-aligned box ``(x1, y1, x2, y2)`` of the drawn body outline, in canvas pixels."""
    c = body_polygon(v)
    return np.concatenate([c.min(axis=0), c.max(axis=0)])


def _shade(rgb: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(rgb * factor, 0, 255)


def _car_parts(v: Vehicle, body: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(local polygon, colour) pairs for a car, drawn in order; x measured from the front (+L/2)."""
    L, W = v.length, v.width
    f = L / 2
    roof = _shade(body, 0.93 if body.mean() > 170 else 1.12)
    return [
        (_trapezoid(f - 0.22 * L, f - 0.38 * L, 0.40 * W, 0.44 * W), WINDOW_RGB),  # windshield
        (_rect(f - 0.38 * L, f - 0.74 * L, 0.45 * W), WINDOW_RGB * 1.25),  # side windows around the roof
        (_rect(f - 0.40 * L, f - 0.72 * L, 0.36 * W), roof),  # roof
        (_trapezoid(f - 0.74 * L, f - 0.85 * L, 0.42 * W, 0.36 * W), WINDOW_RGB),  # rear window
    ]


def _van_parts(v: Vehicle, body: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    L, W = v.length, v.width
    f = L / 2
    roof = _shade(body, 0.94 if body.mean() > 170 else 1.1)
    parts = [
        (_trapezoid(f - 0.12 * L, f - 0.25 * L, 0.40 * W, 0.44 * W), WINDOW_RGB),  # windshield
        (_rect(f - 0.27 * L, f - 0.97 * L, 0.42 * W), roof),  # long flat roof
    ]
    for k in (0.45, 0.65, 0.85):  # roof panel seams
        parts.append((_rect(f - k * L, f - k * L - max(0.8, 0.02 * L), 0.42 * W), _shade(roof, 0.8)))
    return parts


def _truck_parts(v: Vehicle, body: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    L, W = v.length, v.width
    f = L / 2
    cargo = np.asarray(v.cargo_rgb, dtype=np.float64)
    cab_end = f - min(0.24 * L, 2.0 * W)
    parts = [
        (_trapezoid(f - 0.3, f - 0.06 * L, 0.40 * W, 0.45 * W), WINDOW_RGB),  # windshield under the cab roof edge
        (_rect(f - 0.06 * L, cab_end + 0.02 * L, 0.44 * W), _shade(body, 1.08)),  # cab roof
        (_rect(cab_end, cab_end - 0.035 * L, 0.5 * W), np.array([25.0, 25.0, 27.0])),  # gap between cab and box
        (_rect(cab_end - 0.035 * L, -f, 0.5 * W), cargo),  # cargo box / trailer
    ]
    seam = _shade(cargo, 0.86)
    step = max(3.0, 0.09 * W * 2)
    for x in np.arange(cab_end - 0.035 * L - step, -f + 1.0, -step):  # trailer roof ribs
        parts.append((_rect(x, x - 0.7, 0.46 * W), seam))
    return parts


VEHICLE_PARTS = {0: _car_parts, 1: _van_parts, 2: _truck_parts}


def _fill(img: np.ndarray, poly_xy: np.ndarray, rgb: np.ndarray) -> None:
    cv2.fillPoly(img, [_fixed(poly_xy)], tuple(float(c) for c in rgb), lineType=cv2.LINE_AA, shift=_SHIFT)


def draw_vehicle(img: np.ndarray, v: Vehicle) -> None:
    """Draw ``v`` in place on ``img`` (H, W, 3) uint8 RGB: dark rim, body, windows, roof.

    The vehicle is painted into a supersampled patch around its box (colour premultiplied by the
    body's coverage), averaged down and blended over the image.
    """
    ss = SUPERSAMPLE
    box = box_xyxy(v)
    x0, y0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x1, y1 = min(int(np.ceil(box[2])), img.shape[1]), min(int(np.ceil(box[3])), img.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    origin = np.array([x0, y0], dtype=np.float64)
    colour = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss, 3), np.float32)  # (h*ss) x (w*ss) x 3
    alpha = np.zeros(colour.shape[:2], np.float32)

    def fill(target: np.ndarray, poly_xy: np.ndarray, value) -> None:
        pts = np.round(((poly_xy - origin) * ss - 0.5) * _ONE).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(target, [pts], value, lineType=cv2.LINE_8, shift=_SHIFT)

    body = np.asarray(v.body_rgb, dtype=np.float64)
    outline = body_polygon(v)
    fill(alpha, outline, 1.0)
    fill(colour, outline, tuple(_shade(body, 0.55)))
    cut = (0.12 if v.class_id == 2 else 0.22) * v.width
    fill(colour, rotated_points(_chamfered(v.length - 1.4, v.width - 1.4, cut * 0.9), v.center, v.heading_deg),
         tuple(body))
    for poly, rgb in VEHICLE_PARTS[v.class_id](v, body):
        fill(colour, rotated_points(poly, v.center, v.heading_deg), tuple(float(c) for c in rgb))
    colour *= alpha[:, :, None]  # parts reaching past the cut corners stay outside the body
    size = (x1 - x0, y1 - y0)
    colour = cv2.resize(colour, size, interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)[:, :, None]
    patch = img[y0:y1, x0:x1].astype(np.float32)
    img[y0:y1, x0:x1] = np.clip(patch * (1.0 - alpha) + colour + 0.5, 0, 255).astype(np.uint8)


def draw_shadow_polygon(mask: np.ndarray, poly_xy: np.ndarray) -> None:
    """Add a shadow-casting polygon to ``mask`` (H, W) uint8 (255 = full shadow)."""
    cv2.fillPoly(mask, [_fixed(poly_xy)], 255, lineType=cv2.LINE_AA, shift=_SHIFT)


def vehicle_shadow(mask: np.ndarray, v: Vehicle, offset_xy: np.ndarray) -> None:
    """The vehicle's footprint moved by ``offset_xy`` (sun direction times height) into ``mask``."""
    draw_shadow_polygon(mask, body_polygon(v) + offset_xy)


def apply_shadow(img: np.ndarray, mask: np.ndarray, strength: float, blur_px: float) -> np.ndarray:
    """Darken float32 ``img`` (H, W, 3) where ``mask`` is set: soft edges from a Gaussian blur."""
    soft = cv2.GaussianBlur(mask, (0, 0), blur_px).astype(np.float32) * np.float32(strength / 255.0)
    return img * (1.0 - soft)[:, :, None]


@dataclass(frozen=True)
class Tree:
    """A tree canopy: centre and radius in canvas pixels; ``blobs`` are (dx, dy, r) relative circles."""

    center: tuple[float, float]
    radius: float
    blobs: tuple[tuple[float, float, float], ...]
    rgb: tuple[float, float, float]


def make_tree(rng: np.random.Generator, center: tuple[float, float], radius: float) -> Tree:
    """A lumpy canopy of 4-8 overlapping circles around ``center``."""
    n = int(rng.integers(4, 9))
    ang = rng.uniform(0, 2 * np.pi, n)
    dist = rng.uniform(0.0, 0.5, n) * radius
    radii = rng.uniform(0.45, 0.7, n) * radius
    blobs = tuple(
        (float(d * np.cos(a)), float(d * np.sin(a)), float(r)) for a, d, r in zip(ang, dist, radii, strict=True)
    )
    base = np.array([38.0, 68.0, 32.0]) * rng.uniform(0.8, 1.25) + rng.uniform(-6, 6, 3)
    return Tree(center=(float(center[0]), float(center[1])), radius=float(radius), blobs=blobs,
                rgb=tuple(float(c) for c in base))


def _tree_mask(tree: Tree, x0: int, y0: int, h: int, w: int, scale: float = 1.0) -> np.ndarray:
    mask = np.zeros((h, w), dtype=np.uint8)
    cx, cy = tree.center[0] - x0, tree.center[1] - y0
    for dx, dy, r in tree.blobs:
        c = (int(round((cx + dx - 0.5) * _ONE)), int(round((cy + dy - 0.5) * _ONE)))
        cv2.circle(mask, c, int(round(r * scale * _ONE)), 255, -1, lineType=cv2.LINE_AA, shift=_SHIFT)
    return mask


def tree_shadow(mask: np.ndarray, tree: Tree, offset_xy: np.ndarray) -> None:
    """The canopy moved by ``offset_xy`` into the shadow ``mask``."""
    shifted = Tree((tree.center[0] + offset_xy[0], tree.center[1] + offset_xy[1]), tree.radius, tree.blobs, tree.rgb)
    _stamp(mask, shifted, lambda patch, m, cx, cy: np.maximum(patch, m))


def _stamp(img: np.ndarray, tree: Tree, combine) -> None:
    """Apply ``combine(patch, canopy_mask, cx, cy)`` to the patch of ``img`` under the tree (clipped to the
    image); ``(cx, cy)`` is the tree centre in patch pixels."""
    r = int(np.ceil(tree.radius * 1.3)) + 2
    x0, y0 = int(tree.center[0]) - r, int(tree.center[1]) - r
    x1, y1 = x0 + 2 * r + 1, y0 + 2 * r + 1
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, img.shape[1]), min(y1, img.shape[0])
    if cx0 >= cx1 or cy0 >= cy1:
        return
    mask = _tree_mask(tree, x0, y0, y1 - y0, x1 - x0)[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    img[cy0:cy1, cx0:cx1] = combine(img[cy0:cy1, cx0:cx1], mask, tree.center[0] - cx0, tree.center[1] - cy0)


def draw_tree(img: np.ndarray, tree: Tree, rng: np.random.Generator, sun_xy: np.ndarray) -> None:
    """Draw a canopy in place on uint8 RGB ``img``: leafy noise, lit on the side facing the sun."""

    def combine(patch: np.ndarray, mask: np.ndarray, cx: float, cy: float) -> np.ndarray:
        h, w = mask.shape
        leaves = noise_field(rng, h, w, 3.0) * 0.16 + noise_field(rng, h, w, 7.0) * 0.12
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        # Light falls from the side opposite the shadow: brighter towards -sun_xy.
        d = np.hypot(*sun_xy) + 1e-6
        lit = ((xx - cx) * -sun_xy[0] + (yy - cy) * -sun_xy[1]) / (d * max(tree.radius, 1.0))
        shade = 1.0 + leaves + 0.22 * np.clip(lit, -1, 1)
        canopy = np.asarray(tree.rgb, dtype=np.float32)[None, None, :] * shade[:, :, None]
        alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)[:, :, None] / 255.0
        out = patch.astype(np.float32) * (1 - alpha) + canopy * alpha
        return np.clip(out, 0, 255).astype(np.uint8)

    _stamp(img, tree, combine)


ROOF_RGB = np.array([[128, 128, 130], [92, 92, 96], [160, 158, 152], [150, 82, 62], [118, 96, 80], [178, 176, 170]],
                    dtype=np.float64)


def draw_building(img: np.ndarray, rect: tuple[float, float, float, float], rng: np.random.Generator) -> None:
    """A roof seen from above, in place on uint8 RGB ``img``: a gable (two shaded halves) or a flat roof
    with a parapet and a few rooftop boxes."""
    x0, y0, x1, y1 = rect
    roof = ROOF_RGB[int(rng.integers(len(ROOF_RGB)))] * rng.uniform(0.9, 1.1)

    def box(a: float, b: float, c: float, d: float, rgb: np.ndarray) -> None:
        _fill(img, np.array([[a, b], [c, b], [c, d], [a, d]]), np.clip(rgb, 0, 255))

    if rng.uniform() < 0.5:
        if x1 - x0 > y1 - y0:
            box(x0, y0, x1, (y0 + y1) / 2, roof * 1.12)
            box(x0, (y0 + y1) / 2, x1, y1, roof * 0.82)
        else:
            box(x0, y0, (x0 + x1) / 2, y1, roof * 1.12)
            box((x0 + x1) / 2, y0, x1, y1, roof * 0.82)
        return
    box(x0, y0, x1, y1, roof * 0.75)
    box(x0 + 2.5, y0 + 2.5, x1 - 2.5, y1 - 2.5, roof)
    for _ in range(int(rng.integers(0, 4))):
        bw, bh = rng.uniform(5, 14), rng.uniform(5, 14)
        bx, by = rng.uniform(x0 + 4, max(x1 - 4 - bw, x0 + 5)), rng.uniform(y0 + 4, max(y1 - 4 - bh, y0 + 5))
        box(bx, by, bx + bw, by + bh, roof * 1.2)
