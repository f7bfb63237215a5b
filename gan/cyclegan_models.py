"""CycleGAN's networks (Zhu et al. 2017): a ResNet generator, a PatchGAN discriminator and the image pool.

As in the authors' reference code (``resnet_9blocks`` / ``basic`` D, instance norm without affine
parameters, N(0, 0.02) init), sized for object crops: the generator halves the side twice (32 px ->
8 x 8) and keeps ``n_blocks`` residual blocks there; the discriminator's ``n_layers`` (2 at 32 px:
34 px patches, 6 x 6 of them) sets the patch size. Every init draws from a given ``torch.Generator``.
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(c: int) -> nn.Module:
    return nn.InstanceNorm2d(c, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), _norm(c), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), _norm(c),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image to image, (B, 3, S, S) in [-1, 1] -> the same shape, via c7s1-w, d2w, d4w, R4w x n, u2w, uw, c7s1-3.

    With ``residual`` the last layer's output is a correction added to the input before the tanh,
    ``tanh(atanh(x) + head)``, and :func:`init_weights` zeroes the head: the translator starts as the
    identity and learns only what differs between the domains (the refiner of SimGAN, Shrivastava et al.
    2017, a sim-to-real translator too). On toyworld crops the plain generator still drew grey, noisy cars
    after 400 steps; see gan/README.md.
    """

    def __init__(self, width: int = 32, n_blocks: int = 6, residual: bool = False):
        super().__init__()
        self.residual = residual
        w = width
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, w, 7), _norm(w), nn.ReLU(True)]  # w x S x S
        for mult in (1, 2):  # (2w) x S/2 x S/2, then (4w) x S/4 x S/4
            layers += [nn.Conv2d(w * mult, w * mult * 2, 3, stride=2, padding=1), _norm(w * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(4 * w) for _ in range(n_blocks)]
        for mult in (4, 2):  # back up to w x S x S
            layers += [nn.ConvTranspose2d(w * mult, w * mult // 2, 3, stride=2, padding=1, output_padding=1),
                       _norm(w * mult // 2), nn.ReLU(True)]  # fmt: skip
        self.net = nn.Sequential(*layers, nn.ReflectionPad2d(3))
        self.head = nn.Conv2d(w, 3, 7)  # 3 x S x S, before the tanh

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(self.net(x))
        if self.residual:  # clamped so that atanh stays finite on saturated pixels
            return torch.tanh(torch.atanh(x.clamp(-0.999, 0.999)) + y)
        return torch.tanh(y)


class PatchDiscriminator(nn.Module):
    """PatchGAN: one real/fake score per overlapping patch, (B, 3, S, S) -> (B, 1, P, P) (LSGAN: no sigmoid)."""

    def __init__(self, width: int = 32, n_layers: int = 2):
        super().__init__()
        w = width
        layers: list[nn.Module] = [nn.Conv2d(3, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for k in range(1, n_layers + 1):
            prev, mult = mult, min(2**k, 8)
            stride = 2 if k < n_layers else 1
            layers += [nn.Conv2d(w * prev, w * mult, 4, stride=stride, padding=1), _norm(w * mult),
                       nn.LeakyReLU(0.2, True)]  # fmt: skip
        layers += [nn.Conv2d(w * mult, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@torch.no_grad()
def init_weights(module: nn.Module, gen: torch.Generator) -> nn.Module:
    """Conv weights from N(0, 0.02), biases 0 (the reference's ``normal`` init), drawn from ``gen``."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.02)
            if m.bias is not None:
                m.bias.zero_()
    if isinstance(module, ResnetGenerator) and module.residual:
        module.head.weight.zero_()
    return module


class ImagePool:
    """A history of generated images for the discriminators (Shrivastava et al. 2017), as CycleGAN keeps one.

    Until full, each image goes in and comes back; then each comes back with probability 1/2, or else a
    random stored image comes back and the new one takes its place. Draws come from the caller's
    generator; :meth:`state_dict` holds the stored images, so a resumed run continues the same history.
    """

    def __init__(self, size: int):
        self.size = size
        self.images: torch.Tensor | None = None  # size x 3 x S x S once the first batch arrives
        self.count = 0

    def query(self, batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.size == 0:
            return batch
        if self.images is None:
            self.images = torch.zeros((self.size, *batch.shape[1:]), dtype=batch.dtype, device=batch.device)
        out = []
        for image in batch.detach():
            if self.count < self.size:
                self.images[self.count] = image
                self.count += 1
                out.append(image)
            elif torch.rand(1, generator=gen).item() < 0.5:
                k = int(torch.randint(0, self.size, (1,), generator=gen))
                out.append(self.images[k].clone())
                self.images[k] = image
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        return {"images": None if self.images is None else self.images.clone(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        images = state["images"]
        self.images, self.count = None if images is None else images.clone(), int(state["count"])
