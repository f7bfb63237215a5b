"""study/stats.py and study/bootstrap.py: exact expectations on hand-built inputs, and properties."""

import numpy as np
import pytest
from scipy import stats as sps

from blendaug.detection.metrics import APRecord, map_scores
from blendaug.study.stats import (
    COVERS_BOTH,
    COVERS_IMAGES,
    ContrastStats,
    SumMetric,
    compare_contrasts,
    contrast_stats,
    detectable_effect,
    holm,
    mean_metric,
    mean_sd,
    metric_replicates,
    ratio_metric,
    rejection_probability,
    relative_change_pct,
    satterthwaite_df,
    seeds_needed,
    stream_seed,
    t_test,
    two_level_variance,
)

ACC = mean_metric(lambda r: r)


def accuracy(rows):
    return float(np.mean(rows))


def _binary_study(rng, n_seeds, n_images, p_arm=0.7, p_ref=0.6):
    arm = {s: (rng.random(n_images) < p_arm).astype(float) for s in range(n_seeds)}
    ref = {s: (rng.random(n_images) < p_ref).astype(float) for s in range(n_seeds)}
    return arm, ref


# --- metrics and replicates -------------------------------------------------------------------------------

def test_ratio_and_mean_metrics_are_sums_over_images():
    precision = ratio_metric(lambda r: r["tp"], lambda r: r["n_pred"])
    rows = [{"tp": 1, "n_pred": 2}, {"tp": 3, "n_pred": 3}, {"tp": 0, "n_pred": 0}]
    assert precision(rows) == pytest.approx(4 / 5)
    assert np.isnan(precision(rows[2:]))
    assert mean_metric(lambda r: r["tp"])(rows) == pytest.approx(4 / 3)


def test_sum_metric_replicates_equal_the_plain_callable_on_each_resample():
    rng = np.random.default_rng(0)
    records = (rng.random(30) < 0.5).astype(float)
    idx = rng.integers(0, 30, size=(50, 30))
    fast = metric_replicates(records, ACC, idx)
    slow = metric_replicates(records, lambda rs: float(np.mean(rs)), idx)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast, records[idx].mean(axis=1), atol=1e-12)


def test_balanced_accuracy_as_a_sum_metric():
    classes = [0, 1]

    def columns(rows):
        return [[float(t == c and t == p) for c in classes] + [float(t == c) for c in classes] for t, p in rows]

    def combine(sums):
        k = len(classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nanmean(np.where(sums[..., k:] > 0, sums[..., :k] / sums[..., k:], np.nan), axis=-1)

    bal = SumMetric(columns, combine)
    rows = [(0, 0), (0, 0), (0, 1), (1, 1)]  # recall 2/3 for class 0, 1 for class 1
    assert bal(rows) == pytest.approx((2 / 3 + 1) / 2)


# --- the arithmetic -----------------------------------------------------------------------------------------

def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(0.06, 1*0.04): back in input order.
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    out = holm([0.02, float("nan"), 0.5])
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.04) and out[2] == pytest.approx(0.5)
    assert holm([0.9, 0.8]).tolist() == [1.0, 1.0]
    assert holm([]).size == 0


def test_holm_properties():
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = rng.random(rng.integers(1, 8))
        adj = holm(p)
        assert np.all(adj >= p - 1e-15) and np.all(adj <= 1)
        order = np.argsort(p)
        assert np.all(np.diff(adj[order]) >= -1e-15)  # monotone in p
        assert np.all(adj <= np.minimum(1, len(p) * p) + 1e-15)  # never worse than Bonferroni


