"""Classification metrics as pure functions of label arrays / a confusion matrix.

Conventions (the same as scikit-learn with ``labels=range(n)`` and ``zero_division=0``):
- the confusion matrix has true classes as rows and predicted classes as columns;
- a class that is never predicted has precision 0; a class with no support has recall 0 and F1 0;
- macro precision/recall/F1 average over ALL classes of the run (so an absent class pulls them down);
- balanced accuracy averages recall over the classes that have support (scikit-learn's
  ``balanced_accuracy_score``), so it equals macro recall whenever every class is present.

Written on numpy rather than torchmetrics because everything here derives from one small matrix
and the report needs the per-class numbers and the matrix itself; tests cross-check torchmetrics.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Count (true, predicted) pairs.

    Args:
        y_true: (N,) integer class ids in [0, n_classes).
        y_pred: (N,) integer class ids in [0, n_classes).
        n_classes: number of classes.

    Returns:
        (n_classes, n_classes) int64 matrix; ``cm[t, p]`` counts samples of class t predicted as p.
    """
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in length")
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(f"{name} has ids outside [0, {n_classes})")
    flat = y_true * n_classes + y_pred
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes).astype(np.int64)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def per_class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support from a confusion matrix.

    Returns:
        dict of (C,) arrays: ``precision``, ``recall``, ``f1`` (float64) and ``support`` (int64, true counts).
    """
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def accuracy(cm: np.ndarray) -> float:
    """Fraction of samples on the diagonal (0 for an empty matrix)."""
    total = int(np.asarray(cm).sum())
    return float(np.trace(cm) / total) if total else 0.0


def balanced_accuracy(cm: np.ndarray) -> float:
    """Mean recall over the classes that have at least one true sample."""
    scores = per_class_scores(cm)
    present = scores["support"] > 0
    return float(scores["recall"][present].mean()) if present.any() else 0.0


def classification_metrics(cm: np.ndarray, class_names: list[str]) -> dict:
    """Every headline metric of one confusion matrix, JSON-ready.

    Returns:
        ``{"n", "accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1",
        "per_class": {name: {"precision", "recall", "f1", "support"}}}``.
    """
    cm = np.asarray(cm, dtype=np.int64)
    if cm.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion matrix {cm.shape} does not match {len(class_names)} class names")
    scores = per_class_scores(cm)
    return {
        "n": int(cm.sum()),
        "accuracy": accuracy(cm),
        "balanced_accuracy": balanced_accuracy(cm),
        "macro_precision": float(scores["precision"].mean()),
        "macro_recall": float(scores["recall"].mean()),
        "macro_f1": float(scores["f1"].mean()),
        "per_class": {
            name: {
                "precision": float(scores["precision"][i]),
                "recall": float(scores["recall"][i]),
                "f1": float(scores["f1"][i]),
                "support": int(scores["support"][i]),
            }
            for i, name in enumerate(class_names)
        },
    }


def generalization_gap(train_accuracy: float, test_accuracy: float) -> float:
    """Train accuracy minus test accuracy (positive = the model fits train better than it generalizes)."""
    return float(train_accuracy) - float(test_accuracy)
