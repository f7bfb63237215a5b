"""Labels: hidden boxes are dropped below the visible fraction, the rest kept."""

from __future__ import annotations

import numpy as np

from blendaug.compositing.labels import merge_labels, visible_fraction


def test_visible_fraction_counts_covered_box_pixels():
    left = (0, 0, np.ones((10, 5), bool))  # covers the left half of a 10x10 box
    strip = (5, 0, np.ones((2, 5), bool))  # a strip on the right
    holey = (0, 0, np.zeros((10, 10), bool))  # a mask that covers nothing
    box = np.array([0, 0, 10, 10.0])
    assert visible_fraction(box, [left, strip], (20, 20)) == 1.0 - 60 / 100
    assert visible_fraction(box, [strip], (20, 20)) == 1.0 - 10 / 100
    assert visible_fraction(box, [holey], (20, 20)) == 1.0
    assert visible_fraction(box, [], (20, 20)) == 1.0
    assert visible_fraction(np.array([2.5, 0, 4.2, 1]), [left], (20, 20)) == 0.0  # pixels 2..4, all covered
    # Clipped to the image: pixels 8..9 x 8..9, of which the mask covers only (9, 9).
    assert visible_fraction(np.array([8, 8, 12, 12.0]), [(9, 9, np.ones((5, 5), bool))], (10, 10)) == 0.75


def test_merge_labels_drops_hidden_boxes_and_keeps_the_rest():
    paste_mask = [(0, 0, np.ones((10, 10), bool))]
    bg = np.array([[0, 0, 10, 10], [0, 0, 10, 20], [15, 15, 20, 20]], float)  # fully, half and not covered
    paste = np.array([[0, 0, 10, 10]], float)
    boxes, ids, bg_kept, paste_kept = merge_labels(bg, np.array([0, 1, 1]), paste, np.array([2]), paste_mask,
                                                   (20, 20), 0.5)
    assert bg_kept.tolist() == [False, True, True]
    assert paste_kept.tolist() == [True]
    assert boxes.tolist() == [[0, 0, 10, 20], [15, 15, 20, 20], [0, 0, 10, 10]]
    assert ids.tolist() == [1, 1, 2]
    assert len(boxes) == len(bg) + len(paste) - 1
    _, _, bg_kept, _ = merge_labels(bg, np.array([0, 1, 1]), paste, np.array([2]), paste_mask, (20, 20), 0.6)
    assert bg_kept.tolist() == [False, False, True]


def test_a_later_paste_hides_an_earlier_one_but_not_the_reverse():
    masks = [(0, 0, np.ones((10, 10), bool)), (0, 0, np.ones((10, 10), bool))]
    paste = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    _, ids, _, kept = merge_labels(np.zeros((0, 4)), np.zeros(0), paste, np.array([0, 1]), masks, (20, 20), 0.5)
    assert kept.tolist() == [False, True] and ids.tolist() == [1]
