"""The study's training budget per job: equal images seen (``budget: images``) or equal epochs."""

from __future__ import annotations

from typing import Any


def detection_budget(d: dict[str, Any], n_base: int, n_arm: int) -> dict[str, Any]:
    """Epochs (and epoch-based ultralytics arguments) of one detector job; recorded in its budget.json."""
    epochs = d["epochs"]
    if d["budget"] == "images" and n_arm > 0:
        epochs = max(1, round(d["epochs"] * n_base / n_arm))
    return {"budget": d["budget"], "base_epochs": d["epochs"], "epochs": epochs, "n_base": n_base, "n_arm": n_arm,
            "args": {}}


def classification_budget(c: dict[str, Any], synthetic_per_real: float) -> dict[str, Any]:
    epochs = c["epochs"]
    if c["budget"] == "images":
        epochs = max(1, round(c["epochs"] / (1.0 + synthetic_per_real)))
    return {"budget": c["budget"], "base_epochs": c["epochs"], "epochs": epochs,
            "synthetic_per_real": synthetic_per_real}
