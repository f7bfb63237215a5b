"""Blend modes and modifiers: exact expectations where the maths allows them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blendaug.compositing.blend import (
    BLEND_MODES,
    MODIFIERS,
    alpha_composite,
    color_transfer,
    motion_kernel,
    noise_sigma,
    parse_blend,
    poisson_clone,
    sharpness,
    transfer_matrix,
)


def _scene(size=64, box=(16, 48)):
    rng = np.random.default_rng(0)
    dst = rng.integers(90, 110, (size, size, 3), dtype=np.uint8)
    obj = np.zeros_like(dst)
    obj[:] = (200, 30, 60)
    mask = np.zeros((size, size), np.float32)
    lo, hi = box
    mask[lo:hi, lo:hi] = 1.0
    return dst, obj, mask


def test_none_copies_the_object_pixels_exactly_where_the_mask_is_above_half():
    dst, obj, mask = _scene()
    mask[10, 10] = 0.6
    mask[11, 11] = 0.4
    out = BLEND_MODES["none"](dst, obj, mask, np.random.default_rng(0))
    hard = mask > 0.5
    assert np.array_equal(out[hard], obj[hard])
    assert np.array_equal(out[~hard], dst[~hard])


@pytest.mark.parametrize("mode", ["gaussian", "box"])
def test_feathered_modes_keep_the_centre_and_the_far_background(mode):
    dst, obj, mask = _scene()
    out = BLEND_MODES[mode](dst, obj, mask, np.random.default_rng(0))
    assert np.array_equal(out[24:40, 24:40], obj[24:40, 24:40])  # alpha is exactly 1 inside
    assert np.array_equal(out[:8], dst[:8]) and np.array_equal(out[:, :8], dst[:, :8])
    edge = out[16, 32].astype(int)  # on the mask edge alpha is about one half
    assert np.all(np.abs(edge - (obj[16, 32].astype(int) + dst[16, 32]) / 2) <= 40)


def test_alpha_composite_exact_values():
    dst = np.full((1, 3, 3), 100, np.uint8)
    obj = np.full((1, 3, 3), 200, np.uint8)
    out = alpha_composite(dst, obj, np.array([[0.0, 0.25, 1.0]], np.float32))
    assert out[0, :, 0].tolist() == [100, 125, 200]


def _lap(img):
    return cv2.Laplacian(img.astype(np.float64), cv2.CV_64F, ksize=1)


def test_poisson_reproduces_the_object_gradients_inside_and_keeps_far_pixels():
    rng = np.random.default_rng(0)
    dst = np.full((96, 96, 3), 120, np.uint8)
    obj = cv2.GaussianBlur(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), (0, 0), 1.5)
    mask = np.zeros((96, 96), bool)
    mask[30:60, 34:62] = True
    out = poisson_clone(dst, obj, mask)
    inner = np.zeros_like(mask)
    inner[32:58, 36:60] = True
    assert np.abs(_lap(out)[inner] - _lap(obj)[inner]).max() <= 3.0  # uint8 rounding of 5 taps
    assert np.array_equal(out[:24], dst[:24]) and np.array_equal(out[:, :28], dst[:, :28])
    assert np.array_equal(out[70:], dst[70:]) and np.array_equal(out[:, 70:], dst[:, 70:])
    assert abs(out[30:60, 34:62].mean() - 120) < 10  # the level comes from the background border


def test_poisson_exact_cases():
    rng = np.random.default_rng(1)
    dst = cv2.GaussianBlur(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8), (0, 0), 1)
    mask = np.zeros((50, 70), bool)
    mask[10:40, 15:55] = True
    assert np.array_equal(poisson_clone(dst, dst, mask), dst)
    shifted = np.clip(dst.astype(int) + 30, 0, 255).astype(np.uint8)
    # A constant offset has no gradient: normal cloning removes it (where the shift did not clip).
    unclipped = (dst.astype(int) + 30 <= 255).all(axis=2)
    out = poisson_clone(dst, shifted, mask & unclipped)
    assert np.abs(out.astype(int) - dst).max() <= 1
    flat = np.full_like(dst, 200)
    assert np.array_equal(poisson_clone(dst, flat, mask, mixed=True), dst)  # background gradients always win


@pytest.mark.parametrize("mode", ["poisson", "poisson-mixed"])
def test_poisson_handles_a_mask_touching_the_roi_border(mode):
    dst, obj, mask = _scene(box=(0, 30))
    out = BLEND_MODES[mode](dst, obj, mask, np.random.default_rng(0))
    assert out.shape == dst.shape and out.dtype == np.uint8
    assert np.array_equal(out[40:], dst[40:])


def test_motion_kernel_is_a_normalised_line():
    k = motion_kernel(5, 0.0)
    assert k.sum() == pytest.approx(1.0)
    assert np.count_nonzero(k) == 5 and np.count_nonzero(k[2]) == 5
    k90 = motion_kernel(5, 90.0)
    assert np.count_nonzero(k90[:, 2]) == 5


def test_motion_blurs_the_object_edge_but_not_the_background():
    dst, obj, mask = _scene()
    obj[16:48, 16:32] = (250, 250, 250)  # an inner edge to smear
    out = BLEND_MODES["motion"](dst, obj, mask, np.random.default_rng(3))
    assert np.array_equal(out[:6], dst[:6])
    hard = BLEND_MODES["none"](dst, obj, mask, None)
    assert not np.array_equal(out[16:48, 16:48], hard[16:48, 16:48])


def _ycc_stats(x, where=None):
    ycc = cv2.cvtColor(x, cv2.COLOR_RGB2YCrCb).reshape(-1, 3).astype(np.float64)
    ycc = ycc if where is None else ycc[where.reshape(-1)]
    return ycc.mean(axis=0), ycc.std(axis=0)


def test_transfer_matrix_exact_cases():
    same = np.array([100.0, 120.0, 130.0]), np.array([10.0, 5.0, 4.0])
    np.testing.assert_allclose(transfer_matrix(*same, *same, 1.0), np.hstack([np.eye(3), np.zeros((3, 1))]),
                               atol=1e-12)
    # Raising the luma mean by 20 at full strength adds 20 to every RGB channel (A^-1 maps (1, 0, 0) to (1, 1, 1)).
    m = transfer_matrix(same[0], same[1], same[0] + np.array([20.0, 0, 0]), same[1], 1.0)
    np.testing.assert_allclose(m, np.hstack([np.eye(3), np.full((3, 1), 20.0)]), atol=1e-9)
    # Half strength goes half way; a flat source channel keeps its (zero) spread instead of dividing by it.
    np.testing.assert_allclose(transfer_matrix(same[0], same[1], same[0] + np.array([20.0, 0, 0]), same[1], 0.5)[:, 3],
                               10.0, atol=1e-9)
    flat = transfer_matrix(same[0], np.zeros(3), same[0], np.array([50.0, 50, 50]), 1.0)
    np.testing.assert_allclose(flat[:, :3], np.eye(3), atol=1e-12)


def test_color_transfer_matches_the_target_statistics():
    rng = np.random.default_rng(0)
    obj = np.clip(rng.normal((200, 60, 60), 12, (40, 40, 3)), 0, 255).astype(np.uint8)
    ref = np.clip(rng.normal((80, 120, 90), 15, (40, 40, 3)), 0, 255).astype(np.uint8)
    everywhere = np.ones((40, 40), bool)
    out = color_transfer(obj, everywhere, ref, everywhere, strength=1.0)
    (mu_out, sd_out), (mu_ref, sd_ref), (mu_obj, sd_obj) = _ycc_stats(out), _ycc_stats(ref), _ycc_stats(obj)
    assert np.all(np.abs(mu_out - mu_ref) < 1.0)  # 8-bit levels; rounding only
    assert np.all(np.abs(sd_out - sd_ref) < 1.0)
    half = color_transfer(obj, everywhere, ref, everywhere, strength=0.5)
    mu_half, sd_half = _ycc_stats(half)
    assert np.all(np.abs(mu_half - (mu_obj + mu_ref) / 2) < 1.0)
    assert np.all(np.abs(sd_half - sd_obj * (1 + sd_ref / sd_obj) / 2) < 1.0)
    assert color_transfer(obj, everywhere, ref, everywhere, strength=0.0) is obj

    # The perceptual (LAB) colour distance to the reference shrinks too: a red object becomes road-coloured.
    def lab_mean(x):
        return cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_RGB2LAB).reshape(-1, 3).mean(axis=0)

    assert np.linalg.norm(lab_mean(out) - lab_mean(ref)) < 0.1 * np.linalg.norm(lab_mean(obj) - lab_mean(ref))


def test_color_transfer_statistics_come_from_the_masks_and_only_where_changes():
    rng = np.random.default_rng(1)
    obj = rng.integers(150, 250, (30, 30, 3), dtype=np.uint8)
    obj[:, :10] = (0, 0, 255)  # outside obj_mask: must not count
    ref = np.full((30, 30, 3), 90, np.uint8)
    ref[:5] = (255, 0, 0)  # outside ref_mask: must not count
    obj_mask, ref_mask = np.zeros((30, 30), bool), np.ones((30, 30), bool)
    obj_mask[:, 10:] = True
    ref_mask[:5] = False
    out = color_transfer(obj, obj_mask, ref, ref_mask, strength=1.0)
    mu, sd = _ycc_stats(out, obj_mask)
    assert np.all(np.abs(mu - _ycc_stats(ref, ref_mask)[0]) < 1.0) and np.all(sd < 1.0)  # a flat grey 90
    where = np.zeros((30, 30), bool)
    where[10:20] = True
    partial = color_transfer(obj, obj_mask, ref, ref_mask, strength=1.0, where=where)
    assert np.array_equal(partial[where], out[where]) and np.array_equal(partial[~where], obj[~where])


def test_color_modifier_recolours_the_object_only():
    rng = np.random.default_rng(2)
    dst = rng.integers(60, 80, (48, 48, 3), dtype=np.uint8)
    obj = dst.copy()  # as paste_object builds it: the background, with the canvas pasted in
    obj[8:40, 8:40] = (230, 40, 40)
    mask = np.zeros((48, 48), np.float32)
    mask[8:40, 8:40] = cv2.GaussianBlur(np.pad(np.ones((24, 24), np.float32), 4), (0, 0), 2)
    out = MODIFIERS["color"](obj, mask, dst, np.random.default_rng(0))
    assert np.array_equal(out[mask == 0], obj[mask == 0])  # the background around the canvas is left alone
    inside = mask > 0.5
    before, after, ring = (_ycc_stats(x, w)[0] for x, w in ((obj, inside), (out, inside), (dst, ~inside)))
    np.testing.assert_allclose(after, before + 0.5 * (ring - before), atol=1.0)  # COLOR_STRENGTH of the way
    assert not np.array_equal(out[(mask > 0) & ~inside], obj[(mask > 0) & ~inside])  # the soft edge follows
    flat = np.zeros_like(mask)
    assert MODIFIERS["color"](obj, flat, dst, np.random.default_rng(0)) is obj


def test_noise_modifier_brings_a_clean_object_towards_a_noisy_background():
    rng = np.random.default_rng(0)
    dst = np.clip(rng.normal(100, 8, (64, 64, 3)), 0, 255).astype(np.uint8)
    dst = np.repeat(dst[:, :, :1], 3, axis=2)
    obj = np.full_like(dst, 180)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1
    out = MODIFIERS["noise"](obj, mask, dst, np.random.default_rng(1))
    inside = np.zeros((64, 64), bool)
    inside[18:46, 18:46] = True
    assert noise_sigma(obj, inside) == 0.0
    assert noise_sigma(out, inside) == pytest.approx(noise_sigma(dst, ~inside), rel=0.35)


def test_noise_modifier_blurs_a_sharper_object_on_a_smooth_background():
    rng = np.random.default_rng(0)
    dst = cv2.GaussianBlur(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), (0, 0), 2.0)
    obj = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1
    out = MODIFIERS["noise"](obj, mask, dst, np.random.default_rng(1))
    inside = mask > 0.5
    assert sharpness(out, inside) < sharpness(obj, inside) / 4


def test_parse_blend():
    assert parse_blend("gaussian") == (["gaussian"], [])
    assert parse_blend("noise+poisson+color") == (["poisson"], ["color", "noise"])
    assert parse_blend("all")[0] == list(BLEND_MODES)
    for bad in ("", "color", "gaussian+box", "fancy", "gaussian+fancy"):
        with pytest.raises(ValueError):
            parse_blend(bad)


@pytest.mark.parametrize("mode", list(BLEND_MODES))
def test_every_mode_returns_a_uint8_image_of_the_roi_shape(mode):
    dst, obj, mask = _scene()
    out = BLEND_MODES[mode](dst, obj, mask, np.random.default_rng(0))
    assert out.shape == dst.shape and out.dtype == np.uint8
