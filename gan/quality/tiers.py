"""Quality tiers (``low``, ``mid``, ``high``) from measured scores, never from epoch numbers.

The rule, applied to each class separately (the ``all`` rows form a group of their own):

1. Rows whose FID is not a finite number (too few samples to measure) are ``low``; the others,
   ``n`` of them, are ranked.
2. Ranking: lower FID is better; on equal FID, higher coverage, then higher precision. A row's
   position ``p`` is the number of rows strictly better than it, so rows that tie on all three
   share a position (and a tier).
3. Tier from position: ``n == 1``: ``high``; ``n == 2``: ``high`` for ``p == 0``, else ``low``;
   ``n >= 3``: terciles, ``floor(3 * p / n)`` = 0, 1, 2 -> ``high``, ``mid``, ``low``
   (n = 4 gives 2 high, 1 mid, 1 low; n = 5 gives 2, 2, 1).
4. Guards on absolute quality, applied after the ranking:
   - a row whose FID is more than ``fid_ratio`` (default 2) times the best FID of its group is
     never ``high`` (it becomes ``mid``);
   - a row whose coverage is below ``min_coverage`` (default 0.05: it covers almost none of the
     real crops) is never ``high`` either (it becomes ``mid``).

   So a run whose snapshots all cover almost none of the real crops has no ``high`` tier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

TIERS = ("high", "mid", "low")


@dataclass(frozen=True)
class TierRule:
    """Thresholds of the absolute guards."""

    fid_ratio: float = 2.0  # (float) FID above this many times the group's best is never high
    min_coverage: float = 0.05  # (float) coverage below this is never high


def _finite(x: object) -> bool:
    """A finite number of any numeric type (a column read back from CSV may be int64)."""
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _key(row: pd.Series) -> tuple[float, float, float]:
    """Smaller is better; a NaN coverage or precision ranks as the worst."""
    cov = row["coverage"] if _finite(row["coverage"]) else -math.inf
    prec = row["precision"] if _finite(row["precision"]) else -math.inf
    return (float(row["fid"]), -float(cov), -float(prec))


def rank_tier(position: int, n: int) -> str:
    """Tier of the row at ``position`` (0 = best, ties share the smaller position) among ``n`` ranked rows."""
    if not 0 <= position < n:
        raise ValueError(f"position {position} outside 0..{n - 1}")
    if n == 1:
        return "high"
    if n == 2:
        return "high" if position == 0 else "low"
    return TIERS[3 * position // n]


def _group_tiers(group: pd.DataFrame, rule: TierRule) -> pd.Series:
    tiers = pd.Series("low", index=group.index, dtype=object)
    ranked = group[[_finite(v) for v in group["fid"]]]
    if ranked.empty:
        return tiers
    keys = {i: _key(row) for i, row in ranked.iterrows()}
    best_fid = min(k[0] for k in keys.values())
    n = len(keys)
    for i, key in keys.items():
        position = sum(other < key for other in keys.values())
        tier = rank_tier(position, n)
        cov = group.at[i, "coverage"]
        too_far = key[0] > rule.fid_ratio * best_fid
        if tier == "high" and (too_far or (_finite(cov) and cov < rule.min_coverage)):
            tier = "mid"
        tiers[i] = tier
    return tiers


def assign_tiers(table: pd.DataFrame, rule: TierRule = TierRule()) -> pd.Series:
    """Tier of every row of a quality table.

    Args:
        table: one row per (snapshot, class) with at least ``class``, ``fid``, ``coverage``, ``precision``.
        rule: guard thresholds.

    Returns:
        A Series of ``high``/``mid``/``low`` aligned with ``table.index``.
    """
    if table.empty:
        return pd.Series([], index=table.index, dtype=object)
    parts = [_group_tiers(group, rule) for _, group in table.groupby("class", sort=False)]
    return pd.concat(parts).reindex(table.index)
