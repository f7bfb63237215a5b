"""How long a classifier trains: equal-budget epochs per arm, and the val curve that says whether it was enough.

Under ``budget: images`` an arm's classifier trains ``round_half_up(epochs * n_reference / n_train)`` epochs,
where the sizes count training crops (real + classical copies + GAN crops), and ``patience`` scales the same
way (data/budget.py states the rule). The cosine learning-rate schedule spans ``epochs`` by itself.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from blendaug.data.budget import Budget, equal_budget


def classifier_budget(epochs: int, n_train: int, n_train_reference: int, budget: str, patience: int = 0) -> Budget:
    """The epochs (and ``patience`` in ``settings``) of one arm's classifier.

    Args:
        epochs, patience: the reference's (``patience`` 0: no early stopping, stays 0).
        n_train, n_train_reference: training crops of this arm and of the reference.
        budget: ``"images"`` or ``"epochs"``.
    """
    return equal_budget(epochs, n_train, n_train_reference, budget, {"patience": patience})


def train_set_size(real_per_class: Sequence[int], classical_factor: int = 0, synthetic_ratio: float = 0.0,
                   synthetic_count: int | None = None) -> int:
    """Training crops of a run, counted as ``classify train`` builds its set.

    The real crops, ``classical_factor`` augmented copies of each, and per class ``round(synthetic_ratio x
    real count)`` GAN crops (or ``synthetic_count``), as :func:`blendaug.classification.synthetic.select_synthetic`
    picks them; a short GAN pool gives fewer (the run's ``metrics.json`` ``train_set`` has the real counts).
    """
    total = 0
    for n in real_per_class:
        want = synthetic_count if synthetic_count is not None else int(round(synthetic_ratio * n))
        total += n * (1 + classical_factor) + max(0, want)
    return total


def val_curve(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(epochs, val accuracy)`` from a run's ``curves.csv``; empty arrays without one or without a val split."""
    path = Path(run_dir) / "curves.csv"
    if not path.is_file():
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not all(math.isfinite(float(r["val_loss"])) for r in rows):  # inf: no val split
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return (np.array([int(r["epoch"]) for r in rows], dtype=np.int64),
            np.array([float(r["val_acc"]) for r in rows]))
