"""The GAN zoo: one registry from an architecture name to its models, loss and optimiser settings."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from blendaug.data.errors import ConfigError, did_you_mean
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
        g_cond: generator conditioning of conditional archs, a key of ``gan.models.G_CONDITIONING``.
        description: one line for listings.
    """

    conditional: bool
    d_norm: str
    d_cond: str
    loss: str
    n_critic: int
    lr: float
    betas: tuple[float, float]
    g_cond: str = "cbn"
    description: str = ""

    @property
    def gan_loss(self) -> GanLoss:
        return LOSSES[self.loss]

    def build(
        self, image_size: int, n_classes: int, gen: torch.Generator, nz: int = 100, width: int = 64
    ) -> tuple[Generator, Discriminator]:
        """A freshly initialised (G, D) pair; ``n_classes`` only matters for conditional archs."""
        k = n_classes if self.conditional else 0
        g = Generator(image_size, nz=nz, width=width, n_classes=k, cond=self.g_cond)
        d = Discriminator(image_size, width=width, n_classes=k, norm=self.d_norm, cond=self.d_cond)
        init_weights(g, gen)
        init_weights(d, gen)
        return g, d


# DCGAN settings from Radford et al. (Adam 2e-4, beta1 0.5); WGAN-GP from Gulrajani et al. (1e-4, (0, 0.9), 5).
# Conditional generators use class-conditional batch norm (see gan.models: concat collapses on small data).
GAN_ARCHS: dict[str, ArchSpec] = {
    "dcgan": ArchSpec(False, "batch", "none", "bce", 1, 2e-4, (0.5, 0.999),
                      description="DCGAN, one generator per class"),
    "cdcgan": ArchSpec(True, "batch", "concat", "bce", 1, 2e-4, (0.5, 0.999),
                       description="conditional DCGAN, one generator for all classes"),
    "wgan-gp": ArchSpec(False, "layer", "none", "wgan-gp", 5, 1e-4, (0.0, 0.9),
                        description="WGAN-GP, one generator per class"),
    "cwgan-gp": ArchSpec(True, "layer", "projection", "wgan-gp", 5, 1e-4, (0.0, 0.9),
                         description="conditional WGAN-GP with a projection critic"),
}


def get_arch(name: str, key: str = "--arch") -> ArchSpec:
    """The spec of ``name``; raises ConfigError (naming ``key``) with a suggestion for an unknown name."""
    if name not in GAN_ARCHS:
        raise ConfigError(f"{key}: unknown architecture {name!r} ({did_you_mean(name, GAN_ARCHS)})")
    return GAN_ARCHS[name]
