"""Blend modes and modifiers, as registries of pure functions on a small region of interest.

A blend function takes ``dst`` (H, W, 3) uint8, the background around the object, ``obj`` (H, W, 3)
uint8 and ``mask`` (H, W) float32 in [0, 1], both aligned to ``dst`` (zero outside the object),
and ``rng``; it returns the blended (H, W, 3) uint8. The caller cuts the ROI with a margin so blurs
and Poisson boundaries have room, and writes it back: nothing here sees the full image.

A modifier (``color``, ``noise``) changes ``obj`` before blending and combines with any mode:
``--blend gaussian+color+noise``. ``all`` draws one mode per object (Cut-Paste-Learn found that
mixing blend modes beat any single one).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

# Feather width of the gaussian/box alpha, as a fraction of the object's shorter side.
FEATHER = 0.05
# Colour transfer moves the object's colour statistics this far towards the background's: all the way
# would make a white car as dark as the road.
COLOR_STRENGTH = 0.5
# Blur levels tried when matching the background's sharpness (Gaussian sigma, px).
BLUR_SIGMAS = (0.0, 0.5, 0.8, 1.1, 1.5, 2.0)
IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def hard(mask: np.ndarray) -> np.ndarray:
    return mask > 0.5


def _short_side(mask: np.ndarray) -> int:
    _, _, w, h = cv2.boundingRect(hard(mask).view(np.uint8))
    return max(1, min(w, h))


def alpha_composite(dst: np.ndarray, obj: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``dst + alpha * (obj - dst)``, rounded to uint8; ``alpha`` (H, W) float in [0, 1]."""
    a = np.ascontiguousarray(alpha, dtype=np.float32)
    return cv2.blendLinear(np.ascontiguousarray(obj, dtype=np.uint8), np.ascontiguousarray(dst), a, 1.0 - a)


def blend_none(dst, obj, mask, rng):
    """Hard paste: the object's pixels where ``mask > 0.5``, unchanged."""
    return cv2.copyTo(np.ascontiguousarray(obj), hard(mask).view(np.uint8), dst.copy())


def blend_gaussian(dst, obj, mask, rng):
    """Alpha = the mask blurred by a Gaussian of ``FEATHER`` x the shorter side (at least 1 px)."""
    sigma = max(1.0, FEATHER * _short_side(mask))
    return alpha_composite(dst, obj, cv2.GaussianBlur(np.asarray(mask, np.float32), (0, 0), sigma))


def blend_box(dst, obj, mask, rng):
    """Alpha = the mask blurred by a box filter as wide as the gaussian's 2 sigma."""
    k = 2 * int(round(max(1.0, FEATHER * _short_side(mask)))) + 1
    return alpha_composite(dst, obj, cv2.blur(np.asarray(mask, np.float32), (k, k)))


