"""``blendaug gan score``: a tiny real GAN run, trained and scored through the CLI against held-out crops."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blendaug.data.errors import ConfigError, DataError
from blendaug.data.imageio import save_image
from blendaug.gan.quality.classifier import ClassifierConfig
from blendaug.gan.quality.measure import MeasureConfig
from blendaug.gan.quality.score import COLUMNS, ScoreConfig, score_run
from blendaug.gan.quality.tiers import assign_tiers

CFG = ScoreConfig(n=16, seed=1, measure=MeasureConfig(ssim_fakes=4, ssim_reals=4, seed=1))
FAST = ["--n", "16", "--image-size", "32", "--ssim-fakes", "4", "--ssim-reals", "4"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_crops(root, classes=("red", "blue"), n=12, size=32, seed=0):
    """A ``data crops`` folder: coloured squares on grey, ``n`` per class, from 4 source images."""
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
            rows.append([rel, name, cid, "train", f"scene{i % 4}.jpg", 0, 0, 10, 10])
    with (root / "index.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "class", "class_id", "split", "source_image", "x1", "y1", "x2", "y2"])
        w.writerows(rows)
    return root


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real 2-step DCGAN run at 32 px (snapshots at steps 1 and 2), a quarter of its crops held out."""
    from blendaug.gan.api import train_generator
    from blendaug.gan.config import GanConfig

    root = tmp_path_factory.mktemp("tiny_run")
    crops = make_crops(root / "crops")
    cfg = GanConfig(steps=2, snapshots=[1], batch=8, width=16, holdout=0.25)
    train_generator("dcgan", crops, root / "run", cfg, log=lambda m: None)
    return crops, root / "run"


def copy_run(tiny_run, tmp_path):
    crops, run = tiny_run
    return crops, Path(shutil.copytree(run, tmp_path / "run"))


def test_score_tiny_dcgan_run(tiny_run, tmp_path, run_cli):
    crops, run = copy_run(tiny_run, tmp_path)
    proc = run_cli("gan", "score", run, "--real", crops, "--seed", "1", "--device", "cpu", *FAST, check=True)
    assert "anchors: red FID real" in proc.stderr
    table = pd.read_csv(run / "quality.csv")
    assert tuple(table.columns) == COLUMNS
    assert len(table) == 2 * 3  # 2 snapshots x (red, blue, all)
    assert sorted(table["snapshot"].unique()) == [1, 2]
    assert set(table["class"]) == {"red", "blue", "all"}
    meta = json.loads((run / "quality.json").read_text())
    held = meta["real_crops"]["heldout_per_class"]
    assert sum(held.values()) == 6 and "held out at training" in meta["real_crops"]["heldout"]
    assert meta["real_crops"]["copy_reference"] == meta["real_crops"]["heldout"]  # one reference for both
    assert (table["n_fake"][table["class"] != "all"] == 9).all()  # capped at the 9 train crops per class
    assert np.isfinite(table["fid"]).all() and (table["fid"] >= 0).all()
    assert set(table["tier"]) <= {"low", "mid", "high", "unusable"}
    assert list(table["tier"]) == list(assign_tiers(table))
    assert (table["tier"] == "unusable").all()  # two steps of a GAN are noise
    assert not (run / "quality_features.pt").exists()  # the pixels space trains nothing

    # The same settings in-process give the same table.
    again = score_run(run, crops, None, CFG, device="cpu", log=lambda m: None)
    pd.testing.assert_frame_equal(pd.read_csv(run / "quality.csv"), table)
    assert list(again["tier"]) == list(table["tier"])
    # An explicit held-out folder is used instead; the training crops themselves are refused.
    with pytest.raises(ConfigError, match="held-out crops are the training crops"):
        score_run(run, crops, crops, CFG)


def test_heldout_folder_measures_quality_and_training_holdout_checks_copying(tiny_run, tmp_path):
    """Given both, quality is measured on the folder and the copy check on the crops held out at training."""
    crops, run = copy_run(tiny_run, tmp_path)
    val = make_crops(tmp_path / "val", seed=5)
    alone = score_run(run, crops, None, CFG, log=lambda m: None)
    logs = []
    both = score_run(run, crops, val, CFG, log=logs.append)
    real = json.loads((run / "quality.json").read_text())["real_crops"]
    assert real["heldout"] == str(val.absolute()) and real["heldout_per_class"] == {"red": 12, "blue": 12}
    assert real["copy_reference"].endswith("(held out at training)")
    assert real["copy_reference_per_class"] == {"red": 3, "blue": 3}
    assert any("copy check against the 6 crops held out at training" in m for m in logs)
    pd.testing.assert_series_equal(both["copy_z"], alone["copy_z"])  # same fakes, same reference
    assert not np.allclose(both["fid"], alone["fid"])  # quality against the other crops


def test_score_bad_input(tiny_run, tmp_path, run_cli):
    crops, run = copy_run(tiny_run, tmp_path)
    other = make_crops(tmp_path / "other", classes=("green",), n=6)
    proc = run_cli("gan", "score", run, "--real", crops, "--heldout", other, *FAST)
    assert proc.returncode == 2 and "fewer than 2 held-out crops of class(es) red, blue" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (run / "quality.csv").exists()
    with pytest.raises(DataError, match="crops folder not found"):
        score_run(run, tmp_path / "nope", None, CFG)
    with pytest.raises(DataError, match="run.json"):
        score_run(tmp_path, crops, None, CFG)
    info = json.loads((run / "run.json").read_text())
    info["crops"]["holdout"] = None
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(ConfigError, match="no held-out crops: pass --heldout"):
        score_run(run, crops, None, CFG)
    shutil.rmtree(run / "snapshots")
    with pytest.raises(DataError, match="no snapshots"):
        score_run(run, crops, None, CFG)


def test_score_crops_classifier_space_is_stored_and_reused(tiny_run, tmp_path):
    crops, run = copy_run(tiny_run, tmp_path)
    cfg = replace(CFG, features="crops-classifier", classifier=ClassifierConfig(epochs=2))
    logs = []
    score_run(run, crops, None, cfg, log=logs.append)
    assert any("training the feature classifier on 18 real crops" in m for m in logs)  # the train crops only
    logs.clear()
    score_run(run, crops, None, cfg, log=logs.append)
    assert not any("training the feature classifier" in m for m in logs)
