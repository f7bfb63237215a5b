"""GAN losses: non-saturating BCE (DCGAN family) and Wasserstein with gradient penalty (WGAN-GP family).

Pure functions of discriminator outputs. ``d`` losses take ``(d_real, d_fake, label_smoothing)``, ``g``
losses take ``d_fake``; all return a scalar tensor. The gradient penalty runs in fp32 even under AMP:
its double backward through a half-precision critic under- and overflows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def bce_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """BCE on logits with real target ``1 - label_smoothing`` (one-sided smoothing: fakes stay at 0)."""
    real = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, 1.0 - label_smoothing))
    return real + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))


def bce_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(z))."""
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def wgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Critic loss E[D(fake)] - E[D(real)] (the penalty is added separately); smoothing does not apply."""
    return d_fake.float().mean() - d_real.float().mean()


def wgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    return -d_fake.float().mean()


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    y: torch.Tensor | None,
    gen: torch.Generator,
    weight: float = 10.0,
) -> torch.Tensor:
    """``weight * E[(||grad_x D(x_hat)||_2 - 1)^2]`` at random interpolates of real and fake (Gulrajani 2017).

    Args:
        critic: called as ``critic(x, y)``.
        real, fake: (B, C, H, W) batches (fake detached); computed in fp32 with autocast off.
        gen: CPU generator for the interpolation weights.
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, generator=gen).to(real.device)  # B x 1 x 1 x 1
    x_hat = (alpha * real.float() + (1 - alpha) * fake.float()).requires_grad_(True)
    with torch.autocast(device_type=real.device.type, enabled=False):
        out = critic(x_hat, y)  # B
        (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return weight * ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


@dataclass(frozen=True)
class GanLoss:
    """A loss family: ``d(d_real, d_fake, smoothing)``, ``g(d_fake)``, and whether to add the gradient penalty."""

    d: Callable[..., torch.Tensor]
    g: Callable[[torch.Tensor], torch.Tensor]
    gradient_penalty: bool


LOSSES = {
    "bce": GanLoss(bce_d_loss, bce_g_loss, gradient_penalty=False),
    "wgan-gp": GanLoss(wgan_d_loss, wgan_g_loss, gradient_penalty=True),
}