def _div(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Backward-difference divergence of forward-difference fields (C, H, W): div(grad I) is the 5-point Laplacian."""
    d = gx + gy
    d[:, :, 1:] -= gx[:, :, :-1]
    d[:, 1:] -= gy[:, :-1]
    return d


def poisson_clone(dst: np.ndarray, obj: np.ndarray, mask_hard: np.ndarray, mixed: bool = False) -> np.ndarray:
    """Seamless cloning: solve ``laplace(f) = div(g)`` around the mask with ``f = dst`` on the solve border.

    The guidance ``g`` is the object's gradient across edges whose two pixels are both in the mask
    (with ``mixed``, only where it is stronger than the background's), the background's elsewhere.
    The solve covers the mask's box plus 2 px, grown to FFT-friendly sizes. Written here instead of
    calling ``cv2.seamlessClone`` because one DST-I solve (scipy.fft) is several times faster and has
    no centring quirks; the maths is the same (Perez et al. 2003).

    Args:
        dst, obj: (H, W, 3) uint8; mask_hard: (H, W) bool.

    Returns:
        (H, W, 3) uint8; equal to ``dst`` outside the solve region, and everywhere when ``obj == dst``.
    """
    from scipy.fft import dstn, idstn, next_fast_len

    rows, cols = np.flatnonzero(mask_hard.any(axis=1)), np.flatnonzero(mask_hard.any(axis=0))
    if len(rows) == 0:
        return dst.copy()
    # Solve region [y1, y1 + sh) x [x1, x1 + sw): the border ring is Dirichlet, so m + 1 = sh - 1 must be FFT-fast.
    sh, sw = next_fast_len(int(rows[-1] - rows[0]) + 4) + 1, next_fast_len(int(cols[-1] - cols[0]) + 4) + 1
    y1, x1 = int(rows[0]) - 2, int(cols[0]) - 2
    h, w = mask_hard.shape
    pad = (max(0, -y1, y1 + sh - h), max(0, -x1, x1 + sw - w))
    if pad[0] or pad[1]:
        widths = ((pad[0], pad[0]), (pad[1], pad[1]))
        d_full = np.pad(dst, (*widths, (0, 0)), mode="reflect" if min(h, w) > max(pad) else "edge")
        o_full = np.pad(obj, (*widths, (0, 0)), mode="edge")
        m_full = np.pad(mask_hard, widths, mode="constant")
    else:
        d_full, o_full, m_full = dst, obj, mask_hard
    ys, xs = slice(y1 + pad[0], y1 + pad[0] + sh), slice(x1 + pad[1], x1 + pad[1] + sw)
    d = np.ascontiguousarray(d_full[ys, xs].transpose(2, 0, 1), dtype=np.float32)  # 3 x sh x sw
    o = np.ascontiguousarray(o_full[ys, xs].transpose(2, 0, 1), dtype=np.float32)
    m = m_full[ys, xs]
    gx_d, gy_d = np.zeros_like(d), np.zeros_like(d)
    gx_d[:, :, :-1], gy_d[:, :-1] = d[:, :, 1:] - d[:, :, :-1], d[:, 1:] - d[:, :-1]
    gx_o, gy_o = np.zeros_like(o), np.zeros_like(o)
    gx_o[:, :, :-1], gy_o[:, :-1] = o[:, :, 1:] - o[:, :, :-1], o[:, 1:] - o[:, :-1]
    use_x, use_y = np.zeros(d.shape, bool), np.zeros(d.shape, bool)
    use_x[:, :, :-1] = m[:, 1:] & m[:, :-1]
    use_y[:, :-1] = m[1:] & m[:-1]
    if mixed:
        use_x &= np.abs(gx_o) > np.abs(gx_d)
        use_y &= np.abs(gy_o) > np.abs(gy_d)
    # f = dst + u with u = 0 on the border: laplace(u) = div(g - grad dst), non-zero only near the object.
    rhs = _div(np.where(use_x, gx_o - gx_d, 0.0), np.where(use_y, gy_o - gy_d, 0.0))[:, 1:-1, 1:-1]
    mm, nn = sh - 2, sw - 2
    lam = (2 * np.cos(np.pi * np.arange(1, mm + 1) / (mm + 1)) - 2)[:, None] + (
        2 * np.cos(np.pi * np.arange(1, nn + 1) / (nn + 1)) - 2)[None, :]
    u = idstn(dstn(rhs, type=1, axes=(1, 2)) / lam.astype(np.float32), type=1, axes=(1, 2))
    solved = np.clip(np.rint(d[:, 1:-1, 1:-1] + u), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    out_full = d_full.copy()
    out_full[y1 + pad[0] + 1:y1 + pad[0] + sh - 1, x1 + pad[1] + 1:x1 + pad[1] + sw - 1] = solved
    return np.ascontiguousarray(out_full[pad[0]:pad[0] + h, pad[1]:pad[1] + w])


def blend_poisson(dst, obj, mask, rng):
    """Poisson seamless cloning (normal: the object's gradients) on the ROI only."""
    return poisson_clone(dst, obj, hard(mask))


def blend_poisson_mixed(dst, obj, mask, rng):
    """Poisson cloning with mixed gradients: the stronger of object and background gradient wins."""
    return poisson_clone(dst, obj, hard(mask), mixed=True)


def motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A normalised line kernel ``(length, length)`` at ``angle_deg``."""
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2.0
    t = np.deg2rad(angle_deg)
    for s in np.linspace(-c, c, 4 * length):
        k[int(round(c + s * np.sin(t))), int(round(c + s * np.cos(t)))] = 1.0
    return k / k.sum()


def blend_motion(dst, obj, mask, rng):
    """Motion blur of the object (length 3 px to 15% of its shorter side, random direction), then alpha blend.

    Colour is blurred premultiplied by alpha, so the crop's surroundings do not bleed in dark.
    """
    longest = max(4, int(0.15 * _short_side(mask)))
    length = int(rng.integers(3, longest + 1)) | 1
    kernel = motion_kernel(length, float(rng.uniform(0, 180)))
    a = cv2.filter2D(mask.astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)
    pre = cv2.filter2D(obj.astype(np.float32) * mask[:, :, None], -1, kernel, borderType=cv2.BORDER_CONSTANT)
    colour = pre / np.maximum(a, 1e-6)[:, :, None]
    return alpha_composite(dst, np.clip(np.rint(colour), 0, 255).astype(np.uint8), a)


BlendFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.random.Generator], np.ndarray]
BLEND_MODES: dict[str, BlendFn] = {
    "none": blend_none,
    "gaussian": blend_gaussian,
    "box": blend_box,
    "poisson": blend_poisson,
    "poisson-mixed": blend_poisson_mixed,
    "motion": blend_motion,
}


# OpenCV's 8-bit RGB -> YCrCb conversion as ``ycc = YCC_MATRIX @ rgb + YCC_OFFSET`` (Y = luma, Cr and Cb
# the red and blue differences, scaled by 0.713 and 0.564 and offset by 128).
_Y = np.array([0.299, 0.587, 0.114])
YCC_MATRIX = np.stack([_Y, 0.713 * (np.array([1.0, 0.0, 0.0]) - _Y), 0.564 * (np.array([0.0, 0.0, 1.0]) - _Y)])
YCC_OFFSET = np.array([0.0, 128.0, 128.0])
_YCC_INVERSE = np.linalg.inv(YCC_MATRIX)


# Colour statistics are taken on every COLOR_STRIDE-th row and column: a quarter of the pixels gives
# the same means and spreads to a fraction of a level, at a fraction of the cost.
COLOR_STRIDE = 2


def _mean_sd(rgb: np.ndarray, where: np.ndarray, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """YCrCb mean and (population) standard deviation per channel of (H, W, 3) uint8 RGB over ``where`` (H, W) bool.

    With ``stride > 1`` only every ``stride``-th row and column counts (nearest-neighbour subsampling).
    """
    where_u8 = np.ascontiguousarray(where).view(np.uint8)
    if stride > 1:
        h, w = where_u8.shape
        size = (-(-w // stride), -(-h // stride))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_NEAREST)
        where_u8 = cv2.resize(where_u8, size, interpolation=cv2.INTER_NEAREST)
    ycc = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YCrCb)
    mean, sd = cv2.meanStdDev(ycc, mask=where_u8)
    return mean.ravel(), sd.ravel()


def transfer_matrix(mu_s: np.ndarray, sd_s: np.ndarray, mu_t: np.ndarray, sd_t: np.ndarray,
                    strength: float) -> np.ndarray:
    """The (3, 4) affine RGB map that moves YCrCb statistics ``(mu_s, sd_s)`` towards ``(mu_t, sd_t)``.

    Each YCrCb channel ``y`` becomes ``(y - mu_s) * scale + mu``, where ``scale`` and ``mu`` go the
    fraction ``strength`` of the way from the source spread and mean to the target's (a flat source
    channel keeps its spread). YCrCb is an affine image of RGB, so the whole transfer is one affine
    map of RGB: ``rgb' = A^-1 diag(scale) A rgb + A^-1 (scale * (b - mu_s) + mu - b)``.
    """
    # Plain floats for the three channels: numpy's per-call cost dominates on arrays this small.
    scale = [1.0 + strength * ((t / s if s > 1e-3 else 1.0) - 1.0)
             for s, t in zip(sd_s.tolist(), sd_t.tolist(), strict=True)]
    shift = [c * (b - ms) + ms + strength * (mt - ms) - b
             for c, b, ms, mt in zip(scale, YCC_OFFSET.tolist(), mu_s.tolist(), mu_t.tolist(), strict=True)]
    m = np.empty((3, 4))
    np.matmul(_YCC_INVERSE * scale, YCC_MATRIX, out=m[:, :3])
    np.matmul(_YCC_INVERSE, shift, out=m[:, 3])
    return m


def color_transfer(obj: np.ndarray, obj_mask: np.ndarray, ref: np.ndarray, ref_mask: np.ndarray,
                   strength: float = 1.0, where: np.ndarray | None = None, stride: int = 1) -> np.ndarray:
    """Move the YCrCb mean and standard deviation of ``obj[obj_mask]`` towards those of ``ref[ref_mask]``.

    Reinhard et al.'s statistics transfer, in a luma/chroma space. It used to work in LAB, which
    needs a non-linear conversion there and back for every pixel of every object (1.4 ms per object
    on the benchmark, more than the whole rest of a composite); in YCrCb the transfer is a single
    affine map of RGB (one ``cv2.transform`` pass), under 0.1 ms, and on the benchmark's objects its
    pixels differ from the LAB transfer's by about one grey level on average (the transfer itself
    moves them by about 20).

    Args:
        obj, ref: (H, W, 3) and (H', W', 3) uint8 RGB; obj_mask (H, W) and ref_mask (H', W') bool: the
            pixels whose statistics count.
        strength: 1 matches the reference statistics, 0 changes nothing.
        where: (H, W) bool, the pixels to recolour; None recolours every pixel. Pixels outside it are
            ``obj``'s, unchanged.
        stride: take the statistics on every ``stride``-th row and column only.

    Returns:
        the recoloured ``obj`` (``obj`` itself when there is nothing to do).
    """
    if strength == 0 or np.count_nonzero(obj_mask) < 2 or np.count_nonzero(ref_mask) < 2:
        return obj
    m = transfer_matrix(*_mean_sd(obj, obj_mask, stride), *_mean_sd(ref, ref_mask, stride), strength)
    rgb = cv2.transform(np.ascontiguousarray(obj), m)  # saturating: rounded and clipped to 0..255
    return rgb if where is None else cv2.copyTo(rgb, np.ascontiguousarray(where).view(np.uint8), obj.copy())


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def noise_sigma(rgb: np.ndarray, where: np.ndarray | None = None) -> float:
    """Immerkaer's fast noise estimate (grey levels) over ``where`` (H, W) bool, or the whole image."""
    resp = np.abs(cv2.filter2D(_gray(rgb), -1, IMMERKAER))[1:-1, 1:-1]
    sel = resp if where is None else resp[where[1:-1, 1:-1]]
    return float(np.sqrt(np.pi / 2.0) * sel.mean() / 6.0) if sel.size else 0.0


def sharpness(rgb: np.ndarray, where: np.ndarray | None = None) -> float:
    """Variance of the Laplacian over ``where``: lower is blurrier."""
    lap = cv2.Laplacian(_gray(rgb), cv2.CV_32F)[1:-1, 1:-1]
    sel = lap if where is None else lap[where[1:-1, 1:-1]]
    return float(sel.var()) if sel.size else 0.0


def match_noise(obj: np.ndarray, mask: np.ndarray, dst: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur the object down to the background's sharpness, then add the noise the background has more of."""
    inside = cv2.erode(hard(mask).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    around = ~hard(mask)
    if inside.sum() < 9 or around.sum() < 9:
        return obj
    target = sharpness(dst, around)
    if sharpness(obj, inside) > target:
        candidates = [obj if s == 0 else cv2.GaussianBlur(obj, (0, 0), s) for s in BLUR_SIGMAS]
        gaps = [abs(np.log1p(sharpness(c, inside)) - np.log1p(target)) for c in candidates]
        obj = candidates[int(np.argmin(gaps))]
    extra = noise_sigma(dst, around) ** 2 - noise_sigma(obj, inside) ** 2
    if extra > 0:
        noise = rng.normal(0.0, np.sqrt(extra), obj.shape[:2]).astype(np.float32)[:, :, None]
        obj = np.clip(np.rint(obj.astype(np.float32) + noise), 0, 255).astype(np.uint8)
    return obj


def modify_color(obj: np.ndarray, mask: np.ndarray, dst: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour-match the object to the background around it (``COLOR_STRENGTH`` of the way).

    Only the object's own pixels (``mask > 0``) are recoloured, inside their bounding box: around
    the canvas ``obj`` is the background itself, which must stay as it is. The reference is the
    ring of ``dst`` outside the object (``mask <= 0.5``). Statistics on a ``COLOR_STRIDE`` grid.
    """
    soft = mask > 0
    x, y, w, h = cv2.boundingRect(soft.view(np.uint8))
    if w == 0:
        return obj
    hard_mask = hard(mask)
    box = (slice(y, y + h), slice(x, x + w))
    region = obj[box]
    part = color_transfer(region, hard_mask[box], dst, ~hard_mask, COLOR_STRENGTH, soft[box], COLOR_STRIDE)
    if part is region:
        return obj
    out = obj.copy()
    out[box] = part
    return out


ModifierFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.random.Generator], np.ndarray]
MODIFIERS: dict[str, ModifierFn] = {"color": modify_color, "noise": match_noise}


def parse_blend(spec: str) -> tuple[list[str], list[str]]:
    """``"gaussian+color"`` -> ``(["gaussian"], ["color"])``; ``"all"`` -> every mode.

    Returns:
        the modes to draw from (one per object) and the modifiers applied to every object.

    Raises:
        ValueError: an unknown name, or not exactly one mode (or ``all``).
    """
    parts = [p.strip() for p in str(spec).split("+") if p.strip()]
    modes = [p for p in parts if p in BLEND_MODES or p == "all"]
    mods = [p for p in parts if p in MODIFIERS]
    unknown = [p for p in parts if p not in modes and p not in mods]
    choices = ", ".join([*BLEND_MODES, "all"]) + " (+ " + ", ".join(MODIFIERS) + ")"
    if unknown or len(modes) != 1:
        raise ValueError(f"bad blend {spec!r}: expected one of {choices}")
    return (list(BLEND_MODES) if modes[0] == "all" else modes), sorted(set(mods), key=list(MODIFIERS).index)
