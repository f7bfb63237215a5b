"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

Differentiable colour, translation and cutout transforms applied to every image D sees, real and
fake, in both the D and the G update, so D cannot simply memorise a few hundred crops. Written from
the paper's description: pure functions on ``(B, C, H, W)`` tensors in ``[-1, 1]``, one registry of
policies. Random parameters are drawn from an explicit CPU ``torch.Generator`` (then moved to the
tensor's device), so a seeded run is reproducible on any device.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from blendaug.data.errors import ConfigError, did_you_mean

AugmentFn = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _uniform(x: torch.Tensor, gen: torch.Generator, low: float, high: float) -> torch.Tensor:
    """One U(low, high) value per sample, shaped (B, 1, 1, 1) to broadcast over C, H, W."""
    u = torch.rand(x.shape[0], 1, 1, 1, generator=gen, dtype=torch.float32)
    return (u * (high - low) + low).to(device=x.device, dtype=x.dtype)


def brightness(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Add U(-0.5, 0.5) to every pixel of a sample."""
    return x + _uniform(x, gen, -0.5, 0.5)


def saturation(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Scale each pixel's distance to its channel mean by U(0, 2)."""
    mean = x.mean(dim=1, keepdim=True)  # B x 1 x H x W
    return (x - mean) * _uniform(x, gen, 0.0, 2.0) + mean


def contrast(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Scale each pixel's distance to the image mean by U(0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # B x 1 x 1 x 1
    return (x - mean) * _uniform(x, gen, 0.5, 1.5) + mean


def translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each sample by up to ``ratio`` of its size in y and x, filling with zeros."""
    b, _, h, w = x.shape
    ph, pw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-ph, ph + 1, (b, 1), generator=gen).to(x.device)
    dx = torch.randint(-pw, pw + 1, (b, 1), generator=gen).to(x.device)
    rows = torch.arange(h, device=x.device)[None, :] + ph - dy  # B x H, index into the padded image
    cols = torch.arange(w, device=x.device)[None, :] + pw - dx  # B x W
    padded = F.pad(x, [pw, pw, ph, ph]).permute(0, 2, 3, 1)  # B x (H+2ph) x (W+2pw) x C
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded[batch, rows[:, :, None], cols[:, None, :]]  # B x H x W x C
    return out.permute(0, 3, 1, 2).contiguous(memory_format=_format_of(x))


def cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of ``ratio`` times the image size at a random centre of each sample (clipped at borders)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h, (b, 1, 1), generator=gen).to(x.device)
    cx = torch.randint(0, w, (b, 1, 1), generator=gen).to(x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]  # 1 x H x 1
    xs = torch.arange(w, device=x.device)[None, None, :]  # 1 x 1 x W
    inside = (ys >= cy - ch // 2) & (ys < cy - ch // 2 + ch) & (xs >= cx - cw // 2) & (xs < cx - cw // 2 + cw)
    return x * (~inside)[:, None].to(x.dtype)  # B x 1 x H x W mask broadcast over C


def _format_of(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


AUGMENT_FNS: dict[str, list[AugmentFn]] = {
    "color": [brightness, saturation, contrast],
    "translation": [translation],
    "cutout": [cutout],
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation"`` -> ``("color", "translation")``; ``""`` -> ``()``.

    Raises:
        ConfigError: an unknown policy name (with a suggestion).
    """
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    for name in names:
        if name not in AUGMENT_FNS:
            raise ConfigError(f"--diffaugment: unknown policy {name!r} ({did_you_mean(name, AUGMENT_FNS)})")
    return names


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], gen: torch.Generator) -> torch.Tensor:
    """Apply the policies in order; an empty policy returns ``x`` itself (no copy, no cost).

    Args:
        x: images (B, C, H, W) in [-1, 1]; gradients flow through every transform.
        policy: names in :data:`AUGMENT_FNS` (see :func:`parse_policy`).
        gen: CPU generator the random parameters are drawn from.
    """
    for name in policy:
        for fn in AUGMENT_FNS[name]:
            x = fn(x, gen)
    return x
