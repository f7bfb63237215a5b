"""``blendaug gan score``: a tiny real GAN run, trained and scored through the CLI."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from data.imageio import save_image
from gan.quality.score import COLUMNS
from gan.quality.tiers import assign_tiers

pytest.importorskip("gan.snapshots", reason="GAN training code not written yet")

FAST = ["--n", "16", "--feature-epochs", "2", "--image-size", "32", "--ssim-fakes", "4", "--ssim-reals", "4"]


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


def train(run_cli, crops, out, arch="dcgan"):
    args = ["gan", "train", crops, out, "--arch", arch, "--epochs", "2", "--snapshots", "1,2", "--batch", "8"]
    run_cli(*args, "--size", "32", "--seed", "0", "--device", "cpu", check=True)
    return out


def test_score_tiny_dcgan_run(tmp_path, run_cli):
    crops = make_crops(tmp_path / "crops")
    run = train(run_cli, crops, tmp_path / "run")
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
    pd.testing.assert_series_equal(table["tier"], assign_tiers(table), check_names=False)
    assert (run / "quality_features.pt").is_file() and (run / "quality.json").is_file()

    # A second run reuses the stored feature classifier and gives the same table.
    again = run_cli("gan", "score", run, "--real", crops, "--seed", "1", "--device", "cpu", *FAST, check=True)
    assert "training the feature classifier" not in again.stderr
    pd.testing.assert_frame_equal(pd.read_csv(run / "quality.csv"), table)


def test_score_bad_input(tmp_path, run_cli):
    crops = make_crops(tmp_path / "crops")
    run = train(run_cli, crops, tmp_path / "run")
    other = make_crops(tmp_path / "other", classes=("green",), n=6)
    proc = run_cli("gan", "score", run, "--real", other, *FAST)
    assert proc.returncode == 2 and "no real crops of class(es) blue, red" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (run / "quality.csv").exists()
    missing = run_cli("gan", "score", run, "--real", tmp_path / "nope", *FAST)
    assert missing.returncode == 2 and "crops folder not found" in missing.stderr
    no_run = run_cli("gan", "score", tmp_path / "norun", "--real", crops, *FAST)
    assert no_run.returncode == 2
