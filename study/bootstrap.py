"""The image level of the two-level bootstrap: metrics over per-image records and their resampled values.

A *metric* maps a list of per-image records to one number. Any callable works, called once per resample; a
metric with a ``replicates(records, idx)`` method computes all resamples itself, faster. A
:class:`SumMetric`, a function of per-image column sums (accuracy, precision, recall, count MAPE, balanced
accuracy, macro F1), does it as one matrix product: the resample counts ``(B, n)`` times the per-image table
``(n, k)``; mAP packs its records once (:class:`blendaug.detection.metrics.PackedAP`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MetricFn = Callable[[Sequence[Any]], float]


@dataclass(frozen=True)
class SumMetric:
    """A metric that is a function of per-image column sums; callable like any metric function.

    Attributes:
        columns: records -> ``(n_images, k)`` per-image values.
        combine: ``(..., k)`` column sums -> ``(...)`` metric values (``nan`` where undefined).
    """

    columns: Callable[[Sequence[Any]], np.ndarray]
    combine: Callable[[np.ndarray], np.ndarray]

    def __call__(self, records: Sequence[Any]) -> float:
        return float(self.combine(self.table(records).sum(axis=0)))

    def table(self, records: Sequence[Any]) -> np.ndarray:
        """The ``(n_images, k)`` float64 per-image values."""
        x = np.asarray(self.columns(records), dtype=np.float64)
        return x.reshape(len(records), -1)

    def replicates(self, records: Sequence[Any], idx: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """The metric on every resample: one ``(n_boot, n) @ (n, k)`` product."""
        return self.combine(_counts(idx, len(records)) @ self.table(records))


def _ratio_of(sums: np.ndarray) -> np.ndarray:
    num, den = sums[..., 0], sums[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def ratio_metric(numerator: Callable[[Any], float], denominator: Callable[[Any], float]) -> SumMetric:
    """``sum(numerator) / sum(denominator)`` over images (``nan`` when the denominator sums to 0).

    Precision is ``ratio_metric(tp, n_pred)``; a mean over a subset of images (count MAPE over images with
    objects) is ``ratio_metric(lambda r: value if in_subset else 0, lambda r: float(in_subset))``.
    """
    return SumMetric(lambda rs: [[numerator(r), denominator(r)] for r in rs], _ratio_of)


def mean_metric(value: Callable[[Any], float]) -> SumMetric:
    """The mean of one per-image value (accuracy: ``mean_metric(lambda r: r["true"] == r["pred"])``)."""
    return ratio_metric(value, lambda _: 1.0)


def bootstrap_indices(n_images: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n_images)`` image indices drawn with replacement; one row serves every seed and both sides."""
    return rng.integers(0, n_images, size=(n_boot, n_images))


def cluster_indices(groups: Sequence[Any], n_boot: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Image indices of ``n_boot`` resamples that draw whole groups with replacement (a cluster bootstrap).

    Images of one group are not independent (the tiles of one frame share its scene, and their overlaps
    hold the same objects), so they are resampled together, as many groups as there are. Groups are numbered
    in sorted order; when every image is its own group and the names sort in the records' order, this draws
    the same resamples as :func:`bootstrap_indices` from the same ``rng``.
    """
    _, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(int(inverse.max()) + 1)] if len(inverse) else []
    draws = rng.integers(0, len(members), size=(n_boot, len(members)))
    return [np.concatenate([members[g] for g in row]) for row in draws]


def _counts(idx: np.ndarray | Sequence[np.ndarray], n_images: int) -> np.ndarray:
    if not isinstance(idx, np.ndarray):  # resamples of different lengths (whole groups drawn)
        return np.stack([np.bincount(row, minlength=n_images) for row in idx]).astype(np.float64)
    b = idx.shape[0]
    flat = (np.arange(b)[:, None] * n_images + idx).ravel()
    return np.bincount(flat, minlength=b * n_images).reshape(b, n_images).astype(np.float64)


def metric_replicates(records: Sequence[Any], metric: MetricFn, idx: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """``metric`` on each bootstrap resample ``records[idx[b]]``: an ``(n_boot,)`` array.

    ``idx`` is ``(n_boot, n)`` from :func:`bootstrap_indices` or the list :func:`cluster_indices` gives.
    A metric with a ``replicates`` method (a :class:`SumMetric`, mAP) computes them itself; any other metric
    is called once per row.
    """
    replicates = getattr(metric, "replicates", None)
    if replicates is not None:
        return np.asarray(replicates(records, idx), dtype=np.float64)
    return np.array([metric([records[i] for i in row]) for row in idx], dtype=np.float64)
