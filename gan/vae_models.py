"""The VAE's networks (Kingma & Welling 2014) for 32, 64 and 128 pixel crops, and its loss.

Encoder: 4x4 stride-2 convs with group norm and LeakyReLU(0.2) from S down to 4x4, then a linear layer to
the posterior's mean and log-variance. Decoder: a linear layer to 4x4, then per doubling nearest upsampling,
a 3x3 conv, group norm and LeakyReLU, and a 3x3 conv with tanh. Group norm (per sample) rather than batch
norm, so a crop drawn from the decoder never depends on the batch it is drawn in. Channels as FastGAN's:
``width * min(8, max(1, S / (2 r)))`` at resolution ``r``.

Conditional (``n_classes > 0``, a CVAE): the encoder sees the class as one-hot input maps, the decoder as a
one-hot vector concatenated to z.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from blendaug.gan.fastgan_models import channels
from blendaug.gan.models import n_doublings


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(8 if c % 8 == 0 else 1, c)


class Encoder(nn.Module):
    """image (B, 3, S, S) [+ y] -> posterior mean and log-variance, (B, nz) each."""

    def __init__(self, image_size: int = 64, nz: int = 64, width: int = 32, n_classes: int = 0):
        super().__init__()
        n = n_doublings(image_size)
        self.n_classes = n_classes
        layers, cin = [], 3 + n_classes
        for k in range(1, n + 1):  # S/2, ..., 4
            c = channels(image_size, image_size // 2**k, width)
            layers += [nn.Conv2d(cin, c, 4, 2, 1), _norm(c), nn.LeakyReLU(0.2)]
            cin = c
        self.features = nn.Sequential(*layers)  # c4 x 4 x 4
        self.to_stats = nn.Linear(cin * 16, 2 * nz)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.n_classes:
            maps = F.one_hot(y, self.n_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
            x = torch.cat([x, maps], dim=1)  # B x (3 + K) x S x S
        mu, logvar = self.to_stats(self.features(x).flatten(1)).chunk(2, dim=1)  # B x nz each
        return mu, logvar.clamp(-30.0, 20.0)


class Decoder(nn.Module):
    """z (B, nz) [+ y] -> image (B, 3, S, S) in [-1, 1]."""

    def __init__(self, image_size: int = 64, nz: int = 64, width: int = 32, n_classes: int = 0):
        super().__init__()
        n = n_doublings(image_size)
        self.nz, self.n_classes = nz, n_classes
        self.c4 = channels(image_size, 4, width)
        self.from_z = nn.Linear(nz + n_classes, self.c4 * 16)
        layers, cin = [], self.c4
        for k in range(1, n + 1):  # 8, ..., S
            c = channels(image_size, 4 * 2**k, width)
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, c, 3, 1, 1), _norm(c),
                       nn.LeakyReLU(0.2)]  # fmt: skip
            cin = c
        self.net = nn.Sequential(*layers, nn.Conv2d(cin, 3, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            z = torch.cat([z, F.one_hot(y, self.n_classes).to(z.dtype)], dim=1)  # B x (nz + K)
        h = F.leaky_relu(self.from_z(z), 0.2).view(-1, self.c4, 4, 4)  # c4 x 4 x 4
        return self.net(h)


@torch.no_grad()
def init_weights(model: nn.Module, gen: torch.Generator) -> None:
    """torch's default weight init (U(-b, b), b = 1 / sqrt(fan_in)) drawn from an explicit generator; biases 0,
    norm scales 1."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            bound = fan_in**-0.5
            m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 2 * bound - bound)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.GroupNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def vae_loss(x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, sigma: float,
             beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """(loss, per-pixel MSE, KL) of a batch; images in [-1, 1], ``sigma`` the decoder's pixel noise on [0, 1].

    loss = sum over pixels of ``((x_hat - x) / 2)^2 / (2 sigma^2)`` (the Gaussian negative log-likelihood up to
    a constant) + ``beta`` * KL(q(z|x) || N(0, I)), both per image, averaged over the batch (in fp32).
    """
    sq = ((x_hat.float() - x.float()) / 2) ** 2  # B x 3 x S x S, on the [0, 1] scale
    nll = sq.flatten(1).sum(1) / (2 * sigma**2)  # B
    kl = 0.5 * (mu.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).sum(1)  # B
    return (nll + beta * kl).mean(), sq.mean(), kl.mean()
