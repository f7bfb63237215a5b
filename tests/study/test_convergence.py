"""study/convergence.py: which val curves count as still rising."""

import numpy as np
import pytest

from blendaug.study.convergence import check_convergence, count_rising


def test_a_straight_rise_is_flagged_with_its_exact_slope():
    c = check_convergence([0.02 * e for e in range(1, 31)])
    assert c.rising and c.window == (21, 30)  # the last third of 30 epochs
    assert c.slope == pytest.approx(0.02) and c.rise == pytest.approx(0.18) and c.p_trend < 1e-4
    assert (c.last, c.best, c.best_epoch, c.n_epochs) == (pytest.approx(0.6), pytest.approx(0.6), 30, 30)


def test_a_curve_that_levelled_off_is_not_flagged():
    curve = np.minimum(np.arange(1, 31) * 0.05, 0.8)  # flat at 0.8 from epoch 16
    c = check_convergence(curve)
    assert not c.rising and c.reason.startswith("flat")
    rng = np.random.default_rng(0)
    noisy = 0.8 + rng.normal(0, 0.03, 30)
    assert not check_convergence(noisy).rising


def test_a_single_late_spike_does_not_count_as_a_trend():
    curve = [0.5] * 29 + [0.9]
    curve[20:29] = [0.49, 0.51, 0.5, 0.48, 0.52, 0.5, 0.51, 0.49, 0.5]
    assert not check_convergence(curve).rising


def test_a_real_but_negligible_rise_is_not_flagged():
    c = check_convergence([0.5 + 0.0005 * e for e in range(1, 31)])  # +0.005 over the last third
    assert not c.rising and c.p_trend < 0.05 and c.reason.startswith("rising by only")


def test_noisy_rising_tiny_data_curves_are_flagged():
    rng = np.random.default_rng(1)
    # Val accuracy on 16 images (steps of 1/16) climbing 0.3 -> 0.9 over 40 epochs.
    truth = np.linspace(0.3, 0.9, 40)
    curve = np.round((truth + rng.normal(0, 0.05, 40)) * 16) / 16
    assert check_convergence(curve).rising


def test_short_curves_and_nan_and_epochs():
    c = check_convergence([0.1, 0.2, 0.3])
    assert not c.rising and "too short" in c.reason
    assert check_convergence([]).reason == "no val curve"
    c = check_convergence([0.0, np.nan, 0.1, 0.2, 0.3, 0.4, 0.5], epochs=[2, 4, 6, 8, 10, 12, 14])
    assert c.n_epochs == 6 and c.window == (6, 14) and c.slope == pytest.approx(0.05)


def test_false_flags_on_flat_noise_are_rare():
    rng = np.random.default_rng(2)
    flags = [check_convergence(0.6 + rng.normal(0, 0.05, 30)).rising for _ in range(200)]
    assert np.mean(flags) <= 0.05


def test_count_rising():
    checks = [check_convergence(np.arange(30) * 0.02), check_convergence([0.5] * 30)]
    assert count_rising(checks) == (1, 2)
