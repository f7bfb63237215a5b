"""The training budget of a generator: optimiser steps and snapshot steps, from what a config states.

A budget is given in optimiser steps (one step = one batch through the family's main optimiser; for
the GANs, one discriminator update), or in epochs as a convenience. Epochs are converted with the
number of crops a generator trains on, ``N`` (all crops for a conditional generator, the mean class
size for one generator per class): one epoch is ``floor(N / min(batch, N))`` steps, as one pass over a
fresh permutation of the crops. Snapshots are integers in the budget's unit (steps, or epochs when the
budget is in epochs) or fractions of the budget (floats in (0, 1]); the last step is always a snapshot.
The conversion is recorded in ``run.json`` (``budget``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from blendaug.data.errors import ConfigError

DEFAULT_SNAPSHOTS = (0.05, 0.2, 0.5, 1.0)


@dataclass(frozen=True)
class Budget:
    """Steps per generator, the snapshot steps (sorted, the last is ``steps``) and how they were stated."""

    steps: int
    snapshots: tuple[int, ...]
    stated: dict = field(default_factory=dict, compare=False)


def steps_per_epoch(crops_per_generator: float, batch: int) -> int:
    """Steps of one pass over ``N`` crops at ``batch`` (the batch is capped at N): at least 1."""
    n = max(1, round(crops_per_generator))
    return max(1, n // min(batch, n))


def check_snapshot_values(values: Sequence[int | float], limit: int | None, unit: str) -> None:
    """Each value an int in 1..limit (``unit`` names it) or a float fraction in (0, 1]; ConfigError otherwise."""
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"snapshots: {v!r} is neither a number of {unit} nor a fraction of the budget")
        if isinstance(v, float) and not 0 < v <= 1:
            raise ConfigError(f"snapshots: fraction {v} outside (0, 1] (write {unit} as integers)")
        if isinstance(v, int) and (v < 1 or (limit is not None and v > limit)):
            raise ConfigError(f"snapshots: {v} outside 1..{limit if limit is not None else 'the budget'} ({unit})")


def resolve_budget(
    steps: int | None,
    epochs: int | None,
    snapshots: Sequence[int | float],
    batch: int,
    crops_per_generator: float,
) -> Budget:
    """The budget in steps.

    Args:
        steps, epochs: exactly one is set.
        snapshots: ints in the budget's unit or float fractions; empty = ``DEFAULT_SNAPSHOTS``.
        batch: batch size.
        crops_per_generator: the ``N`` of the module doc (only used for epochs).

    Raises:
        ConfigError: neither or both of steps/epochs, or a snapshot outside the budget.
    """
    if (steps is None) == (epochs is None):
        raise ConfigError("give the budget as exactly one of steps or epochs")
    if (steps or epochs or 0) < 1:
        raise ConfigError("the budget (steps or epochs) must be at least 1")
    unit, per = ("steps", 1) if steps is not None else ("epochs", steps_per_epoch(crops_per_generator, batch))
    total = steps if steps is not None else epochs * per
    wanted = tuple(snapshots) or DEFAULT_SNAPSHOTS
    check_snapshot_values(wanted, steps if steps is not None else epochs, unit)
    snaps = {max(1, round(v * total)) if isinstance(v, float) else v * per for v in wanted}
    stated: dict = {"steps": steps} if steps is not None else {
        "epochs": epochs, "steps_per_epoch": per, "crops_per_generator": round(crops_per_generator, 2), "batch": batch}
    stated["snapshots"] = list(wanted)
    return Budget(total, tuple(sorted({*snaps, total})), stated)
