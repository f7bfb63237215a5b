"""Object masks for square crops that include background: ``MASKS`` maps a name to a mask function.

Every function takes the crop ``(H, W, 3) uint8`` RGB and its alpha ``(H, W) uint8`` (or None)
and returns a float32 ``(H, W)`` mask in [0, 1]. The object is where the mask is above 0.5:
the label box of a pasted object is the tight box of ``mask > 0.5`` after scaling and rotation.

``rect`` and ``ellipse`` are soft: the 0.5 level is the shape inscribed in the crop minus its
context padding (``data crops --pad``, 0.1 of the box per side by default, so the object fills
``1 / 1.2`` of the crop), and alpha ramps from 1 to 0 across the padding, which blends the crop's
own background into the scene instead of cutting it off. Letterbox bars (``data crops --fit
letterbox`` pads non-square boxes with grey 114) are found and left out, so the mask also tells
the object's aspect ratio, which orientation uses.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from blendaug.data.errors import DataError

# data crops' default context padding, as a fraction of the box per side.
CROP_PAD = 0.1
# data crops --fit letterbox fills the square around a non-square box with this grey (ultralytics' pad).
LETTERBOX_VALUE = 114
# A border row or column is letterbox padding when its pixels stay this close to the grey (GAN crops
# only approximate it).
LETTERBOX_TOL = 10.0
# Corner radius of the rounded rectangle, as a fraction of the shorter object side.
CORNER = 0.25
GRABCUT_ITERS = 3
GRABCUT_SEED = 12345


def object_inset(size_px: int, pad: float = CROP_PAD) -> float:
    """Pixels of context padding per side in a crop of ``size_px`` made with ``pad``."""
    return size_px * pad / (1.0 + 2.0 * pad)


def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs + 0.5, ys + 0.5  # pixel centres


def soft_shape_mask(h: int, w: int, shape: str, pad: float = CROP_PAD) -> np.ndarray:
    """A feathered rounded-rectangle (``rect``) or ``ellipse`` mask, (H, W) float32 in [0, 1].

    The shape's edge (alpha 0.5) is inset by the crop padding; alpha reaches 0 at the crop
    border and 1 as far inside the edge as the padding is wide.
    """
    inset_x, inset_y = object_inset(w, pad), object_inset(h, pad)
    half_w, half_h = w / 2.0 - inset_x, h / 2.0 - inset_y
    feather = max(1.0, min(inset_x, inset_y))
    xs, ys = _pixel_grid(h, w)
    dx, dy = np.abs(xs - w / 2.0), np.abs(ys - h / 2.0)
    if shape == "ellipse":
        # Signed distance of an ellipse, approximated by the radial scale (exact on the axes).
        r = np.sqrt((dx / half_w) ** 2 + (dy / half_h) ** 2)
        sd = (r - 1.0) * np.minimum(half_w, half_h)
    else:
        radius = CORNER * min(half_w, half_h)
        qx, qy = dx - (half_w - radius), dy - (half_h - radius)
        outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
        sd = outside + np.minimum(np.maximum(qx, qy), 0) - radius
    return np.clip(0.5 - sd / (2.0 * feather), 0.0, 1.0).astype(np.float32)


def letterbox_content(crop_rgb: np.ndarray) -> tuple[int, int, int, int]:
    """The part ``(x1, y1, x2, y2)`` of a crop inside its letterbox bars (``data crops --fit letterbox``).

    Bars are whole border rows or columns of ``LETTERBOX_VALUE`` grey; they are stripped from each
    side while at least a quarter of the crop remains. A crop without bars is all content.
    """
    h, w = crop_rgb.shape[:2]
    off = np.abs(crop_rgb.astype(np.int16) - LETTERBOX_VALUE).max(axis=2)  # (H, W) distance from the grey
    row_bar, col_bar = off.max(axis=1) <= LETTERBOX_TOL, off.max(axis=0) <= LETTERBOX_TOL

    def strip(bars: np.ndarray) -> tuple[int, int]:
        n = len(bars)
        lo, hi = 0, n
        while lo < hi and bars[lo]:
            lo += 1
        while hi > lo and bars[hi - 1]:
            hi -= 1
        return (lo, hi) if hi - lo >= max(1, n // 4) else (0, n)

    (y1, y2), (x1, x2) = strip(row_bar), strip(col_bar)
    return x1, y1, x2, y2


def _content_mask(crop_rgb: np.ndarray, shape: str) -> np.ndarray:
    x1, y1, x2, y2 = letterbox_content(crop_rgb)
    mask = np.zeros(crop_rgb.shape[:2], np.float32)
    mask[y1:y2, x1:x2] = soft_shape_mask(y2 - y1, x2 - x1, shape)
    return mask


def rect_mask(crop_rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Soft rounded rectangle inside the letterbox content (the whole crop when it has no bars)."""
    return _content_mask(crop_rgb, "rect")


