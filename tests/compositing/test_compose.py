"""Property tests of one composite, in memory: boxes match the pasted pixels, the rules hold."""

from __future__ import annotations

import numpy as np
import pytest

from blendaug.compositing.compose import CompositeConfig, compose_image, render_object
from blendaug.compositing.masks import object_region
from blendaug.compositing.placement import ioa
from tests.compositing.builders import MemoryPool

SIZES = [np.array([[20.0, 40.0], [36.0, 18.0], [25.0, 25.0], [50.0, 30.0]])]


def _solid(color, size=40):
    crop = np.zeros((size, size, 3), np.uint8)
    crop[:] = color
    return crop


@pytest.mark.parametrize("rotate", ["none", "90", "any"])
@pytest.mark.parametrize("mask", ["rect", "ellipse"])
def test_pasted_boxes_match_the_changed_pixels(rotate, mask):
    bg = np.full((200, 240, 3), 100, np.uint8)
    colors = [(250, 20, 20), (20, 250, 20), (20, 20, 250), (250, 250, 20)]
    pool = MemoryPool([_solid(c) for c in colors], mask)
    cfg = CompositeConfig(per_image=(4, 4), blend="none", mask=mask, rotate=rotate, max_overlap=0.0)
    for seed in range(6):
        comp = compose_image(bg, np.zeros((0, 4)), np.zeros(0, np.int64), pool, SIZES, cfg, np.random.default_rng(seed))
        assert len(comp.pastes) >= 1
        for p in comp.pastes:
            color = np.array(colors[p.crop_index])
            changed = np.all(comp.image == color, axis=2)
            ys, xs = np.nonzero(changed)
            # Pastes cannot overlap (max_overlap 0), but two may share a crop colour: use the pixels in the box.
            x1, y1, x2, y2 = p.box_xyxy_px
            inside = (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)
            assert (xs[inside].min(), ys[inside].min(), xs[inside].max() + 1, ys[inside].max() + 1) == (x1, y1, x2, y2)
            assert 0 <= x1 < x2 <= 240 and 0 <= y1 < y2 <= 200
        unchanged = np.all(comp.image == 100, axis=2)
        union = np.zeros_like(unchanged)
        for p in comp.pastes:
            x1, y1, x2, y2 = p.box_xyxy_px
            union[y1:y2, x1:x2] = True
        assert unchanged[~union].all()  # nothing changed outside the labelled boxes


def test_quarter_turn_boxes_have_exactly_the_sampled_size():
    crop = _solid((200, 0, 0), 60)
    pool = MemoryPool([crop], "rect")
    m = pool.load(0)
    for angle in (0.0, 90.0, 180.0, 270.0):
        _, canvas_mask = render_object(m, (20.0, 40.0) if angle % 180 else (40.0, 20.0), angle, (40.0, 20.0))
        x1, y1, x2, y2 = object_region(canvas_mask)
        assert (x2 - x1, y2 - y1) == (40, 20)


def test_rules_hold_labels_count_and_overlap():
    rng = np.random.default_rng(0)
    bg = rng.integers(80, 120, (160, 160, 3), dtype=np.uint8)
    bg_boxes = np.array([[10, 10, 40, 30], [100, 100, 130, 150], [60, 20, 80, 60]], float)
    bg_ids = np.array([0, 1, 0])
    pool = MemoryPool([rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(4)], "rect", n_classes=2)
    sizes = [SIZES[0], SIZES[0] * 0.8]
    for max_overlap, min_visible in ((0.1, 0.5), (0.6, 0.9), (1.0, 0.5)):
        cfg = CompositeConfig(per_image=(2, 6), blend="all", rotate="any", max_overlap=max_overlap,
                              min_visible=min_visible, truncate=0.2)
        dropped_any = False
        for seed in range(15):
            comp = compose_image(bg, bg_boxes, bg_ids, pool, sizes, cfg, np.random.default_rng(seed))
            assert len(comp.boxes_xyxy_px) == len(bg_boxes) + len(comp.pastes) - comp.dropped
            assert len(comp.class_ids) == len(comp.boxes_xyxy_px)
            dropped_any |= comp.dropped > 0
            b = comp.boxes_xyxy_px
            assert np.all(b[:, 0] >= 0) and np.all(b[:, 1] >= 0) and np.all(b[:, 2] <= 160) and np.all(b[:, 3] <= 160)
            assert np.all(b[:, 2] > b[:, 0]) and np.all(b[:, 3] > b[:, 1])
            # Each paste respects the threshold against the background and every earlier paste.
            placed = [np.asarray(p.box_xyxy_px, float) for p in comp.pastes]
            for j, box in enumerate(placed):
                earlier = np.concatenate([bg_boxes, np.asarray(placed[:j]).reshape(-1, 4)])
                assert ioa(box, earlier).max() <= max_overlap + 1e-12
        if min_visible == 0.9 or max_overlap == 1.0:
            assert dropped_any  # the rule is exercised, not just vacuously true


