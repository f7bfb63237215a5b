"""Masks: the soft shapes' 0.5 level sits at the crop's context padding; GrabCut and alpha masks."""

from __future__ import annotations

import numpy as np
import pytest

from blendaug.compositing.masks import (
    MASKS,
    letterbox_content,
    object_extent,
    object_inset,
    object_region,
    soft_shape_mask,
)
from blendaug.data.errors import DataError


@pytest.mark.parametrize("shape", ["rect", "ellipse"])
def test_soft_mask_is_one_inside_zero_at_the_border_and_half_at_the_object_edge(shape):
    m = soft_shape_mask(60, 60, shape)
    assert m.dtype == np.float32 and m.shape == (60, 60)
    assert m[30, 30] == 1.0
    assert m[0, 0] == 0.0 and m[0, 30] < 0.1 and m[30, 59] < 0.1
    # 60 px crop made with pad 0.1: 5 px of context per side, so the object is pixels 5..54.
    assert object_inset(60) == pytest.approx(5.0)
    assert object_region(m) == (5, 5, 55, 55)


def test_rect_mask_fills_its_corners_more_than_the_ellipse():
    rect, ell = soft_shape_mask(60, 60, "rect"), soft_shape_mask(60, 60, "ellipse")
    assert rect[8, 8] > 0.5 > ell[8, 8]
    assert (rect > 0.5).sum() > (ell > 0.5).sum()


def test_soft_mask_follows_a_non_square_crop():
    m = soft_shape_mask(36, 72, "rect")
    assert object_region(m) == (6, 3, 66, 33)


def test_grabcut_finds_a_centred_object_and_is_deterministic():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 40, (64, 64, 3), dtype=np.uint8)  # dark textured ground
    crop[20:44, 14:50] = (230, 40, 40)  # a red car, wider than tall
    m1 = MASKS["grabcut"](crop, None)
    m2 = MASKS["grabcut"](crop, None)
    assert np.array_equal(m1, m2)
    x1, y1, x2, y2 = object_region(m1)
    assert abs(x1 - 14) <= 2 and abs(x2 - 50) <= 2 and abs(y1 - 20) <= 2 and abs(y2 - 44) <= 2


def test_alpha_mask_uses_the_alpha_channel_and_needs_one():
    crop = np.zeros((10, 10, 3), np.uint8)
    alpha = np.zeros((10, 10), np.uint8)
    alpha[2:5, 3:9] = 255
    assert object_region(MASKS["alpha"](crop, alpha)) == (3, 2, 9, 5)
    with pytest.raises(DataError, match="no alpha"):
        MASKS["alpha"](crop, None)


def test_object_region_of_an_empty_mask_is_none():
    assert object_region(np.zeros((4, 4), np.float32)) is None


def test_object_extent_finds_the_sub_pixel_half_level():
    m = soft_shape_mask(64, 64, "rect")  # the edge is 5.33 px in: between pixel edges
    x1, y1, x2, y2 = object_extent(m)
    assert x1 == pytest.approx(64 / 12, abs=0.02) and x2 == pytest.approx(64 - 64 / 12, abs=0.02)
    assert y1 == pytest.approx(x1) and y2 == pytest.approx(x2)
    hard = np.zeros((10, 12), np.float32)
    hard[2:7, 3:11] = 1.0
    assert object_extent(hard) == (3.0, 2.0, 11.0, 7.0)
    edge = np.ones((4, 4), np.float32)
    assert object_extent(edge) == (0.0, 0.0, 4.0, 4.0)
    assert object_extent(np.zeros((3, 3), np.float32)) is None


def test_letterbox_bars_are_left_out_of_the_mask():
    rng = np.random.default_rng(0)
    crop = np.full((64, 64, 3), 114, np.uint8)
    crop[16:48] = rng.integers(0, 255, (32, 64, 3), dtype=np.uint8)  # a wide box letterboxed top and bottom
    assert letterbox_content(crop) == (0, 16, 64, 48)
    x1, y1, x2, y2 = object_extent(MASKS["rect"](crop, None))
    assert y1 > 16 and y2 < 48 and (x2 - x1) / (y2 - y1) == pytest.approx(2.0, rel=0.02)
    assert MASKS["ellipse"](crop, None)[:16].max() == 0.0
    plain = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert letterbox_content(plain) == (0, 0, 64, 64)
    grey = np.full((64, 64, 3), 114, np.uint8)  # all grey: no content found, the whole crop counts
    assert letterbox_content(grey) == (0, 0, 64, 64)
