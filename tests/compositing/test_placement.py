"""Placement: sizes from real boxes, overlap and truncation rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blendaug.compositing.context import boxes_fit
from blendaug.compositing.placement import (
    PLACEMENTS,
    Scene,
    box_sizes_by_class,
    get_placement,
    ioa,
    parse_range,
    place_at,
    place_object,
    propose_uniform,
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


def test_place_at_centres_the_mask_box_and_keeps_the_rules():
    mask = np.zeros((12, 14), bool)
    mask[2:10, 3:11] = True  # an 8x8 object inside a padded canvas
    p = place_at(mask, (20.0, 30.0), (64, 64), np.zeros((0, 4)), 0.1)
    assert p.box_xyxy_px == (16, 26, 24, 34) and (p.x0, p.y0) == (13, 24)
    assert place_at(mask, (20.0, 30.0), (64, 64), np.array([[18, 28, 30, 40]], float), 0.1) is None  # overlaps
    assert place_at(mask, (20.0, 30.0), (64, 64), np.array([[23, 33, 30, 40]], float), 0.1) is not None  # 1 px of 49
    assert place_at(mask, (2.0, 30.0), (64, 64), np.zeros((0, 4)), 0.1) is None  # sticks out, no truncation
    cut = place_at(mask, (2.0, 30.0), (64, 64), np.zeros((0, 4)), 0.1, truncate=0.5)
    assert cut.box_xyxy_px == (0, 26, 6, 34)  # 6 of 8 columns stay visible
    assert place_at(mask, (0.0, 30.0), (64, 64), np.zeros((0, 4)), 0.1, truncate=0.4) is None  # only half


def test_boxes_fit_checks_inside_and_overlap_like_place_object():
    boxes = np.array([[10, 10, 20, 20], [-5, 10, 5, 20], [-8, 10, 2, 20], [40, 40, 50, 50]], float)
    assert boxes_fit(boxes, (64, 64), np.zeros((0, 4)), 0.1).tolist() == [True, False, False, True]
    assert boxes_fit(boxes, (64, 64), np.zeros((0, 4)), 0.1, truncate=0.5).tolist() == [True, True, False, True]
    occupied = np.array([[15, 15, 30, 30], [0, 0, 100, 100]], float)  # 25 % of the first box; all of each
    assert boxes_fit(boxes, (64, 64), occupied[:1], 0.1).tolist() == [False, False, False, True]
    assert boxes_fit(boxes, (64, 64), occupied[:1], 0.25).tolist() == [True, False, False, True]
    assert not boxes_fit(boxes, (64, 64), occupied, 0.9).any()  # inside a big box: intersection over the smaller
    rng = np.random.default_rng(0)
    random_boxes = np.sort(rng.uniform(-10, 70, (200, 2, 2)), axis=1).transpose(0, 2, 1).reshape(-1, 4)[:, [0, 2, 1, 3]]
    for box, ok in zip(random_boxes, boxes_fit(random_boxes, (64, 64), occupied[:1], 0.1), strict=True):
        inside = box[0] >= 0 and box[1] >= 0 and box[2] <= 64 and box[3] <= 64
        assert ok == (inside and ioa(box, occupied[:1]).max() <= 0.1), box


def test_placement_registry_and_did_you_mean():
    assert set(PLACEMENTS) >= {"uniform", "context"}
    assert get_placement("uniform").fallback is None and get_placement("context").fallback == "uniform"
    with pytest.raises(ValueError, match="did you mean 'context'"):
        get_placement("contxt")
    with pytest.raises(ValueError, match="choose from uniform, context"):
        get_placement("zzz")


def test_uniform_proposals_are_the_real_sizes_with_no_centre():
    sizes = [np.array([[10.0, 20.0], [30.0, 5.0]])]
    scene = Scene((64, 64), np.zeros((0, 4)), np.zeros(0, np.int64), sizes)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(20):
        proposal = propose_uniform(a, scene, 0, [], 30)
        assert proposal.centre_xy is None and proposal.box_wh == sample_box_size(b, sizes[0])
    assert propose_uniform(a, Scene((4, 4), np.zeros((0, 4)), np.zeros(0), sizes), 0, [], 30) is None  # none fits
