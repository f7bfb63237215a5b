"""Ground pixels for a toyworld layout: textured grass, asphalt and concrete, painted markings, stains."""

from __future__ import annotations

import math

import cv2
import numpy as np

from blendaug.data.toyworld_draw import noise_field
from blendaug.data.toyworld_layout import CONCRETE, GRASS, LOT, ROAD, Layout

# Ground base colours per region id, and how strongly coarse/medium/fine noise modulates them.
GROUND_RGB = {GRASS: (78, 104, 56), ROAD: (86, 87, 90), LOT: (100, 100, 101), CONCRETE: (156, 153, 146)}
GROUND_NOISE = {GRASS: (0.10, 0.08, 8.0), ROAD: (0.04, 0.03, 6.0), LOT: (0.04, 0.03, 7.0), CONCRETE: (0.03, 0.03, 5.0)}
MARK_RGB = {"white": (226, 226, 220), "yellow": (222, 186, 64)}


def ground_image(rng: np.random.Generator, lay: Layout) -> np.ndarray:
    """Textured ground, (H, W, 3) float32: per-region colour modulated by coarse, medium and fine noise."""
    h, w, u = lay.height, lay.width, lay.u
    region = lay.region_map()
    n_regions = max(GROUND_RGB) + 1
    base = np.zeros((n_regions, 3), np.float32)
    amp = np.zeros((n_regions, 3), np.float32)
    tint = rng.uniform(0.9, 1.1)
    for rid, rgb in GROUND_RGB.items():
        base[rid] = np.asarray(rgb) * tint * rng.uniform(0.92, 1.08) + rng.uniform(-5, 5, 3)
        amp[rid] = GROUND_NOISE[rid]
    coarse, mid = noise_field(rng, h, w, 60 * u), noise_field(rng, h, w, 9 * u)
    fine = rng.standard_normal((h, w), dtype=np.float32)
    a_coarse, a_mid, a_fine = (np.take(amp[:, i], region) for i in range(3))  # (H, W) amplitudes per pixel
    shade = 1.0 + a_coarse * coarse + a_mid * mid
    img = np.take(base, region, axis=0) * shade[:, :, None] + (a_fine * fine)[:, :, None]
    # Dry, yellowish patches in the grass.
    dry = np.clip(noise_field(rng, h, w, 35 * u), 0, None) * (region == GRASS)
    img += dry[:, :, None] * np.array([10.0, 5.0, -2.0], np.float32)
    return paint_markings(lay, img, mid)


def paint_markings(lay: Layout, img: np.ndarray, wear_noise: np.ndarray) -> np.ndarray:
    """Paint the layout's markings on float ``img`` in place (worn where ``wear_noise`` is low); returns it."""
    for colour, rgb in MARK_RGB.items():
        polys = [np.round((p - 0.5) * 16).astype(np.int32).reshape(-1, 1, 2) for c, p in lay.markings if c == colour]
        if not polys:
            continue
        mask = np.zeros((lay.height, lay.width), np.uint8)
        cv2.fillPoly(mask, polys, 255, lineType=cv2.LINE_AA, shift=4)
        for x0, y0, x1, y1 in lay.clear:
            mask[max(int(y0), 0):max(int(math.ceil(y1)), 0), max(int(x0), 0):max(int(math.ceil(x1)), 0)] = 0
        x, y, w, h = cv2.boundingRect(mask)  # blend only where paint is
        if w == 0 or h == 0:
            continue
        win = (slice(y, y + h), slice(x, x + w))
        alpha = (mask[win].astype(np.float32) / 255.0) * np.clip(0.8 + 0.3 * wear_noise[win], 0.25, 1.0)
        img[win] += alpha[:, :, None] * (np.asarray(rgb, np.float32) - img[win])
    return img


def stain_mask(rng: np.random.Generator, lay: Layout) -> np.ndarray:
    """A shadow mask pre-filled with faint oil stains in some parking bays, (H, W) uint8."""
    mask = np.zeros((lay.height, lay.width), np.uint8)
    for z in lay.zones:
        if z.slots is None:
            continue
        for x, y in z.slots[rng.uniform(size=len(z.slots)) < 0.3]:
            axes = (int(rng.uniform(3, 7) * lay.u), int(rng.uniform(5, 12) * lay.u))
            cv2.ellipse(mask, (int(x), int(y)), axes, 0, 0, 360, int(rng.uniform(30, 80)), -1, cv2.LINE_AA)
    return mask
