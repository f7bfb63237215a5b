"""``eval_run``: the same held-out split as training, split folders, ``--split all`` and bad run folders."""

from __future__ import annotations

import json

import pytest

from blendaug.classification.evaluate import eval_run
from blendaug.classification.run import TrainArgs, train_run
from blendaug.data.errors import DataError

TINY = dict(model="smallcnn", size=16, epochs=1, batch=8, device="cpu")


def test_eval_on_split_folders_and_on_all_images(tmp_path, crop_writer):
    data = tmp_path / "d"
    crop_writer(data / "train", {"car": 6, "van": 6})
    crop_writer(data / "test", {"car": 3, "van": 2}, seed=1)
    run = train_run(TrainArgs(data=data, out=tmp_path / "run", val=0.34, **TINY), log=lambda _m: None)
    trained = json.loads((run / "metrics.json").read_text())
    assert trained["test"]["n"] == 5 and trained["val"]["n"] == 4
    out, m = eval_run(run, data, "test", device="cpu")
    assert out == run / "eval_test" and m == trained["test"]
    other = crop_writer(tmp_path / "other", {"car": 2, "van": 3, "bus": 4}, seed=2)
    _, m_all = eval_run(run, other, "all", out=tmp_path / "ev", device="cpu")
    assert m_all["n"] == 5 and set(m_all["per_class"]) == {"car", "van"}  # bus is not a class of the run


def test_eval_refuses_a_sweep_root_and_foreign_data(tmp_path, crops, gan_writer):
    gan = gan_writer(tmp_path / "gan", {"car": {"high": 4}, "truck": {"high": 4}, "van": {"high": 4}})
    sweep = train_run(TrainArgs(data=crops, out=tmp_path / "sw", synthetic=gan, synthetic_ratio=[0, 0.5], val=0.25,
                                test=0.25, **TINY), log=lambda _m: None)
    with pytest.raises(DataError, match="a sweep"):
        eval_run(sweep, crops, "test", device="cpu")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(DataError, match="not found"):
        eval_run(sweep / "ratio_0.5", elsewhere, "test", device="cpu")
