"""Calibration of study/stats.py on simulated studies: A/A false-positive rates, power, coverage.

Each simulated study has two sides (arm, reference) x S seeds x n test images, drawn from one process:
- image noise: a per-image difficulty ``b_i`` shared by both sides and every seed (the test set is one sample);
- training noise: a per-seed, per-side random effect ``u`` (one training run) and per-image-by-seed noise ``e``
  (how that run's errors fall on each image);
- optionally a persistent per-image arm effect ``+a_i`` for the arm and ``-a_i`` for the reference, which
  averages to zero over the image population but not over a finite test set (what a shared test set adds).
Records are binary (mean-type metric: accuracy) or ``(tp, n_pred)`` pairs (ratio-type: precision). The real
``contrast_stats`` runs on each study; the rate at which its 95 % interval excludes 0 must be near 5 %.
The numbers measured for docs/statistics.md come from ``pytest -m slow -s`` on this file.
"""

import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import expit

from blendaug.detection.metrics import APRecord, map_scores
from blendaug.study.stats import SumMetric, bootstrap_indices, contrast_stats, metric_replicates

ACCURACY = SumMetric(lambda r: np.column_stack([r, np.ones(len(r))]), lambda s: s[..., 0] / s[..., 1])
PRECISION = SumMetric(lambda r: r, lambda s: np.where(s[..., 1] > 0, s[..., 0] / np.maximum(s[..., 1], 1), np.nan))
METRICS = {"mean": ACCURACY, "ratio": PRECISION}


def simulate(kind: str, n_studies: int, n_seeds: int, n_images: int, rng: np.random.Generator, *,
             logit_shift: float = 0.0, sd_image: float = 1.5, sd_seed: float = 0.3, sd_noise: float = 0.5,
             sd_arm_image: float = 0.0) -> np.ndarray:
    """``(n_studies, 2, n_seeds, n_images)`` records (side 0 = arm, 1 = reference; ratio: a last axis of 2)."""
    shape = (n_studies, 2, n_seeds, n_images)
    side = np.array([1.0, -1.0]).reshape(1, 2, 1, 1)
    logit = (0.8 + rng.normal(0, sd_image, (n_studies, 1, 1, n_images))
             + side * rng.normal(0, sd_arm_image, (n_studies, 1, 1, n_images))
             + rng.normal(0, sd_seed, (n_studies, 2, n_seeds, 1)) + rng.normal(0, sd_noise, shape)
             + (side > 0) * logit_shift)
    p = expit(logit)
    if kind == "mean":
        return (rng.random(shape) < p).astype(np.float64)
    # Predictions per image: an image-level rate (shared) and a per-run level (some runs predict more).
    rate = np.exp(0.3 + 0.5 * rng.normal(0, 1, (n_studies, 1, 1, n_images))
                  + rng.normal(0, 0.2, (n_studies, 2, n_seeds, 1)))
    n_pred = rng.poisson(np.broadcast_to(rate, shape))
    return np.stack([rng.binomial(n_pred, p), n_pred], axis=-1).astype(np.float64)


def run_studies(kind: str, n_studies: int, n_seeds: int, n_images: int, seed: int, **kw) -> list:
    data = simulate(kind, n_studies, n_seeds, n_images, np.random.default_rng(seed), **kw)
    return [contrast_stats({s: data[k, 0, s] for s in range(n_seeds)}, {s: data[k, 1, s] for s in range(n_seeds)},
                           METRICS[kind], np.random.default_rng([seed, k])) for k in range(n_studies)]


def rejection_rate(results: list) -> float:
    return float(np.mean([r.ci_low > 0 or r.ci_high < 0 for r in results]))


def true_difference(logit_shift: float, sd_image=1.5, sd_seed=0.3, sd_noise=0.5, n=1_000_000) -> float:
    """The population difference of accuracy (or of the per-prediction hit rate) for a logit shift."""
    rng = np.random.default_rng(123)
    x = 0.8 + rng.normal(0, np.sqrt(sd_image**2 + sd_seed**2 + sd_noise**2), n)
    return float(np.mean(expit(x + logit_shift) - expit(x)))


@pytest.mark.parametrize("kind", ["mean", "ratio"])
@pytest.mark.parametrize("n_images", [50, 400])
def test_aa_false_positive_rate_is_near_5_percent_at_5_seeds(kind, n_images):
    results = run_studies(kind, 600, 5, n_images, seed=n_images)
    assert 0.02 <= rejection_rate(results) <= 0.09
    assert np.mean([r.p < 0.05 for r in results]) == rejection_rate(results)  # the test is the interval's


@pytest.mark.parametrize("kind", ["mean", "ratio"])
def test_aa_stays_calibrated_when_the_shared_test_set_carries_arm_effects(kind):
    # Per-image arm effects that cancel over the population: the seeds cannot average them away.
    results = run_studies(kind, 300, 5, 50, seed=7, sd_arm_image=0.7)
    assert 0.02 <= rejection_rate(results) <= 0.09
    assert np.median([r.var_common / r.se**2 for r in results]) > 0.2  # the shared part is really there


def test_the_aa_check_catches_an_interval_that_ignores_training_noise():
    # What averaging per-seed image-level intervals amounts to at 400 images: image variance only, z quantile.
    results = run_studies("mean", 300, 5, 400, seed=400)
    z = sps.norm.ppf(0.975)
    image_only = [abs(r.diff) > z * np.sqrt(r.var_common + r.var_image_seed / r.n_seeds) for r in results]
    assert np.mean(image_only) > 0.09
    assert rejection_rate(results) <= 0.09


