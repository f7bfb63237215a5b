"""data/budget.py: the equal-budget arithmetic, by hand and as properties."""

from fractions import Fraction

import numpy as np
import pytest

from blendaug.data.budget import equal_budget, round_half_up, scale_factor, scale_setting


def test_twice_the_images_halves_the_epochs():
    b = equal_budget(60, n_train=48, n_train_reference=24, budget="images",
                     settings={"close_mosaic": 10, "warmup_epochs": 3.0, "patience": 100})
    assert b.epochs == 30 and b.reference_epochs == 60
    assert b.settings == {"close_mosaic": 5, "warmup_epochs": 1.5, "patience": 50}
    assert b.reference_settings == {"close_mosaic": 10, "warmup_epochs": 3.0, "patience": 100}
    assert b.images_seen == b.reference_images_seen == 1440
    assert b.to_dict()["images_seen"] == 1440


def test_rounding_is_half_up_and_never_below_one_epoch():
    assert round_half_up(Fraction(5, 2)) == 3 and round_half_up(Fraction(7, 2)) == 4  # not banker's rounding
    assert equal_budget(30, 36, 24, "images").epochs == 20  # 30 * 24/36 = 20
    assert equal_budget(25, 2, 1, "images").epochs == 13  # 12.5 -> 13
    assert equal_budget(3, 100, 1, "images").epochs == 1
    assert equal_budget(10, 12, 24, "images").epochs == 20  # a smaller set trains longer


def test_zero_means_off_and_stays_off_positive_integers_stay_positive():
    f = Fraction(1, 10)
    assert scale_setting(0, f) == 0 and scale_setting(0.0, f) == 0.0
    assert scale_setting(3, f) == 1 and scale_setting(True, f) is True and scale_setting(None, f) is None
    assert scale_setting(3.0, f) == pytest.approx(0.3)


def test_budget_epochs_changes_nothing():
    b = equal_budget(60, 48, 24, "epochs", settings={"close_mosaic": 10, "warmup_epochs": 3.0})
    assert b.epochs == 60 and b.settings == {"close_mosaic": 10, "warmup_epochs": 3.0}


def test_images_seen_differ_by_less_than_half_an_epoch_of_the_arm():
    rng = np.random.default_rng(0)
    for _ in range(300):
        epochs, n_arm, n_ref = (int(v) for v in rng.integers(1, 200, 3))
        b = equal_budget(epochs, n_arm, n_ref, "images")
        if b.epochs > 1:
            assert abs(b.images_seen - b.reference_images_seen) <= n_arm / 2
        assert b.epochs >= 1


def test_bad_input_is_an_error():
    with pytest.raises(ValueError, match="budget"):
        scale_factor(1, 1, "time")
    with pytest.raises(ValueError, match="at least 1"):
        equal_budget(10, 0, 24, "images")
