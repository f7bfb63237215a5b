"""Context placement: neighbour templates learned from real boxes, their use beside a real box, the ground test."""

from __future__ import annotations

import numpy as np

from blendaug.compositing.compose import CompositeConfig, compose_image
from blendaug.compositing.context import find_place, ground_model, learn_neighbours, looks_like_ground
from blendaug.compositing.placement import box_sizes_by_class, ioa
from blendaug.data.errors import Warnings
from blendaug.data.toyworld import ToyworldConfig, render_scene
from blendaug.data.toyworld_surfaces import centres_on_surface
from tests.compositing.builders import MemoryPool, crops_from_frames

# Three upright cars (16 x 34) side by side at a 25 px pitch, and a truck far away, in a 200 x 120 image.
ROW = np.array([[20, 40, 36, 74], [45, 40, 61, 74], [70, 40, 86, 74], [150, 10, 174, 100]], float)
ROW_IDS = np.array([0, 0, 0, 2])


def test_templates_of_a_row_are_its_side_by_side_neighbours_in_the_landscape_frame():
    model = learn_neighbours([ROW], [ROW_IDS], [(200, 120)], k=2, reach=2.0)
    # Left and right cars have one neighbour within reach, the middle one two; the truck none (too far).
    assert len(model) == 4
    assert model.anchor_class.tolist() == [0] * 4 and model.neighbour_class.tolist() == [0] * 4
    # Upright anchors are transposed: the row runs along v, offset 25 / 16 mean widths, the same size.
    np.testing.assert_allclose(np.abs(model.offset_uv), [[0, 25 / 16]] * 4)
    assert sorted(model.offset_uv[:, 1].tolist()) == [-25 / 16] * 2 + [25 / 16] * 2
    np.testing.assert_allclose(model.size_rel, [[1, 1]] * 4)


def test_a_van_beside_a_car_is_learned_relative_to_the_car_and_drawn_at_the_anchors_scale():
    pair = np.array([[20, 40, 36, 74], [45, 34, 65, 80]], float)  # car 16 x 34, van 20 x 46, 10 px gap
    model = learn_neighbours([pair], [np.array([0, 1])], [(200, 120)], k=1, reach=3.0)
    car_anchor = np.flatnonzero(model.anchor_class == 0)[0]
    np.testing.assert_allclose(model.size_rel[car_anchor], [46 / 34, 20 / 16])  # landscape frame of the car
    np.testing.assert_allclose(model.offset_uv[car_anchor], [0, 27 / 18])
    # Beside a car twice as big (a lower flight), the van is twice as big, at the same relative gap.
    big = np.array([[40.0, 20.0, 72.0, 88.0]])
    wh, centres = model.draw(np.random.default_rng(0), big, [0], 1, 20)
    np.testing.assert_allclose(wh, [[40, 92]] * 20)
    assert set(np.round(centres[:, 0], 6).tolist()) == {56 - 54, 56 + 54} and (centres[:, 1] == 54).all()


def test_boxes_on_the_border_and_lone_boxes_teach_nothing():
    cut = ROW + np.array([-20, 0, -20, 0])  # the first car now touches the left border
    model = learn_neighbours([cut], [ROW_IDS], [(200, 120)], k=2, reach=2.0)
    assert len(model) == 2  # only the two whole cars, each other's neighbour
    assert len(learn_neighbours([ROW[:1]], [ROW_IDS[:1]], [(200, 120)])) == 0
    assert len(learn_neighbours([], [], [])) == 0
    assert len(learn_neighbours([ROW], [ROW_IDS], [(200, 120)], k=4, reach=10.0)) == 12  # the truck too


def test_draw_puts_the_new_object_beside_the_anchor_at_the_learned_gap():
    model = learn_neighbours([ROW], [ROW_IDS], [(200, 120)], k=2, reach=2.0)
    rng = np.random.default_rng(0)
    upright = np.array([[100.0, 40.0, 116.0, 74.0]])
    sideways = np.array([[100.0, 40.0, 134.0, 56.0]])
    wh, centres = model.draw(rng, upright, [0], 0, 40)
    assert (wh == [16, 34]).all() and (centres[:, 1] == 57).all()
    assert set(centres[:, 0].tolist()) == {108 - 25, 108 + 25}  # both sides of the row, at the learned pitch
    wh, centres = model.draw(rng, sideways, [0], 0, 40)  # the row turns with the anchor
    assert (wh == [34, 16]).all() and (centres[:, 0] == 117).all() and set(centres[:, 1].tolist()) == {23, 73}
    assert model.draw(rng, upright, [0], 1, 5) is None and not model.knows(1)  # no van ever stood beside anything
    # An anchor of an unseen class borrows every anchor's templates for the class asked for.
    assert (model.draw(rng, upright, [2], 0, 5)[0] == [16, 34]).all()
    wh, _ = model.draw(rng, upright, [0], 0, 30, size_jitter=0.3, max_wh=(12.0, 99.0))
    assert (wh[:, 0] <= 12.0 + 1e-9).all() and np.allclose(wh[:, 1] / wh[:, 0], 34 / 16)
    # Several anchors: every place is beside one of them.
    both = np.concatenate([upright, [[20.0, 40.0, 36.0, 74.0]]])
    _, centres = model.draw(rng, both, [0, 0], 0, 60)
    assert set(centres[:, 0].tolist()) == {83, 133, 3, 53}


