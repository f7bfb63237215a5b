"""FastGAN's networks (Liu et al., ICLR 2021, "Towards Faster and Stabilized GAN Training for High-fidelity
Few-shot Image Synthesis"), written from the paper for 32, 64 and 128 pixel crops.

Generator: z -> 4x4 (transposed conv, BN, GLU), then one up block per doubling (nearest upsampling, 3x3 conv,
BN, GLU; at 8, 32 and 128 px the paper's heavier block: two convs, each with injected per-pixel noise). The
*skip-layer excitation* (SLE) module gates the two largest feature maps channel-wise with the 4x4 and the
8x8 maps (pool to 4x4, 4x4 conv, Swish, 1x1 conv, sigmoid): at 128 px exactly the paper's 4 -> 64 and
8 -> 128. A 3x3 conv and tanh give the image. All convs are spectrally normalised, as in the paper's code.

Discriminator: a 4x4 stride-2 conv, then residual down blocks (a conv path and an average-pool path, averaged)
to 8x8, the S/2 map exciting the 8x8 one (SLE), and a patch head (1x1 conv, BN, LeakyReLU, 4x4 conv: 5x5
logits). It is *self-supervised*: two small decoders reconstruct, from its 8x8 features, the whole input,
and from a random quarter of its 16x16 features, that quarter of the input (both at ``recon_side``), which
forces it to keep features that describe the image rather than only what tells real from fake.

Class conditioning (``n_classes > 0``, not in the paper): class-conditional batch norm in the generator
(``gan.models.ConditionalBatchNorm2d``) and a projection term on the 8x8 features in the discriminator.
Channels: ``width * min(8, max(1, S / (2 r)))`` at resolution ``r``, so ``width`` channels at the two
largest maps, doubling per halving; at 32 px and width 24 this is the cDCGAN's 96/48/24.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from blendaug.gan.models import ConditionalBatchNorm2d, n_doublings


def channels(image_size: int, res: int, width: int) -> int:
    return width * min(8, max(1, image_size // (2 * res)))


def recon_side(image_size: int) -> int:
    """Side the discriminator's decoders reconstruct at: half the image, at most 32."""
    return min(image_size // 2, 32)


class Norm(nn.Module):
    """Batch norm, class-conditional when ``n_classes > 0``: (B, C, H, W), (B,) | None -> (B, C, H, W)."""

    def __init__(self, c: int, n_classes: int = 0):
        super().__init__()
        self.norm = ConditionalBatchNorm2d(c, n_classes) if n_classes else nn.BatchNorm2d(c)
        self.conditional = bool(n_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.norm(x, y) if self.conditional else self.norm(x)


class NoiseInjection(nn.Module):
    """``x + w * noise`` with a learned scalar ``w`` (0 at the start); the noise (B, 1, H, W) is given."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight * noise.to(x.dtype)


class UpBlock(nn.Module):
    """Upsample x2, conv3x3 -> 2c, norm, GLU -> c; ``comp``: a second conv, and noise after each conv."""

    def __init__(self, cin: int, cout: int, n_classes: int = 0, comp: bool = False):
        super().__init__()
        self.comp = comp
        self.conv1 = nn.Conv2d(cin, cout * 2, 3, 1, 1, bias=False)
        self.norm1 = Norm(cout * 2, n_classes)
        if comp:
            self.noise1, self.noise2 = NoiseInjection(), NoiseInjection()
            self.conv2 = nn.Conv2d(cout, cout * 2, 3, 1, 1, bias=False)
            self.norm2 = Norm(cout * 2, n_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, noise: list[torch.Tensor]) -> torch.Tensor:
        h = self.conv1(F.interpolate(x, scale_factor=2, mode="nearest"))  # 2c x 2H x 2W
        if self.comp:
            h = self.noise1(h, noise.pop(0))
        h = F.glu(self.norm1(h, y), dim=1)  # c x 2H x 2W
        if self.comp:
            h = F.glu(self.norm2(self.noise2(self.conv2(h), noise.pop(0)), y), dim=1)
        return h


class SLE(nn.Module):
    """Skip-layer excitation: ``big * sigmoid(conv1x1(swish(conv4x4(pool4(small)))))``, a gate per channel."""

    def __init__(self, c_small: int, c_big: int):
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(c_small, c_big, 4, 1, 0, bias=False), nn.SiLU(),
                                  nn.Conv2d(c_big, c_big, 1, 1, 0, bias=False), nn.Sigmoid())  # fmt: skip

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        return big * self.gate(small)  # c_big x H x W, gated by c_big x 1 x 1


class FastGenerator(nn.Module):
    """z (B, nz) [+ class y (B,)] + noise maps -> image (B, 3, S, S) in [-1, 1] (see the module doc)."""

    def __init__(self, image_size: int = 64, nz: int = 128, width: int = 32, n_classes: int = 0):
        super().__init__()
        n = n_doublings(image_size)
        self.image_size, self.nz, self.n_classes = image_size, nz, n_classes
        self.res = [4 * 2**k for k in range(n + 1)]  # 4, 8, ..., S
        ch = {r: channels(image_size, r, width) for r in self.res}
        self.init = nn.ConvTranspose2d(nz, ch[4] * 2, 4, 1, 0, bias=False)  # 2 ch4 x 4 x 4
        self.init_norm = Norm(ch[4] * 2, n_classes)
        # The heavier block (two convs, noise) where log2(r) is odd, as the paper's 8, 32, 128, 512 px.
        self.ups = nn.ModuleList(UpBlock(ch[r // 2], ch[r], n_classes, comp=r.bit_length() % 2 == 0)
                                 for r in self.res[1:])  # fmt: skip
        self.sle = nn.ModuleDict({str(image_size // 2): SLE(ch[4], ch[image_size // 2]),
                                  str(image_size): SLE(ch[8], ch[image_size])})  # fmt: skip
        self.to_rgb = nn.Conv2d(ch[image_size], 3, 3, 1, 1, bias=False)
        # Side of each injected noise map, in the order forward() consumes them.
        self.noise_sides = [r for r, up in zip(self.res[1:], self.ups, strict=True) if up.comp for _ in range(2)]

    def draw_noise(self, batch: int, gen: torch.Generator, device: str | torch.device = "cpu") -> list[torch.Tensor]:
        """The per-pixel noise maps of a batch, (B, 1, r, r) each, from ``gen``."""
        return [torch.randn(batch, 1, r, r, generator=gen).to(device) for r in self.noise_sides]

    def forward(self, z: torch.Tensor, y: torch.Tensor | None, noise: list[torch.Tensor]) -> torch.Tensor:
        noise = list(noise)
        feats = {4: F.glu(self.init_norm(self.init(z[:, :, None, None]), y), dim=1)}  # ch4 x 4 x 4
        h = feats[4]
        for r, up in zip(self.res[1:], self.ups, strict=True):
            h = up(h, y, noise)  # ch_r x r x r
            if str(r) in self.sle:
                h = self.sle[str(r)](feats[4] if r == self.image_size // 2 else feats[8], h)
            feats[r] = h
        return torch.tanh(self.to_rgb(h))  # 3 x S x S


class DownBlock(nn.Module):
    """Halve the side: (conv4x4 s2, BN, LReLU, conv3x3, BN, LReLU + avgpool, conv1x1, BN, LReLU) / 2."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
                                  nn.LeakyReLU(0.2))  # fmt: skip
        self.direct = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(cin, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout),
                                    nn.LeakyReLU(0.2))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.main(x) + self.direct(x)) / 2