def ellipse_mask(crop_rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Soft ellipse inside the letterbox content (the whole crop when it has no bars)."""
    return _content_mask(crop_rgb, "ellipse")


def grabcut_mask(crop_rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """GrabCut initialised with the object rectangle (the crop minus its padding) as 'probably object'.

    OpenCV's GrabCut seeds its k-means from the global cv RNG, so the RNG is reset first: the same
    crop always gives the same mask. An empty result falls back to the soft rectangle.
    """
    h, w = crop_rgb.shape[:2]
    x1, y1, x2, y2 = letterbox_content(crop_rgb)
    ix, iy = int(round(object_inset(x2 - x1))), int(round(object_inset(y2 - y1)))
    rect = (x1 + ix, y1 + iy, x2 - x1 - 2 * ix, y2 - y1 - 2 * iy)
    if rect[2] < 2 or rect[3] < 2:
        return rect_mask(crop_rgb, alpha)
    gc = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(np.ascontiguousarray(crop_rgb[:, :, ::-1]), gc, rect, bgd, fgd, GRABCUT_ITERS, cv2.GC_INIT_WITH_RECT)
    fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1 or stats[1:, cv2.CC_STAT_AREA].max() < 0.05 * h * w:
        return rect_mask(crop_rgb, alpha)
    # Keep the largest component: GrabCut leaves specks of background texture.
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == largest).astype(np.float32)


def alpha_mask(crop_rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    if alpha is None:
        raise DataError("crop has no alpha channel (use --mask rect, ellipse or grabcut)")
    return alpha.astype(np.float32) / 255.0


MASKS: dict[str, Callable[[np.ndarray, np.ndarray | None], np.ndarray]] = {
    "rect": rect_mask,
    "ellipse": ellipse_mask,
    "grabcut": grabcut_mask,
    "alpha": alpha_mask,
}


def _crossing(profile: np.ndarray) -> tuple[float, float]:
    """Sub-pixel positions (pixel edges) where a 1-D profile first rises to and last falls from 0.5."""
    above = np.flatnonzero(profile > 0.5)
    i, j = int(above[0]), int(above[-1])
    # Pixel k's centre is at k + 0.5; interpolate between the centres on either side of the crossing.
    lo = 0.0 if i == 0 else i - 0.5 + (0.5 - profile[i - 1]) / max(profile[i] - profile[i - 1], 1e-6)
    last = len(profile) - 1
    hi = float(last + 1) if j == last else j + 0.5 + (profile[j] - 0.5) / max(profile[j] - profile[j + 1], 1e-6)
    return min(lo, float(i + 0.5)), max(hi, float(j + 0.5))


def object_extent(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Sub-pixel box ``(x1, y1, x2, y2)`` of the 0.5 level of a soft mask, or None when empty.

    A soft mask's 0.5 level rarely falls on a pixel edge; scaling by the whole-pixel box would make
    every pasted object up to a pixel too small. The level is found on the mask's max-projections by
    linear interpolation between pixel centres; for a hard mask it is the pixel box.
    """
    if not (mask > 0.5).any():
        return None
    x1, x2 = _crossing(mask.max(axis=0))
    y1, y2 = _crossing(mask.max(axis=1))
    return x1, y1, x2, y2


def object_region(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight box ``(x1, y1, x2, y2)`` (pixel edges) of ``mask > 0.5``, or None when empty."""
    hard = mask > 0.5
    rows, cols = np.flatnonzero(hard.any(axis=1)), np.flatnonzero(hard.any(axis=0))
    if len(rows) == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
