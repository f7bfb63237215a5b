"""The same study through every executor gives the same results (slow: three tiny real studies)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import REPO
from tests.study.test_study_e2e import MICRO, _env

pytestmark = pytest.mark.slow


def test_local_local_parallel_and_ray_give_identical_results(tmp_path):
    kinds = ["local", "local-parallel"] + (["ray"] if importlib.util.find_spec("ray") else [])
    results = {}
    for kind in kinds:
        out = tmp_path / kind
        # Torch's CPU results depend on its thread count, so every executor runs each node on one thread.
        cmd = [sys.executable, "-m", "blendaug.study.cli", "study", str(REPO / "configs" / "smoke.yaml"), *MICRO,
               f"executor.kind={kind}", "executor.threads_per_job=1", "--out", str(out)]
        proc = subprocess.run(cmd, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, f"{kind}: {proc.stderr[-3000:]}"
        results[kind] = pd.read_csv(out / "results.csv", keep_default_na=False, na_values=[""])
        assert len(proc.stdout.splitlines()) < 80  # one line per node, not ultralytics' epochs
        assert (out / "detect" / "baseline" / "seed0" / "log.txt").stat().st_size > 0
    for kind in kinds[1:]:
        pd.testing.assert_frame_equal(results["local"], results[kind])
    if "ray" not in kinds:
        pytest.skip("ray is not installed: local and local-parallel agree; `pip install -e .[ray]` for the rest")
