import numpy as np
import pandas as pd
import pytest

from blendaug.study.stats import (
    bootstrap_diff_ci,
    mean_sd,
    paired_permutation_p,
    relative_change_pct,
    sign_flip_p,
    summarize,
)


def accuracy(rows):
    return float(np.mean(rows))


def test_mean_sd_uses_sample_sd():
    assert mean_sd([1.0, 3.0]) == (2.0, pytest.approx(np.sqrt(2.0)))
    assert mean_sd([5.0]) == (5.0, 0.0)


def test_sign_flip_p_is_exact():
    # 3 positive diffs: only the all-plus and all-minus sign patterns reach |mean| >= observed.
    assert sign_flip_p([0.1, 0.2, 0.3]) == pytest.approx(2 / 8)
    assert sign_flip_p([0.1, -0.1]) == pytest.approx(1.0)


def test_relative_change():
    assert relative_change_pct(0.6, 0.5) == pytest.approx(20.0)
    assert np.isnan(relative_change_pct(0.6, 0.0))


def test_bootstrap_ci_brackets_a_real_difference_and_is_seeded():
    arm = [1] * 30 + [0] * 10
    base = [1] * 20 + [0] * 20
    d, lo, hi = bootstrap_diff_ci(arm, base, accuracy, np.random.default_rng(0), n_boot=300)
    assert d == pytest.approx(0.25)
    assert 0 < lo < d < hi
    assert (d, lo, hi) == bootstrap_diff_ci(arm, base, accuracy, np.random.default_rng(0), n_boot=300)


def test_identical_models_have_zero_width_ci_and_p_one():
    same = [1, 0, 1, 1, 0]
    assert bootstrap_diff_ci(same, same, accuracy, np.random.default_rng(1), n_boot=50) == (0.0, 0.0, 0.0)
    assert paired_permutation_p(same, same, accuracy, np.random.default_rng(1), n_perm=50) == 1.0


def test_permutation_p_small_for_a_consistent_gain_and_large_for_noise():
    arm = [1] * 40
    base = [0] * 40
    assert paired_permutation_p(arm, base, accuracy, np.random.default_rng(0), n_perm=200) < 0.01
    noisy_arm = [1, 0] * 20
    noisy_base = [0, 1] * 20
    assert paired_permutation_p(noisy_arm, noisy_base, accuracy, np.random.default_rng(0), n_perm=200) > 0.5


def test_summarize_pairs_seeds_with_the_baseline():
    rows = [("baseline", 0, 0.5), ("baseline", 1, 0.7), ("mixed", 0, 0.6), ("mixed", 1, 0.9)]
    df = pd.DataFrame([{"arm": a, "seed": s, "task": "detection", "metric": "map50", "value": v} for a, s, v in rows])
    out = summarize(df).set_index("arm")
    assert out.loc["mixed", "mean"] == pytest.approx(0.75)
    assert out.loc["mixed", "diff_mean"] == pytest.approx(0.15)
    assert out.loc["mixed", "rel_change_pct"] == pytest.approx(25.0)
    assert out.loc["mixed", "p_seeds"] == pytest.approx(0.5)
    assert out.loc["baseline", "diff_mean"] == 0.0