def test_satterthwaite_and_detectable_effect_by_hand():
    assert satterthwaite_df([1.0, 1.0], [4, 4]) == pytest.approx(8.0)
    assert satterthwaite_df([1.0, 0.0], [4, 99]) == pytest.approx(4.0)
    assert detectable_effect(1.0, float("inf")) == pytest.approx(1.959964 + 0.841621, abs=1e-5)
    # Few df: the noncentral t's power at the returned effect is exactly 80 %, and it exceeds the z rule.
    mde = detectable_effect(0.5, 4)
    assert rejection_probability(mde / 0.5, 4) == pytest.approx(0.8, abs=1e-9)
    assert sps.nct.sf(sps.t.ppf(0.975, 4), 4, mde / 0.5) == pytest.approx(0.8, abs=1e-6)
    assert mde > 0.5 * (2.776445 + 0.940965) and detectable_effect(0.0, 4) == 0.0


def test_t_test_interval_and_p_agree():
    lo, hi, p = t_test(1.0, 0.5, 4)
    assert (lo, hi) == pytest.approx((1.0 - 2.776445 * 0.5, 1.0 + 2.776445 * 0.5), abs=1e-5)
    assert p == pytest.approx(2 * sps.t.sf(2.0, 4))
    assert t_test(0.0, 0.0, 3) == (0.0, 0.0, 1.0)
    assert t_test(0.2, 0.0, 3) == (0.2, 0.2, 0.0)
    assert all(np.isnan(t_test(0.1, float("nan"), 3)))


def test_two_level_variance_by_hand():
    # Replicates: the two seeds move together by +-1 (shared) and apart by +-1 (seed-specific).
    reps = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    # each column: var ddof1 = 4/3; row means 1,-1,0,0 -> var 2/3; shared = (2*2/3 - 4/3)/1 = 0.
    v = two_level_variance(np.array([0.5, 1.5]), reps, n_images=10)
    assert v.var_common == pytest.approx(0.0, abs=1e-12) and v.var_image_seed == pytest.approx(4 / 3)
    assert v.var_seed == pytest.approx(0.5)  # the seeds' spread, above the chi-square floor 4/3 * 0.0039
    assert v.se == pytest.approx(np.sqrt(0.5 / 2)) and v.df == 1.0 and v.covers == COVERS_BOTH
    # Fully shared image noise: three identical seeds; the seeds' spread is what it is, the images add 4/3.
    shared = np.array([[1.0] * 3, [-1.0] * 3, [1.0] * 3, [-1.0] * 3])
    v = two_level_variance(np.array([0.0, 1.0, 2.0]), shared, n_images=10)
    assert v.var_common == pytest.approx(4 / 3) and v.var_image_seed == pytest.approx(0.0)
    assert v.se == pytest.approx(np.sqrt(1.0 / 3 + 4 / 3))
    assert v.df == pytest.approx(satterthwaite_df([1 / 3, 4 / 3], [2, 9]))
    one = two_level_variance(np.array([0.3]), reps[:, :1], n_images=10)
    assert one.se == pytest.approx(np.sqrt(4 / 3)) and one.df == 9 and one.covers == COVERS_IMAGES


def test_the_seeds_spread_is_floored_at_the_image_noise_that_differs_between_seeds():
    reps = np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, -2.0]])
    v = two_level_variance(np.array([0.2, 0.2, 0.2]), reps, n_images=20)  # identical seeds: spread 0
    assert v.var_seed == pytest.approx(v.var_image_seed * sps.chi2.ppf(0.05, 2) / 2) and v.var_seed > 0


# --- contrast_stats -----------------------------------------------------------------------------------------

def test_without_image_variance_it_is_the_paired_t_test():
    # Every image of a seed holds the same value, so image resampling changes nothing: only the seeds vary.
    arm_vals, ref_vals = [0.61, 0.70, 0.66, 0.58], [0.50, 0.52, 0.60, 0.49]
    arm = {s: [v] * 12 for s, v in enumerate(arm_vals)}
    ref = {s: [v] * 12 for s, v in enumerate(ref_vals)}
    res = contrast_stats(arm, ref, mean_metric(lambda r: r), np.random.default_rng(0), n_boot=50)
    d = np.subtract(arm_vals, ref_vals)
    ttest = sps.ttest_1samp(d, 0.0)
    ci = ttest.confidence_interval(0.95)
    assert res.diff == pytest.approx(d.mean()) and res.df == pytest.approx(3.0)
    assert res.p == pytest.approx(ttest.pvalue) and (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high))
    assert res.var_common == 0.0 and res.se == pytest.approx(d.std(ddof=1) / 2)
    assert res.arm_mean == pytest.approx(np.mean(arm_vals)) and res.reference_sd == pytest.approx(
        np.std(ref_vals, ddof=1))