class Decoder(nn.Module):
    """(B, C, 8, 8) features -> (B, 3, side, side) image: up blocks of ``c`` channels, conv3x3, tanh."""

    def __init__(self, cin: int, c: int, side: int):
        super().__init__()
        layers, ch, r = [], cin, 8
        while r < side:
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, c * 2, 3, 1, 1, bias=False),
                       nn.BatchNorm2d(c * 2), nn.GLU(dim=1)]  # fmt: skip
            ch, r = c, r * 2
        self.net = nn.Sequential(*layers, nn.Conv2d(ch, 3, 3, 1, 1, bias=False), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FastDiscriminator(nn.Module):
    """image (B, 3, S, S) [+ y] -> patch logits (B, 5, 5), and with ``part`` (0-3) the two reconstructions."""

    def __init__(self, image_size: int = 64, width: int = 32, n_classes: int = 0):
        super().__init__()
        n = n_doublings(image_size)
        self.image_size = image_size
        res = [image_size // 2**k for k in range(1, n)]  # S/2, ..., 8
        ch = {r: channels(image_size, r, width) for r in res}
        self.from_rgb = nn.Sequential(nn.Conv2d(3, ch[res[0]], 4, 2, 1, bias=False), nn.LeakyReLU(0.2))
        self.downs = nn.ModuleList(DownBlock(ch[a], ch[b]) for a, b in zip(res, res[1:], strict=False))
        self.sle = SLE(ch[res[0]], ch[8]) if len(res) > 1 else None
        self.head = nn.Sequential(nn.Conv2d(ch[8], ch[8], 1, 1, 0, bias=False), nn.BatchNorm2d(ch[8]),
                                  nn.LeakyReLU(0.2), nn.Conv2d(ch[8], 1, 4, 1, 0, bias=False))  # 1 x 5 x 5
        self.project = nn.Embedding(n_classes, ch[8]) if n_classes else None
        side = recon_side(image_size)
        self.decode_all = Decoder(ch[8], width, side)
        self.decode_part = Decoder(ch[16], width, side)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, part: int | None = None):
        first = self.from_rgb(x)  # ch x S/2 x S/2
        h, feats = first, {first.shape[-1]: first}
        for down in self.downs:
            h = down(h)
            feats[h.shape[-1]] = h
        if self.sle is not None:
            h = self.sle(first, h)  # ch8 x 8 x 8
        logits = self.head(h).squeeze(1)  # B x 5 x 5
        if self.project is not None:
            logits = logits + (self.project(y) * h.sum(dim=(2, 3))).sum(dim=1)[:, None, None]
        if part is None:
            return logits
        f16 = feats[16]  # ch16 x 16 x 16: the quarter ``part`` (row-major) of it
        quarter = f16[:, :, (part // 2) * 8 : (part // 2) * 8 + 8, (part % 2) * 8 : (part % 2) * 8 + 8]
        return logits, self.decode_all(h), self.decode_part(quarter)


def quarter(x: torch.Tensor, part: int) -> torch.Tensor:
    """The quarter ``part`` (0: top left, 1: top right, 2: bottom left, 3: bottom right) of images (B, C, H, W)."""
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    return x[..., (part // 2) * h : (part // 2) * h + h, (part % 2) * w : (part % 2) * w + w]


@torch.no_grad()
def init_weights(model: nn.Module, gen: torch.Generator) -> None:
    """The paper's init from an explicit generator: convs N(0, 0.02), norm scales N(1, 0.02), biases 0;
    embeddings (conditional norm scales 1 + N(0, 0.02), shifts 0; projection N(0, 0.02))."""
    for m in model.modules():
        if isinstance(m, ConditionalBatchNorm2d):
            nn.init.normal_(m.scale.weight, 1.0, 0.02, generator=gen)
            nn.init.zeros_(m.shift.weight)
        elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=gen)
        elif isinstance(m, nn.BatchNorm2d) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02, generator=gen)
            nn.init.zeros_(m.bias)
    for name, m in model.named_modules():
        if isinstance(m, nn.Embedding) and name == "project":
            nn.init.normal_(m.weight, 0.0, 0.02, generator=gen)


def with_spectral_norm(model: nn.Module, gen: torch.Generator) -> nn.Module:
    """Spectral norm on every conv. torch draws its power-iteration vectors from the global RNG: they are drawn
    here under a seed taken from ``gen``, and the global RNG state is restored afterwards."""
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        for m in convs:
            spectral_norm(m)
    return model


def build(image_size: int, n_classes: int, gen: torch.Generator, nz: int = 128, width: int = 32,
          sn: bool = True) -> tuple[FastGenerator, FastDiscriminator]:  # fmt: skip
    """A freshly initialised (G, D) pair, every draw from ``gen``."""
    g = FastGenerator(image_size, nz, width, n_classes)
    d = FastDiscriminator(image_size, width, n_classes)
    for m in (g, d):
        init_weights(m, gen)
        if sn:
            with_spectral_norm(m, gen)
    return g, d
