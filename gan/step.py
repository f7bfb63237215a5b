"""One training step of a (G, D) pair: the core of ``gan train``, on tensors only (no files).

A step draws noise, updates D once on a real batch and a fake batch, and, when asked, updates G
on the same fake batch (as pytorch/examples' DCGAN does: one generator forward serves both updates).
WGAN-GP asks for a G update every ``n_critic`` steps; in between, the fake batch is made without
autograd. DiffAugment, when on, transforms every D input, real and fake, in both updates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from blendaug.gan.diffaugment import diff_augment
from blendaug.gan.losses import GanLoss, gradient_penalty
from blendaug.gan.models import Discriminator, Generator


@dataclass
class GanPair:
    """A generator, a discriminator and everything their training state needs (what a checkpoint holds)."""

    g: Generator
    d: Discriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler

    @classmethod
    def create(
        cls, g: Generator, d: Discriminator, lr: float, betas: tuple[float, float], amp: bool, device: str
    ) -> GanPair:
        adam = dict(lr=lr, betas=betas)
        scaler = torch.device(device).type
        return cls(g, d, torch.optim.Adam(g.parameters(), **adam), torch.optim.Adam(d.parameters(), **adam),
                   torch.amp.GradScaler(scaler, enabled=amp), torch.amp.GradScaler(scaler, enabled=amp))  # fmt: skip

    def state_dict(self) -> dict:
        return {name: getattr(self, name).state_dict() for name in ("g", "d", "opt_g", "opt_d", "scaler_g", "scaler_d")}

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            getattr(self, name).load_state_dict(value)


@dataclass(frozen=True)
class StepConfig:
    """Settings of :func:`train_step` (the per-arch parts come from ``blendaug.gan.registry.ArchSpec``)."""

    loss: GanLoss
    nz: int = 100
    policy: tuple[str, ...] = ()  # DiffAugment policies
    label_smoothing: float = 0.0
    gp_weight: float = 10.0
    amp: bool = False
    channels_last: bool = False


def train_step(
    pair: GanPair,
    real: torch.Tensor,
    y: torch.Tensor | None,
    gen: torch.Generator,
    cfg: StepConfig,
    g_step: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One D update and, when ``g_step``, one G update.

    Args:
        real: (B, 3, S, S) in [-1, 1] on the models' device.
        y: (B,) class ids for conditional models (the fakes get the same labels), else None.
        gen: CPU generator for noise, DiffAugment and the penalty's interpolation.

    Returns:
        Detached scalar losses ``(d_loss, g_loss or None)``; no host sync happens here.
    """
    dev = real.device
    amp = torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=cfg.amp)
    z = torch.randn(real.shape[0], cfg.nz, generator=gen).to(dev, non_blocking=True)  # B x nz
    with amp:
        with torch.set_grad_enabled(g_step):  # keep G's graph only when G learns from this batch
            fake = pair.g(z, y)  # B x 3 x S x S
        if cfg.channels_last:
            fake = fake.contiguous(memory_format=torch.channels_last)
        real_in = diff_augment(real, cfg.policy, gen)
        fake_in = diff_augment(fake.detach(), cfg.policy, gen)
        d_loss = cfg.loss.d(pair.d(real_in, y), pair.d(fake_in, y), cfg.label_smoothing)
    if cfg.loss.gradient_penalty:
        d_loss = d_loss + gradient_penalty(pair.d, real_in.detach(), fake_in, y, gen, cfg.gp_weight)
    pair.opt_d.zero_grad(set_to_none=True)
    pair.scaler_d.scale(d_loss).backward()
    pair.scaler_d.step(pair.opt_d)
    pair.scaler_d.update()
    if not g_step:
        return d_loss.detach(), None
    pair.d.requires_grad_(False)  # G's backward needs grads through D, not D's weight grads
    try:
        with amp:
            g_loss = cfg.loss.g(pair.d(diff_augment(fake, cfg.policy, gen), y))
        pair.opt_g.zero_grad(set_to_none=True)
        pair.scaler_g.scale(g_loss).backward()
        pair.scaler_g.step(pair.opt_g)
        pair.scaler_g.update()
    finally:
        pair.d.requires_grad_(True)
    return d_loss.detach(), g_loss.detach()
