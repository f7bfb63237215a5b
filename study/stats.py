"""Statistics of one contrast (an arm vs its reference) and one metric, over seeds and test images.

Pure numpy/scipy; no pandas, no files. docs/statistics.md gives the design, its calibration and references:

- Records: per seed, one record per test image, the same images in the same order for every seed and both
  sides; arm seed s is paired with reference seed s. Records that carry a ``group`` (the tiles of one
  frame) are resampled group by group, and the groups count as the test set's independent units. A
  *metric* maps a list of records to one number (see
  study/bootstrap.py: any callable, or a faster :class:`SumMetric`).
- The estimate is the seed-averaged paired difference ``D = mean_s d_s``, ``d_s = m(arm_s) - m(ref_s)``.
- ``d_s = delta + c + e_s``: ``c`` is the image-sampling error all seeds share (one test set), ``e_s`` is
  independent across seeds (the training run, and how its errors fall on these images). So
  ``Var(D) = Var(e) / S + Var(c)``. ``Var(e)`` is the seeds' sample variance of ``d_s`` (``S - 1`` df);
  ``Var(c)`` is the mean covariance *between seeds* of a paired image bootstrap (each replicate one index draw
  for every seed and both sides: the two-level bootstrap's image level). The seed level is not resampled:
  with 2-5 seeds a seed bootstrap is too narrow; its exact moments and a t reference are used instead.
- A per-seed spread below the 5 % chi-square quantile of the image noise that differs between seeds is raised
  to it (two seeds agreeing by luck must not give a zero-width interval).
- ``D +- t(df) * SE`` with Satterthwaite's df (1 df with 2 seeds), and the two-sided p of the same t: the
  interval excludes 0 exactly when ``p < 1 - level``. With one seed only the image part is measured and
  ``covers`` says so.
- The minimum detectable effect solves the noncentral-t power for 80 %; :func:`seeds_needed` projects it to
  more seeds. Holm's correction across contrasts; one RNG stream per (metric, contrast), recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from scipy import optimize
from scipy import stats as sps

from blendaug.study.bootstrap import (  # noqa: F401  (SumMetric, mean_metric, ratio_metric: part of this API)
    MetricFn,
    SumMetric,
    bootstrap_indices,
    cluster_indices,
    mean_metric,
    metric_replicates,
    ratio_metric,
)

COVERS_BOTH = "training runs and test images"
FLOOR_QUANTILE = 0.05
COVERS_IMAGES = "test images only (one seed: training-run variance not measured)"


@dataclass(frozen=True)
class ContrastStats:
    """One contrast and one metric: the difference ``arm - reference``, its interval, test and power.

    ``var_seed`` is the per-seed variance used (``max(s_d^2, var_image_seed)``), ``var_common`` the variance
    the seeds share (the test set's), ``var_image_seed`` the image-sampling part that differs between seeds.
    ``se**2 == var_seed / n_seeds + var_common`` when ``n_seeds >= 2``.
    """

    diff: float
    ci_low: float
    ci_high: float
    p: float
    se: float
    df: float
    mde: float  # smallest |difference| detected with probability ``power`` at this level (same seeds, images)
    arm_mean: float
    arm_sd: float
    reference_mean: float
    reference_sd: float
    per_seed_diff: tuple[float, ...]
    seeds: tuple[int, ...]  # the paired seeds used
    seeds_undefined: tuple[int, ...]  # paired seeds left out: the metric is nan for the arm or the reference
    n_images: int
    var_seed: float
    var_common: float
    var_image_seed: float
    n_boot: int
    n_boot_used: int  # replicates where the metric was defined for every seed and both sides
    covers: str  # what the interval's variance covers
    level: float = 0.95
    power: float = 0.8
    p_holm: float = float("nan")
    stream_seed: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    n_groups: int | None = None  # independent test units when images are resampled in groups (None: images)

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        """A flat dict for a summary table (tuples as ``;``-joined strings)."""
        d = asdict(self)
        for k in ("per_seed_diff", "seeds", "seeds_undefined", "notes"):
            d[k] = ";".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in d[k])
        d["n_seeds"] = self.n_seeds
        return d


def stream_seed(study_seed: int, *names: str) -> int:
    """A 63-bit seed for one named RNG stream, e.g. ``stream_seed(0, "detection", "map50", contrast)``.

    It depends only on the study seed and the names (a BLAKE2b hash, stable across runs and Python
    versions), so adding an arm or a metric leaves every other stream as it was.
    """
    digest = hashlib.blake2b("\x1f".join(names).encode("utf-8"), digest_size=8).digest()
    seq = np.random.SeedSequence([int(study_seed) & 0xFFFFFFFFFFFFFFFF, int.from_bytes(digest, "little")])
    return int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _t_quantile(q: float, df: float) -> float:
    return float(sps.t.ppf(q, df)) if np.isfinite(df) else float(sps.norm.ppf(q))


def satterthwaite_df(terms: Sequence[float], dfs: Sequence[float]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of independent variance estimates."""
    t = np.asarray(terms, dtype=np.float64)
    d = np.asarray(dfs, dtype=np.float64)
    den = float(np.sum(t**2 / d))
    return float(t.sum() ** 2 / den) if den > 0 else float("inf")


def rejection_probability(ncp: float, df: float, level: float = 0.95) -> float:
    """Power of the two-sided t test at ``level`` when ``diff / se`` is noncentral t with this ``ncp``."""
    q = _t_quantile(1 - (1 - level) / 2, df)
    if not np.isfinite(df):
        return float(sps.norm.sf(q - ncp) + sps.norm.cdf(-q - ncp))
    lower = sps.nct.cdf(-q, df, ncp)  # negligible for ncp > 0; scipy returns nan deep in that tail
    return float(sps.nct.sf(q, df, ncp) + (lower if np.isfinite(lower) else 0.0))


def detectable_effect(se: float, df: float, level: float = 0.95, power: float = 0.8) -> float:
    """Smallest true |difference| the two-sided t test at ``level`` detects with probability ``power``.

    Solves ``rejection_probability(effect / se, df) == power`` (noncentral t, so few degrees of freedom
    cost what they really cost; with df -> inf it is ``(z_(1-a/2) + z_power) * se``).
    """
    if not np.isfinite(se) or np.isnan(df):
        return float("nan")
    if se == 0:
        return 0.0

    def gap(ncp: float) -> float:
        return rejection_probability(ncp, df, level) - power

    hi = 1.0
    while gap(hi) < 0 and hi < 1e6:
        hi *= 2
    return float(optimize.brentq(gap, 0.0, hi, xtol=1e-10)) * se


def seeds_needed(result: ContrastStats, effect: float, max_seeds: int = 1000) -> int | None:
    """About how many seeds (same test set) would make ``effect`` detectable; None when no number would.

    The per-seed variance and the shared test-set variance are taken as measured; the answer is the
    smallest seed count whose :func:`detectable_effect` is at most ``effect`` (bisection: it falls with the
    seeds). None with one seed (the seed variance is unknown), or when even ``max_seeds`` seeds are not
    enough: the test set alone keeps the detectable effect above about ``detectable_effect(sqrt(var_common),
    inf)``, and then more test images, not seeds, are needed.
    """
    if result.n_seeds < 2 or not np.isfinite(result.se) or effect <= 0:
        return None

    def mde(k: int) -> float:
        seed_term = result.var_seed / k
        return detectable_effect(float(np.sqrt(seed_term + result.var_common)),
                                 _df(seed_term, result.var_common, k, result.n_groups or result.n_images),
                                 result.level, result.power)

    if mde(max_seeds) > effect:
        return None
    lo, hi = 1, max_seeds  # mde(lo) > effect (or lo is below the range), mde(hi) <= effect
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid >= 2 and mde(mid) <= effect:
            hi = mid
        else:
            lo = mid
    return hi


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979); ``nan`` entries stay ``nan`` and do not count."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