def test_identical_runs_add_no_information():
    rng = np.random.default_rng(1)
    a, r = (rng.random(40) < 0.7).astype(float), (rng.random(40) < 0.5).astype(float)
    one = contrast_stats({0: a}, {0: r}, ACC, np.random.default_rng(7))
    five = contrast_stats({s: a for s in range(5)}, {s: r for s in range(5)}, ACC, np.random.default_rng(7))
    assert one.covers == COVERS_IMAGES and five.covers == COVERS_BOTH
    assert five.se == pytest.approx(one.se, rel=1e-9) and five.var_image_seed == pytest.approx(0, abs=1e-12)
    # One seed: the image bootstrap's standard error of a paired difference of means.
    x = a - r
    assert one.se == pytest.approx(x.std() / np.sqrt(40), rel=0.15) and one.df == 39


def test_identical_arms_give_a_zero_interval_and_p_one():
    rng = np.random.default_rng(2)
    arm, _ = _binary_study(rng, 3, 25)
    res = contrast_stats(arm, arm, ACC, np.random.default_rng(0))
    assert (res.diff, res.ci_low, res.ci_high, res.p) == (0.0, 0.0, 0.0, 1.0)


def test_interval_and_p_are_consistent_and_the_diff_is_inside():
    rng = np.random.default_rng(4)
    for k in range(40):
        arm, ref = _binary_study(rng, int(rng.integers(2, 6)), int(rng.integers(10, 80)), p_arm=rng.uniform(.4, .9))
        res = contrast_stats(arm, ref, ACC, np.random.default_rng(k))
        assert res.ci_low <= res.diff <= res.ci_high
        assert (res.ci_low > 0 or res.ci_high < 0) == (res.p < 0.05)
        assert res.mde == pytest.approx(detectable_effect(res.se, res.df))
        assert res.se**2 == pytest.approx(res.var_seed / res.n_seeds + res.var_common)


def test_a_callable_metric_gives_the_same_numbers_as_its_sum_metric():
    arm, ref = _binary_study(np.random.default_rng(5), 3, 30)
    fast = contrast_stats(arm, ref, ACC, np.random.default_rng(9), n_boot=80)
    slow = contrast_stats(arm, ref, accuracy, np.random.default_rng(9), n_boot=80)
    for key in ("diff", "se", "df", "ci_low", "ci_high", "p", "var_common"):
        assert getattr(fast, key) == pytest.approx(getattr(slow, key), rel=1e-9, abs=1e-12)


def test_seeds_are_paired_by_key_and_undefined_seeds_are_reported():
    precision = ratio_metric(lambda r: r[0], lambda r: r[1])
    good = [(1, 1), (0, 1), (1, 1)]
    arm = {0: good, 1: good, 2: [(0, 0)] * 3, 7: good}
    ref = {0: [(0, 1)] * 3, 1: [(1, 1), (0, 1), (0, 1)], 2: good}
    res = contrast_stats(arm, ref, precision, np.random.default_rng(0), n_boot=30)
    assert res.seeds == (0, 1) and res.seeds_undefined == (2,)
    assert res.per_seed_diff == pytest.approx((2 / 3, 1 / 3))
    with pytest.raises(ValueError, match="differ in length"):
        contrast_stats({0: good}, {0: good[:2]}, precision, np.random.default_rng(0))
    none = contrast_stats({0: [(0, 0)] * 3}, {0: good}, precision, np.random.default_rng(0))
    assert np.isnan(none.diff) and np.isnan(none.p) and none.covers == "nothing" and none.notes


