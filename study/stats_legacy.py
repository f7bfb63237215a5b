"""Superseded statistics, kept while study/results.py still calls them: per-seed image CIs that are averaged.

Averaging per-seed image-level intervals is not an interval for the seed-averaged difference and ignores
training-run variance (issue 14); :func:`blendaug.study.stats.contrast_stats` replaces
:func:`bootstrap_diff_ci` and :func:`paired_permutation_p`. :func:`summarize` (mean +- sd per arm and the
exact sign-flip p over seeds) stays useful for the per-arm table.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

MetricFn = Callable[[Sequence[Any]], float]

def bootstrap_diff_ci(
    arm: Sequence[Any], base: Sequence[Any], metric: MetricFn, rng: np.random.Generator,
    n_boot: int = 1000, level: float = 0.95,
) -> tuple[float, float, float]:
    """Paired bootstrap over test images of ``metric(arm) - metric(base)``.

    Returns:
        ``(difference, ci_low, ci_high)``: the observed difference and the percentile interval.
    """
    if len(arm) != len(base):
        raise ValueError(f"paired samples differ in length: {len(arm)} vs {len(base)}")
    n = len(arm)
    observed = metric(arm) - metric(base)
    diffs = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        diffs[b] = metric([arm[i] for i in idx]) - metric([base[i] for i in idx])
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(diffs, [alpha, 1 - alpha])
    return float(observed), float(lo), float(hi)


def paired_permutation_p(
    arm: Sequence[Any], base: Sequence[Any], metric: MetricFn, rng: np.random.Generator, n_perm: int = 1000,
) -> float:
    """Two-sided paired sign-flip permutation test of ``metric(arm) - metric(base)`` over test images.

    Under the null hypothesis the two models are exchangeable on each image, so each image's pair
    is swapped with probability 1/2 and the difference recomputed. Returns ``(1 + #|d*| >= |d|) / (1 + n_perm)``.
    """
    if len(arm) != len(base):
        raise ValueError(f"paired samples differ in length: {len(arm)} vs {len(base)}")
    observed = abs(metric(arm) - metric(base))
    hits = 0
    for _ in range(n_perm):
        flip = rng.random(len(arm)) < 0.5
        a = [b if f else x for x, b, f in zip(arm, base, flip, strict=True)]
        b_ = [x if f else b for x, b, f in zip(arm, base, flip, strict=True)]
        hits += abs(metric(a) - metric(b_)) >= observed - 1e-12
    return (1 + hits) / (1 + n_perm)


def sign_flip_p(diffs: Sequence[float]) -> float:
    """Exact two-sided sign-flip p-value of the mean of paired differences (e.g. over seeds)."""
    d = np.asarray(diffs, dtype=np.float64)
    if len(d) == 0:
        return float("nan")
    observed = abs(d.mean())
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=len(d))))
    return float(np.mean(np.abs((signs * d).mean(axis=1)) >= observed - 1e-12))


def summarize(results: pd.DataFrame, baseline: str = "baseline") -> pd.DataFrame:
    """Per (task, metric, arm): mean ± sd over seeds, and the change from the baseline.

    Args:
        results: tidy rows with columns ``arm, seed, task, metric, value``.

    Returns:
        columns ``task, metric, arm, n_seeds, mean, sd, diff_mean, rel_change_pct, p_seeds``, where
        ``diff_mean`` is the mean of the per-seed paired differences from the baseline and
        ``p_seeds`` their exact sign-flip p-value.
    """
    import pandas as pd

    from blendaug.study.stats import mean_sd, relative_change_pct

    rows = []
    for (task, metric), group in results.groupby(["task", "metric"], sort=True):
        base = group[group.arm == baseline].set_index("seed")["value"]
        for arm, g in group.groupby("arm", sort=False):
            vals = g.set_index("seed")["value"]
            mean, sd = mean_sd(vals.to_numpy())
            paired = vals.index.intersection(base.index)
            diffs = (vals[paired] - base[paired]).to_numpy()
            is_base = arm == baseline
            rows.append({
                "task": task, "metric": metric, "arm": arm, "n_seeds": len(vals), "mean": mean, "sd": sd,
                "diff_mean": 0.0 if is_base else (float(diffs.mean()) if len(diffs) else float("nan")),
                "rel_change_pct": 0.0 if is_base else relative_change_pct(mean, float(base.mean()))
                if len(base) else float("nan"),
                "p_seeds": float("nan") if is_base else sign_flip_p(diffs),
            })
    return pd.DataFrame(rows)
