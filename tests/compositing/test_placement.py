"""Placement: sizes from real boxes, orientation, overlap and truncation rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blendaug.compositing.placement import (
    box_sizes_by_class,
    ioa,
    object_size_for_box,
    orient_object,
    parse_range,
    place_object,
    sample_box_size,
    sizes_that_fit,
    visible_box,
)


def test_parse_range():
    assert parse_range("1-4") == (1, 4)
    assert parse_range("3") == (3, 3)
    for bad in ("4-1", "a-b", "1-2-3", "-1"):
        with pytest.raises(ValueError):
            parse_range(bad)


def test_box_sizes_by_class_splits_by_class():
    boxes = [np.array([[0, 0, 10, 20], [5, 5, 8, 9]], float), np.array([[1, 1, 4, 2]], float)]
    ids = [np.array([0, 1]), np.array([1])]
    sizes = box_sizes_by_class(boxes, ids, 3)
    assert sizes[0].tolist() == [[10, 20]]
    assert sizes[1].tolist() == [[3, 4], [3, 1]]
    assert sizes[2].shape == (0, 2)


def test_sample_box_size_draws_real_pairs_jointly_and_respects_max():
    sizes = np.array([[10.0, 20.0], [30.0, 5.0]])
    rng = np.random.default_rng(0)
    drawn = {sample_box_size(rng, sizes) for _ in range(50)}
    assert drawn == {(10.0, 20.0), (30.0, 5.0)}
    assert {sample_box_size(rng, sizes_that_fit(sizes, (15, 100))) for _ in range(20)} == {(10.0, 20.0)}
    assert sample_box_size(rng, sizes_that_fit(sizes, (4, 4))) is None
    clamped = [sample_box_size(rng, sizes[:1], jitter=0.5, max_wh=(10.5, 99)) for _ in range(50)]
    assert all(w <= 10.5 for w, _ in clamped) and any(w < 10 for w, _ in clamped)
    w, h = sample_box_size(rng, sizes, jitter=0.1)
    assert math.isclose(w / h, 0.5) or math.isclose(w / h, 6.0)


def test_object_size_for_box_quarter_turns_swap_sides():
    assert object_size_for_box((40, 80), 0) == (40, 80)
    assert object_size_for_box((40, 80), 90) == (80, 40)
    assert object_size_for_box((40, 80), 180) == (40, 80)


def test_object_size_for_box_solves_the_rotated_rectangle():
    for box, angle in (((50, 50), 30.0), ((40, 80), 15.0), ((80, 40), 100.0), ((60, 45), -20.0)):
        a, b = object_size_for_box(box, angle)
        c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
        assert a > 0 and b > 0
        assert math.isclose(a * c + b * s, box[0], rel_tol=1e-9)
        assert math.isclose(a * s + b * c, box[1], rel_tol=1e-9)
    # 50x50 at 30 degrees is a square of side 50 / (cos 30 + sin 30).
    assert math.isclose(object_size_for_box((50, 50), 30.0)[0], 50 / (math.cos(math.pi / 6) + 0.5))
    with pytest.raises(ValueError):
        object_size_for_box((20, 80), 40.0)


def _rotated_rect_box(ab, angle):
    c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    return ab[0] * c + ab[1] * s, ab[0] * s + ab[1] * c


def test_orient_object_gives_the_sampled_box_in_every_mode():
    rng = np.random.default_rng(0)
    assert orient_object(rng, "none", (40, 80)) == (0.0, (40, 80))
    quarters = {orient_object(rng, "90", (40, 80))[0] for _ in range(60)}
    assert quarters == {0.0, 90.0, 180.0, 270.0}
    for aspect in (None, 1.0, 2.2, 0.4):
        for box in ((40, 80), (60, 58), (90, 30)):
            for _ in range(40):
                angle, ab = orient_object(rng, "any", box, aspect)
                assert ab[0] > 0 and ab[1] > 0
                w, h = _rotated_rect_box(ab, angle)
                assert math.isclose(w, box[0], rel_tol=1e-9) and math.isclose(h, box[1], rel_tol=1e-9)


def test_orient_object_keeps_an_elongated_object_along_the_box():
    rng = np.random.default_rng(0)
    # A tall box and a wide object: an odd quarter turn; and the reverse.
    assert {orient_object(rng, "90", (40, 80), object_aspect=2.0)[0] for _ in range(40)} == {90.0, 270.0}
    assert {orient_object(rng, "90", (40, 80), object_aspect=0.5)[0] for _ in range(40)} == {0.0, 180.0}
    # A car (2:1) filling a square box lies on the diagonal, its aspect kept.
    for _ in range(20):
        angle, (a, b) = orient_object(rng, "any", (60, 60), object_aspect=2.0)
        assert math.isclose(abs(angle - 90 * round(angle / 90)), 45.0)
        assert math.isclose(max(a, b) / min(a, b), 2.0)
    # A box exactly the object's shape: no tilt.
    angle, (a, b) = orient_object(rng, "any", (80, 40), object_aspect=2.0)
    assert angle % 180 == 0 and (a, b) == (80, 40)


def test_ioa_is_intersection_over_the_smaller_area():
    box = np.array([0, 0, 10, 10.0])
    others = np.array([[5, 0, 15, 10], [0, 0, 2, 2], [20, 20, 30, 30], [0, 0, 100, 100]], float)
    assert ioa(box, others).tolist() == [0.5, 1.0, 0.0, 1.0]


def test_place_object_keeps_inside_and_below_overlap():
    rng = np.random.default_rng(0)
    mask = np.zeros((12, 14), bool)
    mask[2:10, 3:11] = True  # an 8x8 object inside a padded canvas
    occupied = np.array([[0, 0, 30, 30], [50, 50, 60, 60]], float)
    for _ in range(200):
        p = place_object(rng, mask, (64, 64), occupied, 0.1, tries=50)
        assert p is not None
        x1, y1, x2, y2 = p.box_xyxy_px
        assert (x2 - x1, y2 - y1) == (8, 8)
        assert 0 <= x1 and 0 <= y1 and x2 <= 64 and y2 <= 64
        assert (x1, y1) == (p.x0 + 3, p.y0 + 2)
        assert ioa(np.array(p.box_xyxy_px, float), occupied).max() <= 0.1


def test_place_object_gives_up_when_nothing_fits():
    mask = np.ones((10, 10), bool)
    rng = np.random.default_rng(0)
    assert place_object(rng, mask, (8, 8), np.zeros((0, 4)), 0.1) is None  # object larger than the image
    full = np.array([[0, 0, 40, 40]], float)
    assert place_object(rng, mask, (40, 40), full, 0.1) is None  # every position overlaps


def test_truncation_keeps_the_visible_fraction():
    rng = np.random.default_rng(0)
    mask = np.ones((10, 20), bool)
    seen_outside = False
    for _ in range(300):
        p = place_object(rng, mask, (50, 50), np.zeros((0, 4)), 0.1, truncate=0.3, tries=50)
        x1, y1, x2, y2 = p.box_xyxy_px
        assert 0 <= x1 < x2 <= 50 and 0 <= y1 < y2 <= 50
        assert (x2 - x1) * (y2 - y1) >= 0.7 * 200 - 1e-9
        seen_outside |= p.x0 < 0 or p.y0 < 0 or p.x0 + 20 > 50 or p.y0 + 10 > 50
    assert seen_outside


def test_visible_box_clips_to_the_mask_pixels_inside():
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    assert visible_box(mask, 10, 10, (100, 100)) == (11, 11, 14, 14)
    assert visible_box(mask, -2, -1, (100, 100)) == (0, 0, 2, 3)
    assert visible_box(mask, 99, 0, (100, 100)) is None