@dataclass(frozen=True)
class VarianceParts:
    """The variance of a seed-averaged difference, split by source (see the module docstring)."""

    se: float
    df: float
    var_seed: float  # per-seed variance used (training run + image noise that differs between seeds); nan: 1 seed
    var_common: float  # variance the seeds share: the test set's
    var_image_seed: float  # image-sampling variance that differs between seeds
    covers: str


def _df(seed_term: float, var_common: float, n_seeds: int, n_images: int) -> float:
    # With 2 seeds the seed variance has 1 df, and Satterthwaite's df, which grows as that noisy estimate
    # shrinks, made the interval too narrow (A/A: 9-16 % false positives); t with 1 df is kept there.
    if n_seeds <= 2:
        return 1.0
    return satterthwaite_df([seed_term, var_common], [n_seeds - 1, n_images - 1])


def two_level_variance(per_seed_diff: np.ndarray, replicates: np.ndarray, n_images: int) -> VarianceParts:
    """Standard error and df of ``mean(per_seed_diff)`` from the seeds' spread and the image bootstrap.

    Args:
        per_seed_diff: ``(S,)`` paired differences, one per seed.
        replicates: ``(B, S)`` the differences on B image resamples, each row one index draw for all seeds.
        n_images: test images (the image variance's df is ``n_images - 1``).
    """
    d = np.asarray(per_seed_diff, dtype=np.float64)
    s = len(d)
    nan = float("nan")
    reps = np.asarray(replicates, dtype=np.float64).reshape(-1, s) if s else np.zeros((0, 0))
    if len(reps) < 2 or s == 0:
        return VarianceParts(nan, nan, nan, nan, nan, "nothing")
    v_each = float(reps.var(axis=0, ddof=1).mean())  # one seed's image variance
    if s == 1:
        return VarianceParts(float(np.sqrt(v_each)), float(n_images - 1), nan, v_each, v_each, COVERS_IMAGES)
    v_mean = float(reps.mean(axis=1).var(ddof=1))
    # Shared part: the mean covariance between seeds' replicates; a negative estimate means none.
    common = (s * v_mean - v_each) / (s - 1)
    var_common = max(0.0, common)
    var_image_seed = max(0.0, v_each - var_common)
    # The seeds' spread includes the image noise that differs between seeds; a spread far below it (under
    # its 5 % chi-square quantile: two seeds agreeing by luck, a discrete metric on few images) is raised to it.
    floor = var_image_seed * float(sps.chi2.ppf(FLOOR_QUANTILE, s - 1)) / (s - 1)
    var_seed = max(float(d.var(ddof=1)), floor)
    se = float(np.sqrt(var_seed / s + var_common))
    return VarianceParts(se, _df(var_seed / s, var_common, s, n_images), var_seed, var_common, var_image_seed,
                         COVERS_BOTH)


