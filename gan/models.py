"""Generators and discriminators of the GAN zoo: DCGAN layout at 32, 64 or 128 pixels.

Generator (Radford et al. 2016): ConvTranspose-BN-ReLU blocks doubling the size from 4x4, Tanh out.
Discriminator: Conv-(norm)-LeakyReLU blocks halving it down to 4x4, then a 4x4 conv to one logit.
The norm is batch norm for (c)DCGAN and layer norm (``GroupNorm(1, C)``: normalise over C, H, W per
sample) for the WGAN-GP critic, whose gradient penalty is per sample and must not mix a batch.
Conditioning: the generator concatenates a class embedding to the noise; the discriminator either
concatenates a learned label map as a fourth input channel (``concat``, cDCGAN) or adds a projection
term ``<embed(y), pooled features>`` (``projection``, Miyato & Koyama 2018; cWGAN-GP).
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy

import torch
from torch import nn

from blendaug.data.errors import ConfigError

# Image side -> number of stride-2 (de)convolutions between 4x4 and the image.
IMAGE_SIZES = {32: 3, 64: 4, 128: 5}

D_NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": nn.BatchNorm2d,
    "layer": lambda c: nn.GroupNorm(1, c),
    "none": lambda c: nn.Identity(),
}
D_CONDITIONING = ("none", "concat", "projection")


def n_doublings(image_size: int) -> int:
    if image_size not in IMAGE_SIZES:
        raise ConfigError(f"--size: {image_size} is not supported (choose from {', '.join(map(str, IMAGE_SIZES))})")
    return IMAGE_SIZES[image_size]


class Generator(nn.Module):
    """z (B, nz) [+ class y (B,)] -> image (B, 3, S, S) in [-1, 1]."""

    def __init__(self, image_size: int = 64, nz: int = 100, width: int = 64, n_classes: int = 0, emb_dim: int = 50):
        super().__init__()
        n = n_doublings(image_size)
        self.nz, self.n_classes = nz, n_classes
        self.embed = nn.Embedding(n_classes, emb_dim) if n_classes else None
        ch = width * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz + (emb_dim if n_classes else 0), ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]  # (width * 2^(n-1)) x 4 x 4
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2  # ch x 2s x 2s
        layers += [nn.ConvTranspose2d(ch, 3, 4, 2, 1, bias=False), nn.Tanh()]  # 3 x S x S
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)  # B x (nz + emb)
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """image (B, 3, S, S) [+ class y (B,)] -> one logit / critic value per image (B,)."""

    def __init__(
        self, image_size: int = 64, width: int = 64, n_classes: int = 0, norm: str = "batch", cond: str = "none"
    ):
        super().__init__()
        n = n_doublings(image_size)
        if cond != "none" and not n_classes:
            raise ValueError("a conditional discriminator needs n_classes > 0")
        self.cond, self.image_size = cond, image_size
        self.label_map = nn.Embedding(n_classes, image_size * image_size) if cond == "concat" else None
        layers: list[nn.Module] = [nn.Conv2d(3 + (cond == "concat"), width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = width  # width x S/2 x S/2
        for _ in range(n - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"), D_NORMS[norm](ch * 2)]
            layers += [nn.LeakyReLU(0.2, True)]
            ch *= 2  # ch x s/2 x s/2, down to (width * 2^(n-1)) x 4 x 4
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(ch, 1, 4, 1, 0)  # 1 x 1 x 1
        self.project = nn.Embedding(n_classes, ch) if cond == "projection" else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_map is not None:
            s = self.image_size
            x = torch.cat([x, self.label_map(y).view(-1, 1, s, s).to(x.dtype)], dim=1)  # B x 4 x S x S
        h = self.features(x)  # B x C x 4 x 4
        out = self.head(h).flatten()  # B
        if self.project is not None:
            out = out + (self.project(y) * h.sum(dim=(2, 3))).sum(dim=1)
        return out


@torch.no_grad()
def init_weights(model: nn.Module, gen: torch.Generator) -> None:
    """DCGAN init from an explicit generator: conv N(0, 0.02), norm scale N(1, 0.02), biases 0.

    Embeddings: N(0, 1) (on the scale of the noise and of the inputs), but N(0, 0.02) for the projection
    discriminator's class vectors, so the projection term starts as small as the head's output.
    """
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=gen)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02, generator=gen)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02 if name == "project" else 1.0, generator=gen)


@torch.no_grad()
def calibrated_copy(g: Generator, gen: torch.Generator, batches: int = 8, batch: int = 64) -> Generator:
    """An eval-mode copy of ``g`` whose batch-norm statistics are exact averages over fresh noise.

    During training the running statistics trail the weights (momentum 0.1, starting from mean 0 and
    variance 1), so an early snapshot in eval mode would draw near-constant grey images. Snapshots and
    grids therefore re-estimate them: cumulative averages over ``batches`` batches of noise (and random
    classes), drawn from ``gen``. The training generator is left untouched.
    """
    device = next(g.parameters()).device
    copy = deepcopy(g).train()
    norms = [m for m in copy.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the plain mean over the batches below
    for _ in range(batches):
        z = torch.randn(batch, g.nz, generator=gen).to(device)  # batch x nz
        y = torch.randint(0, g.n_classes, (batch,), generator=gen).to(device) if g.n_classes else None
        copy(z, y)
    for m in norms:
        m.momentum = 0.1
    return copy.eval()
