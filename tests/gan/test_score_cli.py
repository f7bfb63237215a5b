"""``blendaug gan score``: a tiny real GAN run, trained and scored through the CLI."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blendaug.data.errors import DataError
from blendaug.data.imageio import save_image
from blendaug.gan.quality.classifier import ClassifierConfig
from blendaug.gan.quality.score import COLUMNS, ScoreConfig, score_run
from blendaug.gan.quality.tiers import assign_tiers

CFG = ScoreConfig(n=16, seed=1, ssim_fakes=4, ssim_reals=4, classifier=ClassifierConfig(epochs=2))
FAST = ["--n", "16", "--feature-epochs", "2", "--image-size", "32", "--ssim-fakes", "4", "--ssim-reals", "4"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_crops(root, classes=("red", "blue"), n=12, size=32, seed=0):
    """A ``data crops`` folder: coloured squares on grey, ``n`` per class."""
    rng = np.random.default_rng(seed)
    colours = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 30)}
    rows = []
    for cid, name in enumerate(classes):
        for i in range(n):
            im = np.full((size, size, 3), 128, dtype=np.uint8)
            x, y = rng.integers(2, size // 2, 2)
            im[y : y + size // 3, x : x + size // 3] = colours[name]
            rel = f"{name}/{cid * n + i:06d}.png"
            save_image(root / rel, im)
            rows.append([rel, name, cid, "train", "scene.jpg", 0, 0, 10, 10])
    with (root / "index.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "class", "class_id", "split", "source_image", "x1", "y1", "x2", "y2"])
        w.writerows(rows)
    return root


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real 2-epoch DCGAN run at 32 px (snapshots at epochs 1 and 2) and its crops; copy before writing."""
    from blendaug.gan.train import TrainConfig, train_run

    root = tmp_path_factory.mktemp("tiny_run")
    crops = make_crops(root / "crops")
    cfg = TrainConfig(arch="dcgan", epochs=2, snapshots=(1, 2), batch=8, image_size=32, seed=0)
    train_run(crops, root / "run", cfg, device="cpu", progress=False, log=lambda m: None)
    return crops, root / "run"


def copy_run(tiny_run, tmp_path):
    crops, run = tiny_run
    return crops, Path(shutil.copytree(run, tmp_path / "run"))


def test_score_tiny_dcgan_run(tiny_run, tmp_path, run_cli):
    crops, run = copy_run(tiny_run, tmp_path)
    proc = run_cli("gan", "score", run, "--real", crops, "--seed", "1", "--device", "cpu", *FAST, check=True)
    assert "training the feature classifier" in proc.stderr
    table = pd.read_csv(run / "quality.csv")
    assert tuple(table.columns) == COLUMNS
    assert len(table) == 2 * 3  # 2 snapshots x (red, blue, all)
    assert sorted(table["snapshot"].unique()) == [1, 2]
    assert set(table["class"]) == {"red", "blue", "all"}
    assert (table["n_fake"][table["class"] != "all"] == 16).all()
    assert (table["n_real"][table["class"] != "all"] == 12).all()
    assert np.isfinite(table["fid"]).all() and (table["fid"] >= 0).all()
    assert table[["precision", "recall", "coverage"]].stack().between(0, 1).all()
    assert set(table["tier"]) <= {"low", "mid", "high"}
    assert list(table["tier"]) == list(assign_tiers(table))
    assert (run / "quality_features.pt").is_file() and (run / "quality.json").is_file()

    # The same settings in-process: the stored feature classifier is reused and the table is the same.
    logs = []
    again = score_run(run, crops, CFG, device="cpu", log=logs.append)
    assert not any("training the feature classifier" in m for m in logs)
    pd.testing.assert_frame_equal(pd.read_csv(run / "quality.csv"), table)
    assert list(again["tier"]) == list(table["tier"])


def test_score_bad_input(tiny_run, tmp_path, run_cli):
    crops, run = copy_run(tiny_run, tmp_path)
    other = make_crops(tmp_path / "other", classes=("green",), n=6)
    proc = run_cli("gan", "score", run, "--real", other, *FAST)
    assert proc.returncode == 2 and "no real crops of class(es) blue, red" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (run / "quality.csv").exists()
    with pytest.raises(DataError, match="crops folder not found"):
        score_run(run, tmp_path / "nope", CFG)
    with pytest.raises(DataError, match="run.json"):
        score_run(tmp_path, crops, CFG)
    shutil.rmtree(run / "snapshots")
    with pytest.raises(DataError, match="no snapshots"):
        score_run(run, crops, CFG)


@pytest.mark.slow
def test_score_conditional_run(tmp_path):
    from blendaug.gan.train import TrainConfig, train_run

    crops = make_crops(tmp_path / "crops", classes=("red", "blue", "green"), n=8)
    cfg = TrainConfig(arch="cdcgan", epochs=2, snapshots=(1, 2), batch=8, image_size=32, seed=0)
    train_run(crops, tmp_path / "run", cfg, device="cpu", progress=False, log=lambda m: None)
    table = score_run(tmp_path / "run", crops, CFG, log=lambda m: None)
    assert len(table) == 2 * 4 and set(table["class"]) == {"red", "blue", "green", "all"}
    assert np.isfinite(table["tstr_acc"]).all() and table["tstr_acc"].between(0, 1).all()