def t_test(diff: float, se: float, df: float, level: float = 0.95) -> tuple[float, float, float]:
    """``(ci_low, ci_high, p)``: ``diff +- t_df * se`` and the two-sided p of ``diff / se``.

    The interval excludes 0 exactly when ``p < 1 - level``. A zero ``se`` gives ``[diff, diff]`` and p 1
    (diff 0) or 0.
    """
    if not (np.isfinite(se) and np.isfinite(diff)):
        return float("nan"), float("nan"), float("nan")
    if se == 0:
        return diff, diff, 1.0 if diff == 0 else 0.0
    half = _t_quantile(1 - (1 - level) / 2, df) * se
    tail = sps.t.sf(abs(diff) / se, df) if np.isfinite(df) else sps.norm.sf(abs(diff) / se)
    return diff - half, diff + half, float(min(1.0, 2 * tail))


def _paired_seeds(arm: Mapping[int, Sequence[Any]], reference: Mapping[int, Sequence[Any]]) -> list[int]:
    seeds = sorted(set(arm) & set(reference))
    lengths = {len(arm[s]) for s in seeds} | {len(reference[s]) for s in seeds}
    if len(lengths) > 1:
        raise ValueError(f"paired records differ in length across seeds or sides: {sorted(lengths)}")
    return seeds


def _groups(records: Sequence[Any]) -> list[str] | None:
    """The records' ``group`` values when they carry one (dict records, e.g. tiles naming their frame)."""
    if len(records) == 0 or not all(isinstance(r, Mapping) and "group" in r for r in records):
        return None
    return [str(r["group"]) for r in records]


