"""Equal training budgets: scale epoch-based settings so two training sets are seen the same number of times.

Shared by detection/budget.py and classification/budget.py (pure arithmetic, no framework). Under
``budget: images`` an arm whose training set holds ``n_train`` images trains for

    ``epochs = max(1, round_half_up(reference_epochs * n_train_reference / n_train))``

so it sees ``epochs * n_train`` images, the reference ``reference_epochs * n_train_reference``: equal up to
rounding to whole epochs (off by less than half an epoch of the arm's set). Every other epoch-based setting
scales by the same factor: integer ones (ultralytics' ``close_mosaic``, ``patience``) round half up and stay
>= 1 when they were >= 1 (0 keeps meaning "off"); fractional ones (``warmup_epochs``) scale exactly, since
what they control (warm-up iterations = warmup_epochs x batches per epoch) is counted in batches.
``budget: epochs`` returns every value unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

BUDGETS = ("images", "epochs")


def round_half_up(x: Fraction) -> int:
    """``floor(x + 1/2)``, exactly (no float ties)."""
    return int((x + Fraction(1, 2)).__floor__())


def scale_factor(n_train: int, n_train_reference: int, budget: str) -> Fraction:
    """``n_train_reference / n_train`` under ``budget: images``, 1 under ``budget: epochs``.

    Raises:
        ValueError: an unknown budget, or a training set of fewer than 1 image.
    """
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {', '.join(BUDGETS)}, not {budget!r}")
    if n_train < 1 or n_train_reference < 1:
        raise ValueError(f"training sets need at least 1 image (got {n_train} and {n_train_reference})")
    return Fraction(n_train_reference, n_train) if budget == "images" else Fraction(1)


def scale_setting(value: Any, factor: Fraction) -> Any:
    """One epoch-based setting scaled by ``factor``: ints round half up (>= 1 unless 0), floats exactly."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return 0 if value <= 0 else max(1, round_half_up(value * factor))
    if isinstance(value, float):
        return float(Fraction(value) * factor) if value > 0 else value
    return value


@dataclass(frozen=True)
class Budget:
    """The resolved training length of one job, as the study records it."""

    budget: str  # "images" or "epochs"
    epochs: int
    reference_epochs: int
    n_train: int  # training images (or crops) of this job
    n_train_reference: int
    settings: dict[str, Any] = field(default_factory=dict)  # scaled epoch-based settings (to pass on)
    reference_settings: dict[str, Any] = field(default_factory=dict)  # their reference values

    @property
    def images_seen(self) -> int:
        return self.epochs * self.n_train

    @property
    def reference_images_seen(self) -> int:
        return self.reference_epochs * self.n_train_reference

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the images seen by the job and by the reference."""
        return {"budget": self.budget, "epochs": self.epochs, "reference_epochs": self.reference_epochs,
                "n_train": self.n_train, "n_train_reference": self.n_train_reference,
                "images_seen": self.images_seen, "reference_images_seen": self.reference_images_seen,
                "settings": dict(self.settings), "reference_settings": dict(self.reference_settings)}


def equal_budget(epochs: int, n_train: int, n_train_reference: int, budget: str,
                 settings: dict[str, Any] | None = None) -> Budget:
    """The epochs (and other epoch-based settings) of a job whose reference trains ``epochs`` epochs.

    Args:
        epochs: the reference's epochs.
        n_train, n_train_reference: training-set sizes of this job and of the reference.
        budget: ``"images"`` (equal images seen) or ``"epochs"`` (unchanged).
        settings: the reference's other epoch-based settings, e.g. ``{"close_mosaic": 10}``.
    """
    factor = scale_factor(n_train, n_train_reference, budget)
    ref = dict(settings or {})
    return Budget(budget=budget, epochs=max(1, round_half_up(epochs * factor)), reference_epochs=epochs,
                  n_train=n_train, n_train_reference=n_train_reference,
                  settings={k: scale_setting(v, factor) for k, v in ref.items()}, reference_settings=ref)