def test_find_place_returns_a_free_place_on_the_ground_and_none_when_all_is_taken():
    img, boxes = _lot_and_lawn()
    ids = np.zeros(len(boxes), np.int64)
    model, ground = learn_neighbours([boxes], [ids], [(240, 160)]), ground_model(img, boxes)
    rng = np.random.default_rng(0)
    for _ in range(20):
        (w, h), (cx, cy) = find_place(rng, model, ground, boxes, ids, 0, boxes, (240, 160), 0.1, 0.0, 0.0, None, 64)
        box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        assert ioa(box, boxes).max() <= 0.1 and cx + w / 2 <= 120 and looks_like_ground(ground, tuple(box))
    everything = np.array([[0, 0, 240, 160]], float)
    assert find_place(rng, model, ground, boxes, ids, 0, everything, (240, 160), 0.1, 0.0, 0.0, None, 64) is None
    assert find_place(rng, model, ground, boxes, ids, 1, boxes, (240, 160), 0.1, 0.0, 0.0, None, 64) is None


def _lot_and_lawn():
    """A grey lot (left) with three rows of four bays, seven of them taken by dark cars, and green lawn
    (right); 160 x 240. The free bays: (row 0, bay 2), (row 1, bays 1 and 3), (row 2, bays 0 and 3)."""
    rng = np.random.default_rng(0)
    img = np.empty((160, 240, 3), np.uint8)
    img[:, :120] = np.clip(rng.normal(95, 6, (160, 120, 3)), 0, 255)
    img[:, 120:] = np.clip(rng.normal((70, 110, 50), 8, (160, 120, 3)), 0, 255)
    boxes = []
    for row, bays in enumerate(((0, 1, 3), (0, 2), (1, 2))):
        y = 12 + 46 * row
        for i in range(5):
            img[y - 4:y + 38, 4 + 28 * i:5 + 28 * i] = 230  # bay lines
        for i in bays:
            x = 10 + 28 * i
            img[y:y + 34, x:x + 16] = (30, 30, 40)
            boxes.append([x, y, x + 16, y + 34])
    return img, np.array(boxes, float)


def test_the_ground_test_tells_the_lot_from_the_lawn():
    img, boxes = _lot_and_lawn()
    model = ground_model(img, boxes)
    assert looks_like_ground(model, (66.0, 12.0, 82.0, 46.0))  # a free bay
    assert not looks_like_ground(model, (150.0, 40.0, 166.0, 74.0))  # the lawn
    assert not looks_like_ground(model, (108.0, 58.0, 128.0, 92.0))  # less than GROUND_SHARE on the lot
    assert ground_model(img, np.zeros((0, 4))) is None
    # The model reads the background as it was: painting the image afterwards changes nothing.
    img[:, :] = (70, 110, 50)
    assert looks_like_ground(model, (66.0, 12.0, 82.0, 46.0))


def test_ground_model_ignores_ring_points_outside_the_image():
    img, _ = _lot_and_lawn()
    assert ground_model(img, np.array([[0, 0, 16, 20]], float)) is not None  # half its ring falls outside


def _compose(bg, boxes, ids, pool, sizes, placement, seed, **kw):
    cfg = CompositeConfig(per_image=(4, 4), placement=placement, **kw)
    warnings = Warnings()
    return compose_image(bg, boxes, ids, pool, sizes, cfg, np.random.default_rng([seed, 0]), warnings), warnings


def test_context_pastes_stay_on_the_lot_where_uniform_ones_reach_the_lawn():
    img, boxes = _lot_and_lawn()
    ids = np.zeros(len(boxes), np.int64)
    rng = np.random.default_rng(1)
    pool = MemoryPool([rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(3)])
    sizes = [np.array([[16.0, 34.0]])]
    on_lot = {}
    for placement in ("uniform", "context"):
        centres = []
        for seed in range(10):
            comp, warnings = _compose(img, boxes, ids, pool, sizes, placement, seed, rotate="any", truncate=0.1)
            for j, p in enumerate(comp.pastes):
                assert p.placement == placement
                box = np.asarray(p.box_xyxy_px, float)
                assert 0 <= box[0] < box[2] <= 240 and 0 <= box[1] < box[3] <= 160
                earlier = np.concatenate([boxes, np.reshape([q.box_xyxy_px for q in comp.pastes[:j]], (-1, 4))])
                assert ioa(box, earlier).max() <= 0.1 + 1e-12
                centres.append((box[0] + box[2]) / 2)
            assert not warnings.counts
        on_lot[placement] = float(np.mean(np.array(centres) < 120))
    assert on_lot["context"] == 1.0 and on_lot["uniform"] < 0.7, on_lot


