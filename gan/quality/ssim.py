"""SSIM of each generated crop to its most similar real crop (the seed traffic-sign study's metric).

Same definition as ``torchmetrics.functional.structural_similarity_index_measure`` with its
defaults (Gaussian window, sigma 1.5, 11 taps, reflect padding, k1 0.01, k2 0.03, mean over the
map and the channels), for data range 255. Written here because the nearest-neighbour search
needs SSIM for every (fake, real) pair: torchmetrics would recompute all five filtered maps per
pair with a 2-D kernel, while here each image's mean and variance maps are filtered once and only
the cross term is filtered per pair, with a separable kernel (about 10x less work).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03
_DATA_RANGE = 255.0


def _kernel_1d(dtype: torch.dtype) -> torch.Tensor:
    size = int(3.5 * _SIGMA + 0.5) * 2 + 1  # 11, as torchmetrics
    dist = torch.arange((1 - size) / 2, (1 + size) / 2, 1, dtype=dtype)
    g = torch.exp(-((dist / _SIGMA) ** 2) / 2)
    return g / g.sum()  # size


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter, no padding: (B, C, H+2p, W+2p) -> (B, C, H, W)."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)  # B x C x H+2p x W
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)  # B x C x H x W


def _prepare(images: np.ndarray, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded images (N, 3, H+2p, W+2p), local means and local variances (N, 3, H, W)."""
    pad = (len(g) - 1) // 2
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(g.dtype)  # N x 3 x H x W
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    mu = _blur(xp, g)
    var = (_blur(xp * xp, g) - mu * mu).clamp(min=0.0)
    return xp, mu, var


def nearest_real_ssim(fakes: np.ndarray, reals: np.ndarray, chunk: int = 4, dtype=torch.float32) -> np.ndarray:
    """For each fake crop, its highest SSIM against any real crop.

    Args:
        fakes: uint8 RGB (M, H, W, 3).
        reals: uint8 RGB (R, H, W, 3), same H and W (resize beforehand).
        chunk: fakes handled at once (memory: chunk x R x 3 x (H+10) x (W+10) floats).

    Returns:
        float (M,) in [-1, 1]; empty when either set is empty.
    """
    if fakes.shape[1:] != reals.shape[1:]:
        raise ValueError(f"fake and real crops must have the same size, got {fakes.shape[1:]} and {reals.shape[1:]}")
    if len(fakes) == 0 or len(reals) == 0:
        return np.zeros(0)
    g = _kernel_1d(dtype)
    c1, c2 = (_K1 * _DATA_RANGE) ** 2, (_K2 * _DATA_RANGE) ** 2
    fp, fmu, fvar = _prepare(fakes, g)  # M x 3 x ...
    rp, rmu, rvar = _prepare(reals, g)  # R x 3 x ...
    n_real, ch, h, w = rmu.shape
    best = []
    with torch.no_grad():
        for start in range(0, len(fakes), chunk):
            sl = slice(start, start + chunk)
            b = fp[sl].shape[0]
            prod = (fp[sl, None] * rp[None]).reshape(b * n_real, ch, *rp.shape[-2:])  # bR x 3 x H+2p x W+2p
            mu_f, mu_r = fmu[sl, None], rmu[None]  # b x 1 x 3 x H x W, 1 x R x 3 x H x W
            cov = _blur(prod, g).view(b, n_real, ch, h, w) - mu_f * mu_r  # b x R x 3 x H x W
            num = (2 * mu_f * mu_r + c1) * (2 * cov + c2)
            den = (mu_f**2 + mu_r**2 + c1) * (fvar[sl, None] + rvar[None] + c2)
            ssim = (num / den).flatten(2).mean(2)  # b x R
            best.append(ssim.max(dim=1).values.double())
    return torch.cat(best).numpy()
