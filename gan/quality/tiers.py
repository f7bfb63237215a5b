"""Quality tiers (``high``, ``mid``, ``low``, ``unusable``) from anchored scores, never from epochs or ranks.

Two normalised scores per row of ``quality.csv`` (one row per snapshot and class, plus ``all``):

- ``quality``: where the snapshot's FID against held-out real crops lies between the class's two
  anchors, on a log scale: ``log(fid_noise / fid) / log(fid_noise / fid_real)``. ``fid_real`` is what
  real train crops score (a perfect generator), ``fid_noise`` the best of the noise references (a
  useless one). 1 = as good as real crops, 0 = no better than noise; it may leave [0, 1]. The ``all``
  row holds the mean over classes. The log scale because FID falls by factors during training, and a
  linear scale would let a far-away noise anchor make every blob look good.
- ``tstr_norm``: the snapshot's balanced TSTR accuracy on held-out crops between chance (0) and a
  classifier trained on as many real train crops (1); the same value on every row of the snapshot.
  It tells apart only the classes that have a quality scale (:func:`has_scale`): a class whose real
  crops score no closer to the held-out ones than noise does cannot be judged, and with a few dozen
  crops it made the real anchor, and so the normalisation, noisy (normalised values up to 2.2 on the
  jekhor buses). Empty with fewer than two such classes, and empty when it is too noisy to tell the tiers
  apart: its standard error (:func:`normalised_tstr_se`, at worst-case accuracy) above ``tstr_max_se``. On the
  jekhor cars and minibuses (375 and 41 held-out crops, real crops told apart at 0.59 balanced accuracy)
  it is 0.47, and a snapshot's tstr_norm jumped between -0.56 and 1.31 while its car quality rose steadily;
  on toyworld (92/65/53 crops, 0.92) it is 0.06.

The rule (thresholds in :class:`TierRule`), per row:

1. ``unusable`` when ``quality`` is missing or below ``usable`` (not clearly better than noise), or,
   with ``copying_unusable``, when the row is flagged as copying its train crops;
2. ``high`` when ``quality >= high_quality`` and ``tstr_norm >= high_tstr`` (or no TSTR);
3. ``mid`` when ``quality >= mid_quality`` and ``tstr_norm >= mid_tstr`` (or no TSTR);
4. ``low`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

TIERS = ("high", "mid", "low")
ALL_TIERS = (*TIERS, "unusable")


class TierRule(BaseModel):
    """Thresholds of the tier rule (see the module doc)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    usable: float = Field(0.25, description="normalised quality below this is unusable (not clearly better than "
                          "the noise reference)")
    mid_quality: float = Field(0.4, description="normalised quality needed for mid")
    high_quality: float = Field(0.5, description="normalised quality needed for high")
    mid_tstr: float = Field(0.25, description="normalised TSTR needed for mid (multi-class runs)")
    high_tstr: float = Field(0.5, description="normalised TSTR needed for high (multi-class runs)")
    tstr_max_se: float = Field(0.125, gt=0, description="leave TSTR out of the rule when the normalised TSTR's "
                               "standard error can exceed this (few held-out crops, or classes real crops barely "
                               "tell apart): half the gap between mid_tstr and high_tstr")
    copy_z: float = Field(3.0, gt=0, description="memorisation flag: copy_z (Mann-Whitney Z_U) below -copy_z")
    copying_unusable: bool = Field(False, description="make rows flagged as copying unusable, not only flagged")


def _finite(x: object) -> bool:
    """A finite number of any numeric type (a column read back from CSV may be int64)."""
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def has_scale(fid_real: float, fid_noise: float) -> bool:
    """Whether a class's two anchors separate: its noise reference scores clearly worse than its real crops.

    A class without a scale has no measurable quality, and the TSTR leaves it out too (see the module doc).
    """
    if not (_finite(fid_real) and _finite(fid_noise)):
        return False
    return math.log(max(float(fid_noise), 1e-6) / max(float(fid_real), 1e-6)) > math.log(1.05)


def normalised_quality(fid: float, fid_real: float, fid_noise: float) -> float:
    """``log(fid_noise / fid) / log(fid_noise / fid_real)``; NaN when the anchors do not separate.

    FIDs at or below zero are taken as 1e-6 (an exact copy of the reference set).
    """
    if not _finite(fid) or not has_scale(fid_real, fid_noise):  # noise scores (almost) as well as real crops
        return math.nan
    fid, fid_real, fid_noise = (max(float(v), 1e-6) for v in (fid, fid_real, fid_noise))
    return math.log(fid_noise / fid) / math.log(fid_noise / fid_real)


def normalised_tstr(acc: float, acc_real: float, n_classes: int) -> float:
    """``(acc - 1/K) / (acc_real - 1/K)``: 0 = chance, 1 = as good as training on real crops; NaN if undefined."""
    if n_classes < 2 or not (_finite(acc) and _finite(acc_real)):
        return math.nan
    chance = 1.0 / n_classes
    if acc_real - chance <= 0.05:  # real crops barely beat chance on held-out crops: no scale
        return math.nan
    return (float(acc) - chance) / (float(acc_real) - chance)


def normalised_tstr_se(n_heldout: Sequence[int], acc_real: float) -> float:
    """The largest standard error a normalised TSTR can have on these held-out crops: a balanced accuracy's
    standard error at per-class accuracy 1/2 (its worst case), over the real anchor's span above chance.

    Infinite when there is no span (fewer than two classes, or real crops no better than chance).
    """
    k = len(n_heldout)
    if k < 2 or not _finite(acc_real) or min(n_heldout) < 1 or float(acc_real) - 1.0 / k <= 0:
        return math.inf
    se = math.sqrt(sum(0.25 / n for n in n_heldout)) / k
    return se / (float(acc_real) - 1.0 / k)


def tier_of(quality: float, tstr_norm: float, copying: bool, rule: TierRule) -> str:
    """The tier of one row (see the module doc); a NaN ``tstr_norm`` means "no TSTR" (a single class)."""
    if not _finite(quality) or quality < rule.usable or (copying and rule.copying_unusable):
        return "unusable"
    has_tstr = _finite(tstr_norm)
    if quality >= rule.high_quality and (not has_tstr or tstr_norm >= rule.high_tstr):
        return "high"
    if quality >= rule.mid_quality and (not has_tstr or tstr_norm >= rule.mid_tstr):
        return "mid"
    return "low"


def assign_tiers(table: pd.DataFrame, rule: TierRule = TierRule()) -> pd.Series:
    """Tier of every row of a quality table with columns ``quality``, ``tstr_norm`` and ``copying``.

    Returns:
        A Series of tiers (``ALL_TIERS``) aligned with ``table.index``.
    """
    if table.empty:
        return pd.Series([], index=table.index, dtype=object)
    copying = table["copying"] if "copying" in table else pd.Series(False, index=table.index)
    tiers = [tier_of(q, t, bool(c) if not pd.isna(c) else False, rule)
             for q, t, c in zip(table["quality"], table["tstr_norm"], copying, strict=True)]  # fmt: skip
    return pd.Series(np.asarray(tiers, dtype=object), index=table.index)
