"""Metric maths against hand calculations (and torchmetrics as a second opinion)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassConfusionMatrix, MulticlassF1Score, MulticlassPrecision

from blendaug.classification.metrics import (
    accuracy,
    balanced_accuracy,
    classification_metrics,
    confusion_matrix,
    generalization_gap,
    per_class_scores,
)

NAMES = ["car", "truck", "van"]


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix([0, 0, 0, 1, 1, 2], [0, 1, 0, 1, 2, 2], 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert cm.dtype == np.int64


def test_metrics_match_hand_calculation():
    # cm = [[2,1,0],[0,1,1],[0,0,1]]
    # precision: 2/2, 1/2, 1/2   recall: 2/3, 1/2, 1/1   f1: 0.8, 0.5, 2/3
    cm = confusion_matrix([0, 0, 0, 1, 1, 2], [0, 1, 0, 1, 2, 2], 3)
    m = classification_metrics(cm, NAMES)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["macro_precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["macro_recall"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["per_class"]["car"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert m["per_class"]["van"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})


def test_absent_and_never_predicted_classes_score_zero():
    # true: car, car, truck; pred: car, van, truck -> van predicted once, never true
    cm = confusion_matrix([0, 0, 1], [0, 2, 1], 3)
    s = per_class_scores(cm)
    assert s["precision"].tolist() == [1.0, 1.0, 0.0]
    assert s["recall"].tolist() == [0.5, 1.0, 0.0]
    assert s["support"].tolist() == [2, 1, 0]
    # balanced accuracy only averages classes with support; macro recall averages all three
    assert balanced_accuracy(cm) == pytest.approx(0.75)
    assert classification_metrics(cm, NAMES)["macro_recall"] == pytest.approx(0.5)
    # a class never predicted: precision 0, not NaN
    cm2 = confusion_matrix([0, 1, 2], [0, 0, 0], 3)
    assert per_class_scores(cm2)["precision"].tolist() == pytest.approx([1 / 3, 0.0, 0.0])
    assert accuracy(cm2) == pytest.approx(1 / 3)


def test_empty_input_and_bad_ids():
    cm = confusion_matrix([], [], 2)
    assert cm.tolist() == [[0, 0], [0, 0]]
    assert accuracy(cm) == 0.0 and balanced_accuracy(cm) == 0.0
    with pytest.raises(ValueError):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0], 3)


def test_generalization_gap():
    assert generalization_gap(0.9, 0.7) == pytest.approx(0.2)
    assert generalization_gap(0.5, 0.6) == pytest.approx(-0.1)


def test_agrees_with_torchmetrics_on_random_labels():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 4, 200))
    cm = confusion_matrix(y_true, y_pred, 4)
    m = classification_metrics(cm, ["a", "b", "c", "d"])
    t, p = torch.from_numpy(y_true), torch.from_numpy(y_pred)
    assert cm.tolist() == MulticlassConfusionMatrix(4)(p, t).tolist()
    assert m["macro_precision"] == pytest.approx(MulticlassPrecision(4, average="macro")(p, t).item(), abs=1e-6)
    assert m["macro_f1"] == pytest.approx(MulticlassF1Score(4, average="macro")(p, t).item(), abs=1e-6)
