"""How long a detector trains: equal-budget epochs per arm, and the val curve that says whether it was enough.

Under ``budget: images`` an arm's detector trains ``round_half_up(epochs * n_reference / n_train)`` epochs
(data/budget.py states the rule), and ultralytics' other epoch-counted settings scale with it:

- ``close_mosaic`` (final epochs without mosaic) and ``patience`` (early-stopping epochs): integers, round
  half up, kept >= 1 unless 0 (off);
- ``warmup_epochs``: exact, since ultralytics warms up for ``round(warmup_epochs x batches per epoch)``
  iterations, so the warm-up covers the same images.

The learning-rate schedule (linear or cosine to ``lrf`` over ``epochs``) follows ``epochs`` by itself, and
``nbs`` counts images, not epochs. ``save_period`` only writes extra checkpoints, so it is left alone. A
``time`` limit (hours) replaces epochs altogether and cannot be equalised in images: it is an error.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from blendaug.data.budget import Budget, equal_budget
from blendaug.data.errors import ConfigError

EPOCH_KEYS = ("close_mosaic", "warmup_epochs", "patience")
VAL_CURVE_COLUMN = "metrics/mAP50(B)"


def detector_budget(args: Mapping[str, Any], n_train: int, n_train_reference: int, budget: str) -> Budget:
    """The epochs and scaled epoch-based ultralytics settings of one arm's detector.

    Args:
        args: the reference job's complete ultralytics train arguments (``epochs`` and the keys in
            ``EPOCH_KEYS``; see :func:`resolve_detector_budget`).
        n_train, n_train_reference: train images of this arm's dataset and of the reference's.
        budget: ``"images"`` or ``"epochs"``.

    Returns:
        a :class:`Budget`; train with ``epochs=budget.epochs`` and ``overrides={**overrides, **budget.settings}``.

    Raises:
        ConfigError: ``budget: images`` with a ``time`` limit.
    """
    if budget == "images" and args.get("time"):
        raise ConfigError(f"detection.args.time={args['time']}: a time limit replaces epochs, so budget: images "
                          "cannot equalise it (drop time, or use budget: epochs)")
    return equal_budget(int(args["epochs"]), n_train, n_train_reference, budget,
                        {k: args[k] for k in EPOCH_KEYS if k in args})


def resolve_detector_budget(recipe: str, overrides: Mapping[str, Any], epochs: int | None, n_train: int,
                            n_train_reference: int, budget: str) -> Budget:
    """:func:`detector_budget` from a recipe, the study's extra arguments and the reference's epochs.

    The reference's settings are ultralytics' defaults < the recipe < ``blendaug detect train``'s defaults <
    ``overrides``, as :func:`blendaug.detection.train.resolve_args` resolves them (``epochs=None``: the
    recipe's). Imports ultralytics (for its defaults).
    """
    from blendaug.detection import yolo
    from blendaug.detection.train import resolve_args

    # Size, batch, seed and device do not touch the epoch-based keys; any valid values do.
    args = {**yolo.cfg_defaults(), **resolve_args(recipe, dict(overrides), epochs=epochs, imgsz=640, batch=16,
                                                   seed=0, device="cpu", amp=False)}
    return detector_budget(args, n_train, n_train_reference, budget)


def val_curve(train_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(epochs, val mAP50)`` from ultralytics' ``results.csv`` in a train folder; empty arrays without one."""
    path = Path(train_dir) / "results.csv"
    if not path.is_file():
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    with path.open(encoding="utf-8", newline="") as f:
        rows = [{k.strip(): v for k, v in row.items() if k is not None} for row in csv.DictReader(f)]
    rows = [r for r in rows if r.get(VAL_CURVE_COLUMN, "").strip()]
    epochs = np.array([int(float(r["epoch"])) for r in rows], dtype=np.int64)
    return epochs, np.array([float(r[VAL_CURVE_COLUMN]) for r in rows])