def test_no_valid_placement_is_counted_not_raised():
    from blendaug.data.errors import Warnings

    bg = np.full((30, 30, 3), 100, np.uint8)
    pool = MemoryPool([_solid((255, 0, 0))])
    warnings = Warnings()
    cfg = CompositeConfig(per_image=(3, 3), max_overlap=0.0, placement="uniform")
    comp = compose_image(bg, np.array([[0, 0, 30, 30.0]]), np.array([0]), pool, [np.array([[10.0, 10.0]])], cfg,
                         np.random.default_rng(0), warnings, "tiny.jpg")
    assert comp.pastes == [] and np.array_equal(comp.image, bg)
    assert warnings.counts == {"no valid placement (object skipped)": 3}
    assert "tiny.jpg" in warnings.examples["no valid placement (object skipped)"]


def test_same_seed_same_composite():
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
    pool = MemoryPool([rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(3)])
    cfg = CompositeConfig(blend="all+color+noise", rotate="any")
    a = compose_image(bg, np.zeros((0, 4)), np.zeros(0, np.int64), pool, SIZES, cfg, np.random.default_rng([1, 2, 3]))
    b = compose_image(bg, np.zeros((0, 4)), np.zeros(0, np.int64), pool, SIZES, cfg, np.random.default_rng([1, 2, 3]))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes_xyxy_px, b.boxes_xyxy_px)
    c = compose_image(bg, np.zeros((0, 4)), np.zeros(0, np.int64), pool, SIZES, cfg, np.random.default_rng([1, 2, 4]))
    assert not np.array_equal(a.image, c.image)


def test_buffer_and_in_place_give_the_same_composite():
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
    pool = MemoryPool([rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(3)])
    cfg = CompositeConfig(blend="all", per_image=(3, 3))
    args = (np.zeros((0, 4)), np.zeros(0, np.int64), pool, SIZES, cfg)
    fresh = compose_image(bg, *args, np.random.default_rng(5))
    buffer = np.zeros_like(bg)
    buffered = compose_image(bg, *args, np.random.default_rng(5), out=buffer)
    assert buffered.image is buffer
    untouched = bg.copy()
    in_place = compose_image(bg, *args, np.random.default_rng(5), out=bg)
    assert in_place.image is bg and not np.array_equal(bg, untouched)
    assert np.array_equal(fresh.image, buffered.image) and np.array_equal(fresh.image, in_place.image)
    read_only = untouched.copy()
    read_only.flags.writeable = False
    copied = compose_image(read_only, *args, np.random.default_rng(5), out=read_only)
    assert copied.image is not read_only and np.array_equal(copied.image, fresh.image)


def test_uniform_placement_is_the_placement_before_modes_existed():
    """``placement: uniform`` draws exactly what compose_image drew before placement modes (commit ec4cf19).

    The digest covers the composite pixels, labels and paste records for three configs and five seeds; it
    was computed with that commit's code. If numpy or OpenCV change their arithmetic, recompute it there.
    """
    import hashlib

    rng = np.random.default_rng(0)
    bg = rng.integers(60, 140, (160, 192, 3), dtype=np.uint8)
    boxes, ids = np.array([[10, 10, 34, 26], [60, 90, 76, 122], [120, 20, 150, 40]], float), np.array([0, 1, 0])
    pool = MemoryPool([rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(6)], n_classes=2)
    sizes = [np.array([[24.0, 16.0], [16.0, 32.0], [30.0, 20.0]]), np.array([[20.0, 40.0], [36.0, 18.0]])]
    h = hashlib.sha256()
    for kw in ({}, {"rotate": "any", "truncate": 0.2, "per_image": (2, 6)}, {"blend": "all+noise", "max_overlap": 0.5}):
        cfg = CompositeConfig(**kw, placement="uniform")
        for seed in range(5):
            comp = compose_image(bg, boxes, ids, pool, sizes, cfg, np.random.default_rng([seed, 1]))
            h.update(comp.image.tobytes())
            h.update(comp.boxes_xyxy_px.tobytes())
            h.update(comp.class_ids.tobytes())
            for p in comp.pastes:
                h.update(repr((p.crop_index, p.class_id, p.box_xyxy_px, p.blend, p.angle, p.kept)).encode())
    assert h.hexdigest() == "c6d167763473ec601ea94472a0455d5c97a15b475966271f7fe81b6cf009a0bb"
