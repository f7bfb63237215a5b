"""The acceptance recipe on the real Zenodo tiny-vehicle crops (slow; skipped when the data set is absent)."""

from __future__ import annotations

import json

import pytest

from blendaug.classification.run import TrainArgs, train_run
from tests.conftest import shared_dataset


@pytest.mark.slow
@pytest.mark.parametrize("classical_factor", [0, 2])
def test_zenodo_car_minibus_truck_50_per_class(tmp_path, classical_factor):
    data = shared_dataset("tiny_vehicle_classification_zenodo")
    # the README recipe, with fewer epochs to keep the slow suite modest
    args = TrainArgs(data=data, out=tmp_path / "run", classes=["car", "minibus", "truck"], train_per_class=50,
                     model="smallcnn", size=64, epochs=8, batch=32, lr=2e-3, seed=0, device="cpu",
                     classical_factor=classical_factor)
    out = train_run(args, log=lambda _m: None)
    m = json.loads((out / "metrics.json").read_text())
    assert m["train_set"]["n_real"] == 150 and m["train_set"]["n_classical"] == 150 * classical_factor
    assert m["test"]["n"] == 360 and m["val"]["n"] == 360
    for key in ("accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1"):
        assert 0.0 <= m["test"][key] <= 1.0
    assert set(m["test"]["per_class"]) == {"car", "minibus", "truck"}
    assert m["test"]["balanced_accuracy"] > 0.45  # chance is 1/3