def test_results_are_seeded():
    arm, ref = _binary_study(np.random.default_rng(6), 3, 40)
    a = contrast_stats(arm, ref, ACC, np.random.default_rng(3))
    assert a == contrast_stats(arm, ref, ACC, np.random.default_rng(3))
    b = contrast_stats(arm, ref, ACC, np.random.default_rng(4))
    assert (a.var_common, a.var_image_seed) != (b.var_common, b.var_image_seed)


def test_map_is_bootstrapped_through_its_callable():
    rng = np.random.default_rng(8)

    def records(p_hit):
        out = []
        for _ in range(12):
            hit = rng.random() < p_hit
            out.append(APRecord(n_true=np.array([1]), cls=np.array([0]), conf=np.array([rng.uniform(0.3, 1)]),
                                tp=np.full((1, 10), hit)))
        return out

    def map50(rs):
        return map_scores(rs)["map50"]

    arm = {s: records(0.9) for s in range(2)}
    ref = {s: records(0.3) for s in range(2)}
    res = contrast_stats(arm, ref, map50, np.random.default_rng(0), n_boot=40)
    assert res.diff == pytest.approx(np.mean([map50(arm[s]) - map50(ref[s]) for s in range(2)]))
    assert res.se > 0 and res.n_boot_used == 40 and res.df == 1.0


# --- power, streams, several contrasts ----------------------------------------------------------------------

def _stats(var_seed, var_common, n_seeds=5, n_images=10_000):
    nan = float("nan")
    return ContrastStats(diff=0.0, ci_low=nan, ci_high=nan, p=nan, se=np.sqrt(var_seed / n_seeds + var_common),
                         df=nan, mde=nan, arm_mean=nan, arm_sd=nan, reference_mean=nan, reference_sd=nan,
                         per_seed_diff=(), seeds=tuple(range(n_seeds)), seeds_undefined=(), n_images=n_images,
                         var_seed=var_seed, var_common=var_common, var_image_seed=0.0, n_boot=0, n_boot_used=0,
                         covers=COVERS_BOTH)


def test_seeds_needed_by_hand():
    # var_common 0: se = 1 / sqrt(S), df = S - 1; the first S whose detectable effect is <= 1.
    need = seeds_needed(_stats(1.0, 0.0), effect=1.0)
    assert detectable_effect(1 / np.sqrt(need), need - 1) <= 1.0 < detectable_effect(1 / np.sqrt(need - 1), need - 2)
    assert need == 10  # noncentral t: df 9: 3.150 / sqrt(10) = 0.996; df 8: 3.201 / 3 = 1.067
    # The test set alone: (1.96 + 0.84) * 1 > 2 whatever the seeds.
    assert seeds_needed(_stats(1.0, 1.0), effect=2.0) is None
    assert seeds_needed(_stats(1.0, 0.0, n_seeds=1), effect=1.0) is None


def test_stream_seeds_are_stable_and_distinct():
    a = stream_seed(0, "detection", "map50", "blended_mixed-vs-baseline")
    assert a == stream_seed(0, "detection", "map50", "blended_mixed-vs-baseline")
    assert 0 <= a < 2**63
    others = {stream_seed(1, "detection", "map50", "blended_mixed-vs-baseline"),
              stream_seed(0, "detection", "map50_95", "blended_mixed-vs-baseline"),
              stream_seed(0, "detection", "map50", "paste_real-vs-baseline"),
              stream_seed(0, "detection", "map50blended_mixed-vs-baseline")}
    assert a not in others and len(others) == 4


