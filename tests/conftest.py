"""Shared fixtures. Tests never download, never need a GPU and never depend on their order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# On a small, shared CPU, OpenMP threads that spin-wait for each other made the classifier tests 3x
# slower (measured: 209 s vs 67 s). It must be set before torch loads; subprocesses inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_dataset(name: str) -> Path:
    """Path to a real dataset under ``../shared/data``; skips the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name} not found at {path}")
    return path


@pytest.fixture
def run_cli(tmp_path):
    """Run ``blendaug ARGS...`` as a subprocess (the way users run it); returns CompletedProcess.

    The working directory is the test's tmp_path; ``HOME`` points inside it too (labelme writes
    ``~/.labelmerc``), and ultralytics' config dir stays inside the tmp folder.
    """

    def _run(*args: str, check: bool = False, timeout: float = 600, cwd: Path | None = None):
        env = dict(os.environ)
        env["HOME"] = str(tmp_path / "home")
        env.setdefault("YOLO_CONFIG_DIR", str(tmp_path / "yolo_config"))
        (tmp_path / "home").mkdir(exist_ok=True)
        proc = subprocess.run(
            [sys.executable, "-m", "blendaug.study.cli", *map(str, args)],
            cwd=cwd or tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"blendaug {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return _run
