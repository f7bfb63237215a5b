"""The same study through every executor gives the same results (slow: tiny real studies, a real Ray cluster)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO
from tests.study.test_study_e2e import MICRO, _env

pytestmark = pytest.mark.slow
HAS_RAY = importlib.util.find_spec("ray") is not None


def study(tmp: Path, kind: str, **popen) -> subprocess.Popen:
    # Torch's CPU results depend on its thread count, so every executor runs each node on one thread.
    cmd = [sys.executable, "-m", "blendaug.study.cli", "study", str(REPO / "configs" / "smoke.yaml"), *MICRO,
           f"executor.kind={kind}", "executor.threads_per_job=1", "--out", str(tmp / kind)]
    return subprocess.Popen(cmd, cwd=tmp, env=_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def results_of(proc: subprocess.Popen, out: Path) -> pd.DataFrame:
    stdout, stderr = proc.communicate(timeout=1500)
    assert proc.returncode == 0, stderr[-3000:]
    assert len(stdout.splitlines()) < 80  # one line per node, not ultralytics' epochs
    assert (out / "detect" / "baseline" / "seed0" / "log.txt").stat().st_size > 0
    return pd.read_csv(out / "results.csv", keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("executors")
    return results_of(study(tmp, "local"), tmp / "local")


def test_local_parallel_and_ray_give_the_local_results(reference, tmp_path):
    kinds = ["local-parallel"] + (["ray"] if HAS_RAY else [])
    for kind in kinds:
        pd.testing.assert_frame_equal(reference, results_of(study(tmp_path, kind), tmp_path / kind))
    if not HAS_RAY:
        pytest.skip("ray is not installed: local-parallel agrees; `pip install -e .[ray]` for the Ray run")


def _pids_with_open(path: Path) -> list[int]:
    """Processes holding ``path`` open (a node's running log is open in the worker that runs it)."""
    pids = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir()):
                pids.append(int(fd_dir.parent.name))
        except OSError:
            continue
    return pids


@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install -e .[ray])")
def test_a_ray_worker_killed_during_a_detector_job_is_retried_with_the_same_results(reference, tmp_path):
    running_log = tmp_path / "ray" / "detect" / "blended_mixed" / ".seed0.log.txt"
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and not killed:
            workers = [p for p in _pids_with_open(running_log) if p != proc.pid] if running_log.exists() else []
            if workers:
                time.sleep(1.0)  # well inside the job: ultralytics has started training
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
            time.sleep(0.2)

    proc = study(tmp_path, "ray")
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    results = results_of(proc, tmp_path / "ray")
    thread.join(timeout=5)
    assert killed, "no worker ran the detector job"
    pd.testing.assert_frame_equal(reference, results)