def test_adding_a_contrast_leaves_the_others_unchanged_except_holm():
    rng = np.random.default_rng(10)
    ref = _binary_study(rng, 3, 40)[1]
    arms = {k: _binary_study(rng, 3, 40, p_arm=p)[0] for k, p in (("a", 0.9), ("b", 0.65), ("c", 0.6))}
    two = compare_contrasts({k: (arms[k], ref) for k in ("a", "b")}, ACC, study_seed=0, stream=("cls", "acc"))
    three = compare_contrasts({k: (arms[k], ref) for k in ("a", "b", "c")}, ACC, study_seed=0,
                              stream=("cls", "acc"))
    for k in ("a", "b"):
        assert (two[k].ci_low, two[k].ci_high, two[k].p) == (three[k].ci_low, three[k].ci_high, three[k].p)
        assert two[k].stream_seed == stream_seed(0, "cls", "acc", k)
    np.testing.assert_allclose([three[k].p_holm for k in "abc"], holm([three[k].p for k in "abc"]))
    assert three["a"].p_holm <= 1 and "p_holm" in three["a"].to_dict()


# --- the per-arm table helpers kept from before -------------------------------------------------------------

def test_mean_sd_uses_sample_sd():
    assert mean_sd([1.0, 3.0]) == (2.0, pytest.approx(np.sqrt(2.0)))
    assert mean_sd([5.0]) == (5.0, 0.0)


def test_relative_change():
    assert relative_change_pct(0.6, 0.5) == pytest.approx(20.0)
    assert np.isnan(relative_change_pct(0.6, 0.0))


# --- test images in groups (tiles of one frame) ---------------------------------------------------------------

def test_cluster_indices_draw_whole_groups_and_match_the_image_bootstrap_for_singletons():
    from blendaug.study.bootstrap import bootstrap_indices, cluster_indices

    groups = ["a", "a", "b", "c", "c", "c"]
    for row in cluster_indices(groups, 50, np.random.default_rng(1)):
        drawn = [groups[i] for i in row]
        # every group drawn comes whole: its members in equal numbers, as often as the group was drawn
        for members in ([0, 1], [2], [3, 4, 5]):
            assert len({int(np.sum(row == m)) for m in members}) == 1
        assert len(set(drawn)) <= 3
        assert sum(np.sum(row == m) for m in (0, 2, 3)) == 3  # three groups drawn, one first member each
    singles = [f"im{i:02d}" for i in range(12)]
    ragged = cluster_indices(singles, 20, np.random.default_rng(5))
    np.testing.assert_array_equal(np.stack(ragged), bootstrap_indices(12, 20, np.random.default_rng(5)))
    fast = metric_replicates(np.arange(6.0), ACC, cluster_indices(groups, 30, np.random.default_rng(2)))
    slow = [np.mean(np.arange(6.0)[row]) for row in cluster_indices(groups, 30, np.random.default_rng(2))]
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_duplicated_images_widen_nothing_when_resampled_as_groups():
    # Each test image copied 4 times (four overlapping tiles showing the same objects): an image-by-image
    # bootstrap sees 4x the images and halves the standard error; resampled in groups it matches the
    # deduplicated test set.
    rng = np.random.default_rng(3)
    arm, ref = _binary_study(rng, n_seeds=5, n_images=60)
    dup = {k: {s: [{"v": v, "group": i} for i, v in enumerate(x) for _ in range(4)] for s, x in side.items()}
           for k, side in (("arm", arm), ("ref", ref))}  # fmt: skip
    value = mean_metric(lambda r: r["v"])
    plain = contrast_stats(arm, ref, ACC, np.random.default_rng(0), n_boot=400)
    grouped = contrast_stats(dup["arm"], dup["ref"], value, np.random.default_rng(0), n_boot=400)
    ungrouped = {k: {s: [{"v": r["v"]} for r in rows] for s, rows in side.items()} for k, side in dup.items()}
    naive = contrast_stats(ungrouped["arm"], ungrouped["ref"], value, np.random.default_rng(0), n_boot=400)
    assert grouped.diff == pytest.approx(plain.diff)
    assert grouped.n_groups == 60 and grouped.n_images == 240 and naive.n_groups is None
    assert grouped.var_common == pytest.approx(plain.var_common, rel=0.3)
    assert naive.var_common == pytest.approx(plain.var_common / 4, rel=0.3)
    assert grouped.df <= 59 and any("60 groups" in n for n in grouped.notes)
