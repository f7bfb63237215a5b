"""Generators and discriminators of the GAN zoo: DCGAN layout at 32, 64 or 128 pixels.

Generator (Radford et al. 2016): ConvTranspose-BN-ReLU blocks doubling the size from 4x4, Tanh out.
Discriminator: Conv-(norm)-LeakyReLU blocks halving it down to 4x4, then a 4x4 conv to one logit.
The norm is batch norm for (c)DCGAN and layer norm (``GroupNorm(1, C)``: normalise over C, H, W per
sample) for the WGAN-GP critic, whose gradient penalty is per sample and must not mix a batch.
Generator conditioning (``G_CONDITIONING``): ``cbn`` (default of the conditional archs), class-conditional
batch norm: every generator BN normalises without its own affine and takes a per-class scale and shift
(de Vries et al. 2017; the SNGAN/BigGAN generators); ``concat`` concatenates a 50-d class embedding to the
noise (the seed study's Keras cDCGAN). ``concat`` collapses on a few hundred crops: the first BN
normalises over batch *and* the 4x4 positions, so the learned constant spatial pattern of the embedding
grows until z's share of the variance is squashed (measured on toyworld crops: every z gave the same
image of a class after 60 steps, even with one class; ``cbn`` kept z's spread). The discriminator either
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
G_CONDITIONING = ("cbn", "concat")


def n_doublings(image_size: int) -> int:
    if image_size not in IMAGE_SIZES:
        raise ConfigError(f"--size: {image_size} is not supported (choose from {', '.join(map(str, IMAGE_SIZES))})")
    return IMAGE_SIZES[image_size]


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d without affine, then a per-class scale and shift: (B, C, H, W), (B,) -> (B, C, H, W)."""

    def __init__(self, channels: int, n_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.scale = nn.Embedding(n_classes, channels)
        self.shift = nn.Embedding(n_classes, channels)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * self.scale(y)[:, :, None, None] + self.shift(y)[:, :, None, None]


class Generator(nn.Module):
    """z (B, nz) [+ class y (B,)] -> image (B, 3, S, S) in [-1, 1].

    Args:
        cond: how a conditional generator (``n_classes > 0``) sees the class, a key of ``G_CONDITIONING``.
    """

    def __init__(self, image_size: int = 64, nz: int = 100, width: int = 64, n_classes: int = 0, emb_dim: int = 50,
                 cond: str = "cbn"):  # fmt: skip
        super().__init__()
        if cond not in G_CONDITIONING:
            raise ValueError(f"generator conditioning {cond!r} not in {G_CONDITIONING}")
        n = n_doublings(image_size)
        self.nz, self.n_classes = nz, n_classes
        self.cond = cond if n_classes else "none"
        self.embed = nn.Embedding(n_classes, emb_dim) if self.cond == "concat" else None
        ch = width * 2 ** (n - 1)
        chans = [ch // 2**i for i in range(n)]  # width * 2^(n-1) ... width
        self.ups = nn.ModuleList([nn.ConvTranspose2d(nz + (emb_dim if self.embed else 0), ch, 4, 1, 0, bias=False)])
        self.ups.extend(nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False) for c in chans[:-1])
        norm = (lambda c: ConditionalBatchNorm2d(c, n_classes)) if self.cond == "cbn" else nn.BatchNorm2d
        self.norms = nn.ModuleList(norm(c) for c in chans)
        self.out = nn.ConvTranspose2d(chans[-1], 3, 4, 2, 1, bias=False)  # 3 x S x S

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)  # B x (nz + emb)
        h = z[:, :, None, None]  # B x nz x 1 x 1
        for up, norm in zip(self.ups, self.norms, strict=True):
            h = up(h)  # (width * 2^k) x 4 x 4, then doubling: ... width x S/2 x S/2
            h = torch.relu(norm(h, y) if self.cond == "cbn" else norm(h))
        return torch.tanh(self.out(h))


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
    discriminator's class vectors, so the projection term starts as small as the head's output; a
    conditional batch norm's scales N(1, 0.02) and shifts 0, like a plain norm's.
    """
    for name, m in model.named_modules():
        if isinstance(m, ConditionalBatchNorm2d):
            nn.init.normal_(m.scale.weight, 1.0, 0.02, generator=gen)
            nn.init.zeros_(m.shift.weight)
        elif isinstance(m, nn.Embedding) and name.rsplit(".", 1)[-1] in ("scale", "shift"):
            continue  # set with its conditional batch norm above
        elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=gen)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
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