@pytest.mark.parametrize("kind", ["mean", "ratio"])
def test_a_real_difference_is_detected_in_most_studies_and_covered(kind):
    shift = 1.0  # about +0.14 accuracy (or hit rate) over the image population
    truth = true_difference(shift)
    results = run_studies(kind, 200, 5, 400, seed=11, logit_shift=shift)
    assert np.mean([r.ci_low > 0 for r in results]) >= 0.8
    assert 0.9 <= np.mean([r.ci_low <= truth <= r.ci_high for r in results]) <= 0.99
    assert truth == pytest.approx(np.mean([r.diff for r in results]), abs=0.01)


def test_one_seed_says_what_it_covers_and_two_seeds_are_conservative():
    one = run_studies("mean", 100, 1, 100, seed=3)
    assert all(r.covers.startswith("test images only") for r in one)
    two = run_studies("mean", 300, 2, 400, seed=4)
    assert rejection_rate(two) <= 0.05 and np.median([r.df for r in two]) == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("n_seeds", [2, 3, 5])
@pytest.mark.parametrize("sd_arm_image", [0.0, 0.7])
@pytest.mark.parametrize("kind", ["mean", "ratio"])
def test_aa_rates_with_many_studies(kind, sd_arm_image, n_seeds):
    rates = {n: rejection_rate(run_studies(kind, 1500, n_seeds, n, seed=11, sd_arm_image=sd_arm_image))
             for n in (50, 400)}
    print(f"A/A {kind} seeds={n_seeds} arm-image sd={sd_arm_image}: " + ", ".join(
        f"n={n}: {v:.3f}" for n, v in rates.items()))
    assert all(v <= (0.05 if n_seeds == 2 else 0.09) for v in rates.values())
    assert n_seeds == 2 or all(v >= 0.02 for v in rates.values())


def _ap_study(rng, n_seeds, n_images, shift=0.0):
    """Per image 1-3 objects of 2 classes; each found with a logit-model probability, plus false positives."""
    n_obj = rng.integers(1, 4, n_images)
    cls = [rng.integers(0, 2, k) for k in n_obj]
    difficulty = rng.normal(0, 1.5, n_images)
    sides = []
    for side in range(2):
        seeds = {}
        for s in range(n_seeds):
            run = rng.normal(0, 0.3) + (shift if side == 0 else 0.0)
            recs = []
            for i in range(n_images):
                found = rng.random(n_obj[i]) < expit(0.8 + difficulty[i] + run + rng.normal(0, 0.5, n_obj[i]))
                iou = rng.uniform(0.5, 0.95, n_obj[i])
                n_fp = rng.poisson(0.7)
                c = np.concatenate([cls[i][found], rng.integers(0, 2, n_fp)])
                conf = np.concatenate([rng.uniform(0.3, 1.0, found.sum()), rng.uniform(0.0, 0.7, n_fp)])
                tp = np.concatenate([iou[found][:, None] >= np.linspace(0.5, 0.95, 10)[None, :],
                                     np.zeros((n_fp, 10), dtype=bool)])
                recs.append(APRecord(n_true=np.bincount(cls[i], minlength=2), cls=c, conf=conf, tp=tp))
            seeds[s] = recs
        sides.append(seeds)
    return sides


@pytest.mark.slow
def test_aa_map50_through_the_callable_path():
    rng = np.random.default_rng(5)

    def map50(rs):
        return map_scores(rs)["map50"]

    results = [contrast_stats(*_ap_study(rng, 5, 40), map50, np.random.default_rng(k), n_boot=100)
               for k in range(150)]
    rate = rejection_rate(results)
    print(f"A/A mAP50, 5 seeds, 40 images, 150 studies: {rate:.3f}")
    assert 0.01 <= rate <= 0.10


@pytest.mark.slow
def test_the_methods_this_replaces_are_miscalibrated():
    """Two alternatives on the same A/A studies: the numbers docs/statistics.md quotes."""
    rates = {}
    for n_seeds in (3, 5):
        for n in (50, 400):
            data = simulate("mean", 1500, n_seeds, n, np.random.default_rng([n_seeds, n]))
            pct = avg = 0
            for k in range(1500):
                rng = np.random.default_rng([n_seeds, n, k])
                idx = bootstrap_indices(n, 400, rng)
                reps = np.column_stack([metric_replicates(data[k, 0, s], ACCURACY, idx)
                                        - metric_replicates(data[k, 1, s], ACCURACY, idx) for s in range(n_seeds)])
                # A plain two-level percentile bootstrap: seeds resampled, then images (the shared index draw).
                two = reps[np.arange(400)[:, None], rng.integers(0, n_seeds, (400, n_seeds))].mean(axis=1)
                lo, hi = np.quantile(two, [0.025, 0.975])
                pct += lo > 0 or hi < 0
                # The old report: each seed's image-level percentile interval, bounds averaged over seeds.
                lo, hi = np.quantile(reps, 0.025, axis=0).mean(), np.quantile(reps, 0.975, axis=0).mean()
                avg += lo > 0 or hi < 0
            rates[n_seeds, n] = (pct / 1500, avg / 1500)
            print(f"A/A {n_seeds} seeds, n={n}: two-level percentile {pct / 1500:.3f}, "
                  f"averaged per-seed {avg / 1500:.3f}")
    assert rates[5, 50][1] < 0.02 and rates[3, 400][1] > 0.09  # too wide with few images, too narrow with many
    assert rates[5, 50][0] < 0.03 and rates[3, 400][0] > 0.07
