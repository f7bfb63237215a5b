"""Models, DiffAugment and losses of the GAN zoo: shapes, init, exact values on hand-made inputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from blendaug.data.errors import ConfigError
from blendaug.gan.diffaugment import AUGMENT_FNS, contrast, cutout, diff_augment, parse_policy, saturation, translation
from blendaug.gan.losses import bce_d_loss, bce_g_loss, gradient_penalty, wgan_d_loss, wgan_g_loss
from blendaug.gan.models import calibrated_copy
from blendaug.gan.registry import GAN_ARCHS, get_arch


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("arch", sorted(GAN_ARCHS))
@pytest.mark.parametrize("size", [32, 64, 128])
def test_shapes_every_arch_and_size(arch, size):
    g, d = get_arch(arch).build(size, n_classes=3, gen=gen(), nz=16, width=4)
    y = torch.tensor([0, 2])
    images = g(torch.randn(2, 16, generator=gen()), y)
    assert images.shape == (2, 3, size, size)
    assert images.abs().max() <= 1
    assert d(images, y).shape == (2,)


def test_conditional_archs_use_the_class():
    for arch in ("cdcgan", "cwgan-gp"):
        g, d = get_arch(arch).build(32, n_classes=3, gen=gen(), nz=16, width=4)
        g.eval()
        z = torch.randn(1, 16, generator=gen()).repeat(2, 1)
        y = torch.tensor([0, 1])
        images = g(z, y)
        assert not torch.equal(images[0], images[1])
        same = images[:1].repeat(2, 1, 1, 1)
        out = d(same, y)
        assert out[0] != out[1]


def test_wgan_critic_has_no_batch_norm_and_dcgan_has():
    _, critic = get_arch("wgan-gp").build(32, 0, gen(), width=4)
    _, disc = get_arch("dcgan").build(32, 0, gen(), width=4)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in critic.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in disc.modules())


def test_init_is_dcgan_normal_and_seeded():
    g, d = get_arch("dcgan").build(64, 0, gen(3))
    weights = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(weights.mean().item()) < 1e-3 and abs(weights.std().item() - 0.02) < 1e-3
    bn = [m for m in d.modules() if isinstance(m, nn.BatchNorm2d)][0]
    assert abs(bn.weight.mean().item() - 1) < 0.01 and torch.equal(bn.bias, torch.zeros_like(bn.bias))
    torch.manual_seed(123)  # the global RNG must not matter
    g2, _ = get_arch("dcgan").build(64, 0, gen(3))
    assert all(torch.equal(a, b) for a, b in zip(g.state_dict().values(), g2.state_dict().values(), strict=True))


def test_bad_size_and_arch_are_config_errors():
    with pytest.raises(ConfigError, match="--size: 48"):
        get_arch("dcgan").build(48, 0, gen())
    with pytest.raises(ConfigError, match="did you mean 'wgan-gp'"):
        get_arch("wgan_gp")


def test_parse_policy():
    assert parse_policy("color, translation,cutout") == ("color", "translation", "cutout")
    assert parse_policy("") == ()
    with pytest.raises(ConfigError, match="did you mean 'color'"):
        parse_policy("colour")


def test_empty_policy_is_identity_without_copy():
    x = torch.rand(2, 3, 8, 8)
    assert diff_augment(x, (), gen()) is x


def test_translation_moves_a_pixel_by_at_most_an_eighth_and_fills_zeros():
    x = torch.zeros(16, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    out = translation(x, gen())
    assert out.shape == x.shape and out.sum().item() == 16  # every pixel lands inside
    pos = out.flatten(1).argmax(1)
    dy, dx = pos // 16 - 8, pos % 16 - 8
    assert dy.abs().max() <= 2 and dx.abs().max() <= 2 and (dy.abs() + dx.abs()).sum() > 0
    ones = translation(torch.ones(16, 1, 16, 16), gen())
    shifted = (ones == 0).flatten(1).any(1)
    assert torch.equal(shifted, (dy != 0) | (dx != 0))  # same seed, same shifts: zeros enter where it shifted


def test_cutout_zeroes_a_clipped_half_size_square():
    out = cutout(torch.ones(32, 3, 8, 8), gen())
    zeros = (out[:, 0] == 0).flatten(1).sum(1)
    assert zeros.min() >= 4 and zeros.max() <= 16  # 4x4 square, clipped at a corner down to 2x2
    assert (out[:, 0] == out[:, 1]).all()  # the same mask on every channel


def test_colour_transforms_keep_what_they_cannot_change():
    gray = torch.rand(4, 1, 8, 8).repeat(1, 3, 1, 1)
    assert torch.allclose(saturation(gray, gen()), gray)
    flat = torch.full((4, 3, 8, 8), 0.3)
    assert torch.allclose(contrast(flat, gen()), flat)
    bright = AUGMENT_FNS["color"][0](flat, gen())
    offsets = bright[:, 0, 0, 0] - 0.3
    assert (offsets.abs() <= 0.5).all() and torch.allclose(
        bright, 0.3 + offsets[:, None, None, None].expand(4, 3, 8, 8)
    )


def test_diff_augment_is_seeded_and_differentiable():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    policy = parse_policy("color,translation,cutout")
    a, b = diff_augment(x, policy, gen(1)), diff_augment(x, policy, gen(1))
    assert torch.equal(a, b) and not torch.equal(a, diff_augment(x, policy, gen(2)))
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_bce_losses_exact():
    zero = torch.zeros(4)
    assert math.isclose(bce_d_loss(zero, zero).item(), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(bce_g_loss(zero).item(), math.log(2), rel_tol=1e-6)
    # One-sided smoothing: real logit ln 9 (D = 0.9) with target 0.9 costs the entropy of 0.9; fakes unchanged.
    real = torch.full((4,), math.log(9))
    entropy = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert math.isclose(bce_d_loss(real, zero, 0.1).item(), entropy + math.log(2), rel_tol=1e-5)


def test_wgan_losses_exact():
    assert wgan_d_loss(torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])).item() == -2.5
    assert wgan_g_loss(torch.tensor([1.0, 2.0])).item() == -1.5


def test_gradient_penalty_of_a_linear_critic():
    w = torch.full((1, 2, 2), 0.5)

    class Linear(nn.Module):
        def forward(self, x, y=None):
            return (x * w).flatten(1).sum(1)

    real, fake = torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2)
    # grad_x D = w for every sample: ||w|| = sqrt(4 * 0.25) = 1, so the penalty is 0; scaled w by 3 -> 10 * (3 - 1)^2.
    assert gradient_penalty(Linear(), real, fake, None, gen()).item() == pytest.approx(0.0, abs=1e-6)
    w = w * 3
    assert gradient_penalty(Linear(), real, fake, None, gen()).item() == pytest.approx(40.0, rel=1e-5)


def test_calibrated_copy_fixes_trailing_batch_norm_statistics():
    g, _ = get_arch("cdcgan").build(32, n_classes=3, gen=gen(), nz=16, width=8)
    z, y = torch.randn(64, 16, generator=gen(1)), torch.randint(0, 3, (64,), generator=gen(2))
    with torch.no_grad():
        train_std = g.train()(z, y).std()
        raw_eval_std = g.eval()(z, y).std()  # running stats still near mean 0 / var 1: near-constant output
        before = {k: v.clone() for k, v in g.state_dict().items()}
        calibrated = calibrated_copy(g, gen(3))
        cal_std = calibrated(z, y).std()
    assert raw_eval_std < 0.2 * train_std and 0.5 * train_std < cal_std < 2 * train_std
    assert not calibrated.training and all(torch.equal(before[k], v) for k, v in g.state_dict().items())
    again = calibrated_copy(g, gen(3))
    pairs = zip(calibrated.state_dict().values(), again.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_conditional_batch_norm_exact_and_initialised():
    from blendaug.gan.models import G_CONDITIONING, ConditionalBatchNorm2d, Generator, init_weights

    cbn = ConditionalBatchNorm2d(2, n_classes=3)
    with torch.no_grad():
        cbn.scale.weight.copy_(torch.tensor([[1.0, 1.0], [2.0, 3.0], [1.0, 1.0]]))
        cbn.shift.weight.copy_(torch.tensor([[0.0, 0.0], [5.0, -5.0], [0.0, 0.0]]))
    x = torch.randn(4, 2, 3, 3, generator=gen())
    y = torch.tensor([1, 1, 0, 2])
    normed = nn.BatchNorm2d(2, affine=False)(x)
    out = cbn(x, y)
    scale, shift = torch.tensor([2.0, 3.0])[:, None, None], torch.tensor([5.0, -5.0])[:, None, None]
    assert torch.allclose(out[0], normed[0] * scale + shift)
    assert torch.allclose(out[2], normed[2])
    g = Generator(32, nz=8, width=4, n_classes=3)
    init_weights(g, gen())
    scales = torch.cat([m.scale.weight.flatten() for m in g.modules() if isinstance(m, ConditionalBatchNorm2d)])
    assert abs(scales.mean().item() - 1) < 0.01 and g.embed is None and set(G_CONDITIONING) == {"cbn", "concat"}
    concat = Generator(32, nz=8, width=4, n_classes=3, cond="concat")
    assert concat.embed is not None and concat(torch.zeros(2, 8), torch.tensor([0, 1])).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="conditioning"):
        Generator(32, n_classes=3, cond="film")
