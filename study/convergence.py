"""Was a job still learning when it stopped? A trend test over the last part of its val curve.

The curve is the job's val metric per epoch (the detector's val mAP50 from ultralytics' ``results.csv``,
:func:`blendaug.detection.budget.val_curve`; the classifier's val accuracy from ``curves.csv``,
:func:`blendaug.classification.budget.val_curve`). A job is flagged *still rising* when, over the last third
of its epochs (at least ``min_points`` of them):

1. the Mann-Kendall trend test is significant: Kendall's tau between epoch and value (tau-b, which handles
   the ties that a val accuracy on a few images produces) has a one-sided p below 0.05, and
2. the Theil-Sen rise over that window, ``slope x (last epoch - first epoch)`` with the slope the median of
   all pairwise slopes (Sen 1968), is at least ``min_rise`` (0.01 by default: one point of mAP50 or accuracy).

Both are rank-based, so a single spike or drop (tiny val sets make them) moves neither much; (1) says the rise
is not noise, (2) that it matters. Val curves are autocorrelated, which makes (1) alone too eager; (2) keeps a
slow creep unflagged.
A curve shorter than ``min_points`` epochs is not judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class ConvergenceCheck:
    """The flag and the numbers behind it."""

    rising: bool
    reason: str
    n_epochs: int
    window: tuple[int, int]  # first and last epoch of the tested tail (0, 0 when not judged)
    slope: float  # per epoch (Theil-Sen)
    p_trend: float  # one-sided Mann-Kendall p of a rising trend
    rise: float  # slope x window length in epochs
    last: float  # the final value
    best: float
    best_epoch: int


def check_convergence(values: Sequence[float], epochs: Sequence[int] | None = None, *, tail: float = 1 / 3,
                      min_points: int = 5, min_rise: float = 0.01, alpha: float = 0.05) -> ConvergenceCheck:
    """Flag a val curve that was still clearly rising over its last ``tail`` (see the module docstring).

    Args:
        values: the val metric per epoch (higher is better); ``nan`` entries are dropped.
        epochs: their epoch numbers (default 1, 2, ...).
        alpha: the trend test's one-sided level.
    """
    y = np.asarray(values, dtype=np.float64).reshape(-1)
    x = np.arange(1, len(y) + 1, dtype=np.float64) if epochs is None else np.asarray(epochs, dtype=np.float64)
    keep = np.isfinite(y) & np.isfinite(x)
    x, y = x[keep], y[keep]
    nan = float("nan")
    if len(y) == 0:
        return ConvergenceCheck(False, "no val curve", 0, (0, 0), nan, nan, nan, nan, nan, 0)
    best = int(np.argmax(y))
    common = dict(n_epochs=len(y), last=float(y[-1]), best=float(y[best]), best_epoch=int(x[best]))
    if len(y) < min_points:
        return ConvergenceCheck(False, f"too short to judge ({len(y)} epochs < {min_points})", window=(0, 0),
                                slope=nan, p_trend=nan, rise=nan, **common)
    k = max(min_points, math.ceil(tail * len(y)))
    xt, yt = x[-k:], y[-k:]
    window = (int(xt[0]), int(xt[-1]))
    if np.ptp(yt) == 0:
        return ConvergenceCheck(False, "flat over the last part", window=window, slope=0.0, p_trend=1.0,
                                rise=0.0, **common)
    p_trend = float(sps.kendalltau(xt, yt, alternative="greater").pvalue)
    slope = float(sps.theilslopes(yt, xt).slope)
    rise = slope * float(xt[-1] - xt[0])
    trend = p_trend < alpha
    rising = bool(trend and rise >= min_rise)
    if rising:
        reason = f"still rising: +{rise:.3g} over epochs {window[0]}-{window[1]}"
    elif trend:
        reason = f"rising by only {rise:.3g} (< {min_rise:g}) over epochs {window[0]}-{window[1]}"
    else:
        reason = f"no clear rise over epochs {window[0]}-{window[1]}"
    return ConvergenceCheck(rising, reason, window=window, slope=slope, p_trend=p_trend, rise=rise, **common)


def count_rising(checks: Sequence[ConvergenceCheck]) -> tuple[int, int]:
    """``(jobs flagged still rising, jobs)``, e.g. over one arm's seeds, for the verdict."""
    return sum(c.rising for c in checks), len(checks)
