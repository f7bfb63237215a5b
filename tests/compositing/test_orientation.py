"""Orientation: the rotated object's tight box is the sampled label box."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blendaug.compositing.orientation import object_size_for_box, orient_object


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
