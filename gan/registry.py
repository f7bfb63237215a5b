"""The GAN zoo: one registry from an architecture name to its models, loss and optimiser settings."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import torch

from blendaug.data.errors import ConfigError
from blendaug.gan.losses import LOSSES, GanLoss
from blendaug.gan.models import Discriminator, Generator, init_weights


@dataclass(frozen=True)
class ArchSpec:
    """How one architecture is built and trained.

    Attributes:
        conditional: one model for all classes (True) or one per class (False).
        d_norm: discriminator normalisation, a key of ``gan.models.D_NORMS``.
        d_cond: discriminator conditioning: none, concat or projection.
        loss: a key of ``gan.losses.LOSSES``.
        n_critic: discriminator updates per generator update.
        lr: Adam learning rate of both models (``--lr`` overrides).
        betas: Adam betas.
    """

    conditional: bool
    d_norm: str
    d_cond: str
    loss: str
    n_critic: int
    lr: float
    betas: tuple[float, float]

    @property
    def gan_loss(self) -> GanLoss:
        return LOSSES[self.loss]

    def build(
        self, image_size: int, n_classes: int, gen: torch.Generator, nz: int = 100, width: int = 64
    ) -> tuple[Generator, Discriminator]:
        """A freshly initialised (G, D) pair; ``n_classes`` only matters for conditional archs."""
        k = n_classes if self.conditional else 0
        g = Generator(image_size, nz=nz, width=width, n_classes=k)
        d = Discriminator(image_size, width=width, n_classes=k, norm=self.d_norm, cond=self.d_cond)
        init_weights(g, gen)
        init_weights(d, gen)
        return g, d


# DCGAN settings from Radford et al. (Adam 2e-4, beta1 0.5); WGAN-GP from Gulrajani et al. (1e-4, (0, 0.9), 5).
GAN_ARCHS: dict[str, ArchSpec] = {
    "dcgan": ArchSpec(False, "batch", "none", "bce", 1, 2e-4, (0.5, 0.999)),
    "cdcgan": ArchSpec(True, "batch", "concat", "bce", 1, 2e-4, (0.5, 0.999)),
    "wgan-gp": ArchSpec(False, "layer", "none", "wgan-gp", 5, 1e-4, (0.0, 0.9)),
    "cwgan-gp": ArchSpec(True, "layer", "projection", "wgan-gp", 5, 1e-4, (0.0, 0.9)),
}


def get_arch(name: str) -> ArchSpec:
    """The spec of ``name``; raises ConfigError with a suggestion for an unknown name."""
    if name not in GAN_ARCHS:
        close = difflib.get_close_matches(name, GAN_ARCHS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"choose from {', '.join(GAN_ARCHS)}"
        raise ConfigError(f"--arch: unknown architecture {name!r} ({hint})")
    return GAN_ARCHS[name]
