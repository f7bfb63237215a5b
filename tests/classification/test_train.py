"""Tiny CPU training runs: outputs, determinism, threads, early stopping, sampling, arms and sweeps."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from torch import nn

from blendaug.classification.report import read_confusion_csv
from blendaug.classification.run import TrainArgs, train_run
from blendaug.classification.train import FitConfig, Normalizer, _batch_order, fit
from blendaug.data.cores import usable_cores
from blendaug.data.errors import ConfigError, Warnings

TINY = dict(model="smallcnn", size=16, epochs=2, batch=8, device="cpu", val=0.25, test=0.25)


def _quiet(_msg: str) -> None:
    pass


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_run_writes_every_output_with_consistent_metrics(crops, tmp_path):
    out = train_run(TrainArgs(data=crops, out=tmp_path / "run", **TINY), log=_quiet)
    names = {p.name for p in out.iterdir()}
    assert {"metrics.json", "run.json", "best.pt", "split.csv", "confusion_matrix.csv", "confusion_matrix.png",
            "curves.csv", "curves.png"} <= names
    m = json.loads((out / "metrics.json").read_text())
    classes, cm = read_confusion_csv(out / "confusion_matrix.csv")
    assert classes == ["car", "truck", "van"] == m["classes"]
    assert cm.sum() == m["test"]["n"] == 9
    assert m["test"]["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert m["generalization_gap"] == pytest.approx(m["train"]["accuracy"] - m["test"]["accuracy"])
    assert m["train"]["n"] == m["train_set"]["n_real"] == 18
    assert set(m["test"]) >= {"accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1",
                              "per_class"}
    rows = list(csv.DictReader((out / "curves.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and 1 <= m["best_epoch"] <= 2
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 0 and run["device"] == "cpu" and run["wall_s"] > 0
    assert {"torch", "torchvision", "python"} <= set(run["versions"])


def test_same_seed_same_weights_and_curves(crops, tmp_path):
    one = {**TINY, "epochs": 1}
    a = train_run(TrainArgs(data=crops, out=tmp_path / "a", seed=3, **one), log=_quiet)
    b = train_run(TrainArgs(data=crops, out=tmp_path / "b", seed=3, **one), log=_quiet)
    c = train_run(TrainArgs(data=crops, out=tmp_path / "c", seed=4, **one), log=_quiet)
    sa, sb, sc = _state(a / "best.pt"), _state(b / "best.pt"), _state(c / "best.pt")
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert (a / "curves.csv").read_text() == (b / "curves.csv").read_text()
    assert (a / "split.csv").read_text() == (c / "split.csv").read_text()  # the split has its own seed


def test_trainer_gives_torch_every_core_back(crops, tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # what ultralytics does on a small machine, for the rest of the process
    try:
        out = train_run(TrainArgs(data=crops, out=tmp_path / "run", **{**TINY, "epochs": 1}), log=_quiet)
        run = json.loads((out / "run.json").read_text())
        assert run["torch_threads"] == run["cpu_cores"] == usable_cores()
        assert torch.get_num_threads() == usable_cores()
    finally:
        torch.set_num_threads(before)


def test_resnet18_trains_on_tiny_crops(crops, tmp_path):
    out = train_run(TrainArgs(data=crops, out=tmp_path / "run", **{**TINY, "model": "resnet18", "size": 16,
                                                                   "epochs": 1}), log=_quiet)
    assert "fc.weight" in _state(out / "best.pt")
    assert json.loads((out / "run.json").read_text())["model"] == {"name": "resnet18", "size": 16, "num_classes": 3}


def test_early_stopping_stops_when_val_stops_improving():
    # lr=0 and no batch norm: the val score never changes, so epoch 1 stays best and patience runs out
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    x = torch.randint(0, 255, (10, 3, 8, 8), dtype=torch.uint8)
    y = torch.tensor([0, 1] * 5)
    res = fit(model, x, y, x, y, Normalizer([0.5] * 3, [0.25] * 3, torch.device("cpu")),
              FitConfig(epochs=10, batch=4, lr=0.0, weight_decay=0.0, patience=2))
    assert res.best_epoch == 1 and res.epochs_run == 3 and res.stopped_early
    assert len(res.curves) == 3


def test_balanced_sampling_evens_out_classes():
    labels = torch.tensor([0] * 90 + [1] * 10)
    plain = labels[torch.tensor(_batch_order(labels, FitConfig(), torch.Generator().manual_seed(0)))]
    balanced = labels[torch.tensor(_batch_order(labels, FitConfig(balanced=True), torch.Generator().manual_seed(0)))]
    assert int(plain.sum()) == 10  # a permutation: each image once
    assert 35 <= int(balanced.sum()) <= 65  # about half from the 10 % class
    again = labels[torch.tensor(_batch_order(labels, FitConfig(balanced=True), torch.Generator().manual_seed(0)))]
    assert torch.equal(balanced, again)


def test_classical_arm_and_synthetic_sweep(crops, tmp_path, gan_writer):
    gan = gan_writer(tmp_path / "gan", {"car": {"high": 8, "low": 4}, "truck": {"high": 8}, "van": {"high": 8},
                                        "tank": {"high": 2}})
    cl = train_run(TrainArgs(data=crops, out=tmp_path / "cl", classical_factor=2, **{**TINY, "epochs": 1}),
                   log=_quiet)
    m = json.loads((cl / "metrics.json").read_text())
    assert m["train_set"] == {"n_real": 18, "n_classical": 36, "n_synthetic": 0,
                              "per_class": {"car": 18, "truck": 18, "van": 18}}
    w = Warnings()
    sw = train_run(TrainArgs(data=crops, out=tmp_path / "sw", synthetic=gan, synthetic_ratio=[0, 1],
                             **{**TINY, "epochs": 1}), log=_quiet, warnings=w)
    rows = list(csv.DictReader((sw / "sweep.csv").open()))
    assert [r["run"] for r in rows] == ["ratio_0", "ratio_1"]
    assert [int(r["n_synthetic"]) for r in rows] == [0, 18]
    assert (sw / "sweep.png").is_file() and (sw / "ratio_1" / "best.pt").is_file()
    assert w.counts["synthetic class not in real data"] == 1
    counts = train_run(TrainArgs(data=crops, out=tmp_path / "n", synthetic=gan, synthetic_count=[8], tier="all",
                                 **{**TINY, "epochs": 1}), log=_quiet)
    assert json.loads((counts / "metrics.json").read_text())["train_set"]["n_synthetic"] == 24


def test_bad_arguments_fail_before_any_output(crops, tmp_path):
    for kwargs, match in ((dict(synthetic_ratio=[1.0]), "needs --synthetic"),
                          (dict(synthetic_ratio=[1.0], synthetic_count=[3]), "not both"),
                          (dict(model="alexnet"), "unknown model"),
                          (dict(device="cuda:7"), "cuda")):
        with pytest.raises(ConfigError, match=match):
            train_run(TrainArgs(data=crops, out=tmp_path / "x", **{**TINY, **kwargs}), log=_quiet)
        assert not (tmp_path / "x").exists()