def test_context_without_real_boxes_falls_back_to_uniform_with_a_counted_warning():
    img, _ = _lot_and_lawn()
    rng = np.random.default_rng(1)
    pool = MemoryPool([rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(3)])
    sizes, none = [np.array([[16.0, 34.0]])], np.zeros((0, 4))
    comp, warnings = _compose(img, none, np.zeros(0, np.int64), pool, sizes, "context", 3)
    assert warnings.counts == {"context placement: background without real boxes (placed uniform)": 1}
    assert comp.pastes and all(p.placement == "uniform" for p in comp.pastes)
    uniform, _ = _compose(img, none, np.zeros(0, np.int64), pool, sizes, "uniform", 3)
    assert np.array_equal(comp.image, uniform.image)  # exactly the uniform composite


def test_a_full_row_falls_back_to_uniform_per_object_with_a_counted_warning():
    img, boxes = _lot_and_lawn()
    rng = np.random.default_rng(1)
    pool = MemoryPool([rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(3)])
    model = learn_neighbours([boxes], [np.zeros(len(boxes), np.int64)], [(240, 160)])
    # Every free bay taken, and the lot's surroundings: no template finds room, each object goes uniformly.
    cover = np.array([[66, 12, 82, 46], [38, 58, 54, 92], [94, 58, 110, 92], [10, 104, 26, 138],
                      [94, 104, 110, 138], [0, 0, 240, 10], [112, 0, 240, 160]], float)
    ids = np.zeros(len(boxes) + len(cover), np.int64)
    cfg = CompositeConfig(per_image=(2, 2), placement="context", max_overlap=0.3)
    warnings = Warnings()
    comp = compose_image(img, np.concatenate([boxes, cover]), ids, pool, [np.array([[16.0, 34.0]])], cfg,
                         np.random.default_rng(0), warnings, neighbours=model)
    fell_back = warnings.counts.get("context placement found no free place (placed uniform)", 0)
    assert fell_back == sum(p.placement == "uniform" for p in comp.pastes) + warnings.counts.get(
        "no valid placement (object skipped)", 0) > 0


def test_context_composites_are_the_same_in_a_buffer_in_place_and_fresh():
    img, boxes = _lot_and_lawn()
    rng = np.random.default_rng(1)
    pool = MemoryPool([rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(3)])
    cfg = CompositeConfig(per_image=(5, 5), placement="context", blend="gaussian+color")
    args = (boxes, np.zeros(len(boxes), np.int64), pool, [np.array([[16.0, 34.0]])], cfg)
    fresh = compose_image(img, *args, np.random.default_rng(9))
    buffered = compose_image(img, *args, np.random.default_rng(9), out=np.zeros_like(img))
    in_place = compose_image(img.copy(), *args, np.random.default_rng(9), out=None)
    background = img.copy()
    own = compose_image(background, *args, np.random.default_rng(9), out=background)
    for other in (buffered, in_place, own):
        assert np.array_equal(fresh.image, other.image)
        assert [p.box_xyxy_px for p in fresh.pastes] == [p.box_xyxy_px for p in other.pastes]


def test_toyworld_share_of_pasted_centres_on_drivable_or_parking_surface():
    """The placement line of the issue: the same seeds, uniform against context, on toyworld's surface masks."""
    cfg = ToyworldConfig(n_images=32, seed=11, size=320)
    frames = [f for s in range(8) for f in render_scene(cfg, s)]
    pool = crops_from_frames(frames)
    boxes, ids = [f.boxes_xyxy_px for f in frames], [f.class_ids for f in frames]
    sizes = box_sizes_by_class(boxes, ids, 3)
    model = learn_neighbours(boxes, ids, [(320, 320)] * len(frames))
    share = {}
    for placement in ("uniform", "context"):
        on, long_side = [], {c: [] for c in range(3)}
        for i, f in enumerate(frames):
            comp = compose_image(f.image_rgb, f.boxes_xyxy_px, f.class_ids, pool, sizes,
                                 CompositeConfig(per_image=(4, 4), placement=placement), np.random.default_rng([0, i]),
                                 neighbours=model)
            on += centres_on_surface(np.array([p.box_xyxy_px for p in comp.pastes]).reshape(-1, 4), f.surface).tolist()
            for p in comp.pastes:
                x1, y1, x2, y2 = p.box_xyxy_px
                long_side[p.class_id].append(max(x2 - x1, y2 - y1))
        share[placement] = float(np.mean(on))
        assert len(on) == 4 * len(frames)
        for c in range(3):  # both modes paste each class at its real size
            real = np.median(sizes[c].max(axis=1))
            assert len(long_side[c]) > 10 and abs(np.median(long_side[c]) / real - 1) < 0.1, (placement, c)
    print(f"share of pasted centres on a drivable or parking surface: {share}")
    assert all(centres_on_surface(f.boxes_xyxy_px, f.surface).all() for f in frames)  # the real ones: all
    assert share["context"] >= 0.88 and share["context"] - share["uniform"] >= 0.12, share
