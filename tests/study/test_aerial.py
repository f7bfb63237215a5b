"""configs/aerial.yaml end to end on the real drone-view frames, at a tiny size (slow; skips without ../shared)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

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
