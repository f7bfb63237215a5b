"""configs/aerial.yaml and aerial_jekhor.yaml end to end on the real frames, at a tiny size (slow; skips without
../shared)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from blendaug.data.yolo import read_yolo
from tests.conftest import REPO, shared_dataset
from tests.study.test_study_e2e import _env

pytestmark = pytest.mark.slow

TINY = ["seeds=[0]", "sweep={}", "dataset.train_size=6", "gan.steps=6", "gan.snapshots=[1.0]", "gan.score_n=10",
        "gan.feature_epochs=2", "gan.allow_unusable=true", "synthetic.samples_per_class=10", "detection.images_seen=6",
        "detection.imgsz=128"]


def test_aerial_config_runs_on_the_real_frames_and_reports_a_verdict(tmp_path):
    data = shared_dataset("drone_view_vehicles_cats")
    cmd = [sys.executable, "-m", "blendaug.study.cli", "study", str(REPO / "configs" / "aerial.yaml"), *TINY,
           f"dataset.path={data}", "--out", str(tmp_path / "run")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    verdict = md.split("## Verdict", 1)[1].split("\n## ", 1)[0]
    assert "gan_replace vs baseline, detection map50: " in verdict
    assert "blended_high vs paste_real, detection map50: " in verdict
    results = pd.read_csv(tmp_path / "run" / "results.csv", keep_default_na=False, na_values=[""])
    assert set(results.arm) == {"baseline", "paste_real", "blended_high", "blended_low", "blended_mixed",
                                "gan_poisson", "gan_replace"}
    sizes = results[(results.metric == "train_size")].set_index("arm")["value"]
    assert sizes["baseline"] == 6 and sizes["gan_replace"] == 6 and sizes["blended_high"] == 12


def test_jekhor_config_tiles_the_real_frames_and_resamples_test_frames_not_tiles(tmp_path):
    data = shared_dataset("aerial_cars_jekhor")
    tiny = [*TINY, "dataset.train_size=4", "detection.images_seen=8", "arms={baseline: {}, paste_real: {}}",
            "contrasts=[[paste_real, baseline]]"]
    cmd = [sys.executable, "-m", "blendaug.study.cli", "study", str(REPO / "configs" / "aerial_jekhor.yaml"), *tiny,
           f"dataset.path={data}", "--out", str(tmp_path / "run")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    md = (run / "report.md").read_text(encoding="utf-8")
    assert "paste_real vs baseline, detection map50: " in md.split("## Verdict", 1)[1].split("\n## ", 1)[0]
    tiles = read_yolo(run / "tiles" / "seed0" / "dataset" / "data.yaml")
    frames = read_yolo(run / "subset" / "seed0" / "dataset" / "data.yaml")
    assert len(frames.split("train")) == 4 and len(tiles.split("train")) > 4
    assert tiles.names == frames.names == ["car"]  # dataset.classes
    # 384 px tiles; the 377 and 430 px tall Munich strips give 377 px tall tiles
    assert {im.width for im in tiles.images} == {384} and {im.height for im in tiles.images} <= {377, 384}
    contrasts = pd.read_csv(run / "contrasts.csv")
    row = contrasts[(contrasts.metric == "map50")].iloc[0]
    # the 24 test frames are the units of the image bootstrap, not their tiles
    assert row["n_groups"] == len(frames.split("test")) and row["n_images"] == len(tiles.split("test"))
