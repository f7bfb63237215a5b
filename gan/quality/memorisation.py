"""Memorisation check in the spirit of Meehan et al. 2020 ("A non-parametric test to detect data-copying").

For one class: the distance, in the scorer's feature space, from each generated crop to its nearest
train crop, against the same distance for each held-out real crop. A generator that has learned the
distribution draws crops as far from the train crops as new real crops are; one that copies its
training crops draws crops closer. The Mann-Whitney U statistic of the two samples, as a z-score
``Z_U`` (Meehan's C_T test, one cell), is strongly negative for copying; a snapshot with ``Z_U <
-copy_z`` is flagged ``copying``. Positive values mean the crops lie further from the train crops than
real ones (underfitting), which the quality scale already penalises. Pure functions on arrays.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import rankdata, tiecorrect


def nearest_distances(queries: np.ndarray, train: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Euclidean distance from each row of ``queries`` (M, D) to its nearest row of ``train`` (N, D): (M,)."""
    if len(train) == 0:
        return np.full(len(queries), math.inf)
    t = torch.from_numpy(np.asarray(train, dtype=np.float64))
    out = [torch.cdist(torch.from_numpy(np.asarray(queries[i : i + chunk], dtype=np.float64)), t).min(dim=1).values
           for i in range(0, len(queries), chunk)]  # fmt: skip
    return torch.cat(out).numpy() if out else np.zeros(0)


def copy_z(generated: np.ndarray, heldout: np.ndarray) -> float:
    """Mann-Whitney ``Z_U`` of the generated crops' nearest-train distances against the held-out crops' ones.

    ``U`` counts the pairs (generated, held-out) where the generated crop is the further from the train
    set (ties count half); ``Z_U = (U - mn/2) / sigma`` with the tie-corrected normal approximation.
    Negative: generated crops are closer to the train crops than real unseen crops are. NaN when either
    sample is empty or every distance is equal.
    """
    m, n = len(generated), len(heldout)
    if m == 0 or n == 0:
        return math.nan
    ranks = rankdata(np.concatenate([generated, heldout]))
    u = ranks[:m].sum() - m * (m + 1) / 2
    sigma = math.sqrt(m * n * (m + n + 1) / 12 * tiecorrect(ranks))
    return (u - m * n / 2) / sigma if sigma > 0 else math.nan