def _sd(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def contrast_stats(arm: Mapping[int, Sequence[Any]], reference: Mapping[int, Sequence[Any]], metric: MetricFn,
                   rng: np.random.Generator, *, n_boot: int = 200, level: float = 0.95,
                   power: float = 0.8) -> ContrastStats:
    """The paired two-level statistics of ``metric(arm) - metric(reference)``; see the module docstring.

    Args:
        arm, reference: ``{seed: per-image records}``; seeds present on both sides are paired, every list
            holds the same test images in the same order.
        metric: records -> number (a :class:`SumMetric` is much faster to bootstrap).
        rng: this contrast and metric's own stream (see :func:`stream_seed`).
        n_boot: image-bootstrap replicates; they only estimate a variance, for which 200 is ample. Costs
            ``2 * n_seeds * (n_boot + 1)`` metric calls (a SumMetric: one matrix product per seed and side).

    Returns:
        a :class:`ContrastStats`; ``nan`` numbers when no paired seed has a defined metric.
    """
    seeds = _paired_seeds(arm, reference)
    arm_v = np.array([metric(arm[s]) for s in seeds], dtype=np.float64)
    ref_v = np.array([metric(reference[s]) for s in seeds], dtype=np.float64)
    ok = np.isfinite(arm_v) & np.isfinite(ref_v)
    used = [s for s, k in zip(seeds, ok, strict=True) if k]
    n = len(arm[seeds[0]]) if seeds else 0
    groups = _groups(arm[seeds[0]]) if seeds else None
    units = n if groups is None else len(set(groups))  # independent test units: images, or their groups
    d = arm_v[ok] - ref_v[ok]
    notes = []
    reps = np.zeros((0, len(used)))
    if groups is not None:
        notes.append(f"test images resampled in {units} groups (e.g. the tiles of one frame), not one by one")
    if used and units >= 2:
        idx = bootstrap_indices(n, n_boot, rng) if groups is None else cluster_indices(groups, n_boot, rng)
        reps = np.column_stack([metric_replicates(arm[s], metric, idx) - metric_replicates(reference[s], metric, idx)
                                for s in used])  # (n_boot, n_seeds)
        reps = reps[np.isfinite(reps).all(axis=1)]
        if len(reps) < 0.9 * n_boot:
            notes.append(f"the metric was undefined in {n_boot - len(reps)} of {n_boot} image resamples "
                         "(e.g. no predictions); the image variance comes from the others")
    else:
        notes.append("not estimable: no paired seed with a defined metric, or fewer than 2 test images")
    if len(used) == 2:
        notes.append("2 seeds: the training-run variance rests on 1 degree of freedom, so the interval is wide")
    var = two_level_variance(d, reps, units)
    diff = float(d.mean()) if len(d) else float("nan")
    lo, hi, p = t_test(diff, var.se, var.df, level)
    return ContrastStats(
        diff=diff, ci_low=float(lo), ci_high=float(hi), p=p, se=var.se, df=var.df,
        mde=detectable_effect(var.se, var.df, level, power) if np.isfinite(var.se) else float("nan"),
        arm_mean=float(arm_v[ok].mean()) if len(used) else float("nan"), arm_sd=_sd(arm_v[ok]),
        reference_mean=float(ref_v[ok].mean()) if len(used) else float("nan"), reference_sd=_sd(ref_v[ok]),
        per_seed_diff=tuple(float(x) for x in d), seeds=tuple(used),
        seeds_undefined=tuple(s for s, k in zip(seeds, ok, strict=True) if not k), n_images=n,
        var_seed=var.var_seed, var_common=var.var_common, var_image_seed=var.var_image_seed, n_boot=n_boot,
        n_boot_used=len(reps), covers=var.covers, level=level, power=power, notes=tuple(notes),
        n_groups=None if groups is None else units)


def compare_contrasts(contrasts: Mapping[str, tuple[Mapping[int, Sequence[Any]], Mapping[int, Sequence[Any]]]],
                      metric: MetricFn, *, study_seed: int, stream: Sequence[str], n_boot: int = 200,
                      level: float = 0.95, power: float = 0.8) -> dict[str, ContrastStats]:
    """:func:`contrast_stats` for every contrast of one metric, each on its own stream, with Holm's p.

    Args:
        contrasts: ``{contrast name: (arm records by seed, reference records by seed)}``.
        stream: the metric's stream names, e.g. ``("detection", "map50")``; contrast ``k`` draws from
            ``stream_seed(study_seed, *stream, k)``, recorded in the result.

    Returns:
        ``{contrast name: ContrastStats}`` with ``p_holm`` (over these contrasts) and ``stream_seed`` set.
    """
    out = {}
    for name, (arm, ref) in contrasts.items():
        seed = stream_seed(study_seed, *stream, name)
        res = contrast_stats(arm, ref, metric, np.random.default_rng(seed), n_boot=n_boot, level=level,
                             power=power)
        out[name] = replace(res, stream_seed=seed)
    adjusted = holm([r.p for r in out.values()])
    return {k: replace(r, p_holm=float(a)) for (k, r), a in zip(out.items(), adjusted, strict=True)}


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def relative_change_pct(arm_value: float, base_value: float) -> float:
    """``(arm - base) / base * 100``, as the seed paper reported gains; NaN when the base is 0."""
    return float("nan") if base_value == 0 else (arm_value - base_value) / abs(base_value) * 100.0
