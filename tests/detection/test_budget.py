"""detection/budget.py: ultralytics' epoch-based settings scale with the epochs; the val curve reader."""

import pytest

from blendaug.data.errors import ConfigError
from blendaug.detection.budget import detector_budget, resolve_detector_budget, val_curve


def test_detector_budget_scales_every_epoch_based_setting():
    args = {"epochs": 60, "close_mosaic": 10, "warmup_epochs": 3.0, "patience": 100, "lr0": 0.01, "time": None}
    b = detector_budget(args, n_train=48, n_train_reference=24, budget="images")
    assert b.epochs == 30 and b.settings == {"close_mosaic": 5, "warmup_epochs": 1.5, "patience": 50}
    same = detector_budget(args, n_train=48, n_train_reference=24, budget="epochs")
    assert same.epochs == 60 and same.settings == {"close_mosaic": 10, "warmup_epochs": 3.0, "patience": 100}


def test_a_time_limit_cannot_be_equalised():
    with pytest.raises(ConfigError, match="time"):
        detector_budget({"epochs": 10, "time": 0.5}, 48, 24, "images")
    assert detector_budget({"epochs": 10, "time": 0.5}, 48, 24, "epochs").epochs == 10


def test_resolved_from_the_cpu_small_recipe_and_ultralytics_defaults():
    b = resolve_detector_budget("cpu-small", {}, 30, n_train=48, n_train_reference=24, budget="images")
    # cpu-small: no warm-up; close_mosaic from ultralytics' defaults (10); patience from the wrapper (100).
    assert b.epochs == 15 and b.settings == {"close_mosaic": 5, "warmup_epochs": 0.0, "patience": 50}
    b = resolve_detector_budget("cpu-small", {"warmup_epochs": 2.0}, None, n_train=72, n_train_reference=24,
                                budget="images")
    assert b.reference_epochs == 60 and b.epochs == 20 and b.settings["warmup_epochs"] == pytest.approx(2 / 3)


def test_val_curve_reads_ultralytics_results_csv(tmp_path):
    (tmp_path / "results.csv").write_text(
        "epoch,time,metrics/precision(B), metrics/mAP50(B),metrics/mAP50-95(B)\n"
        "1,0.4,0,0.0,0\n2,0.9,0.1,0.25,0.1\n3,1.3,0.2,0.5,0.2\n")
    epochs, values = val_curve(tmp_path)
    assert epochs.tolist() == [1, 2, 3] and values.tolist() == [0.0, 0.25, 0.5]
    assert val_curve(tmp_path / "missing")[0].size == 0
