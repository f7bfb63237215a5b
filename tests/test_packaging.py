"""blendaug installs as one package: nothing named ``data`` or ``study`` at the top of site-packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = ("data", "gan", "compositing", "detection", "classification", "study")


def _user_project(root: Path) -> Path:
    """A user's project folder with its own ``data`` and ``study`` packages, which must never be imported."""
    for name in ("data", "study"):
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text(f"raise ImportError('the user project\\'s own {name} package')\n")
    return root


def test_every_module_imports_under_the_blendaug_namespace(tmp_path):
    # Run from a folder whose own data/ and study/ would shadow top-level stage packages: every module
    # of blendaug must import, and no top-level stage module may be loaded on the way.
    code = (
        "import importlib, pkgutil, sys\n"
        "mods = []\n"
        f"for stage in {STAGES!r}:\n"
        "    pkg = importlib.import_module('blendaug.' + stage)\n"
        "    mods += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.')]\n"
        "for m in mods:\n"
        "    if not m.endswith(('__main__', 'keras_worker')):\n"
        "        importlib.import_module(m)\n"
        f"leaked = sorted(n for n in sys.modules if n.split('.')[0] in {STAGES!r})\n"
        "assert not leaked, leaked\n"
        "print(len(mods))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=_user_project(tmp_path), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[-1]) > 60  # the walk saw the stages, not an empty package


@pytest.mark.slow
def test_wheel_installs_and_runs_on_its_own(tmp_path):
    # Build from a copy: setuptools writes build/ and *.egg-info into the source tree.
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", "build", "runs", "*.egg-info", "__pycache__",
                                                             ".yolo_config", ".pytest_cache", ".ruff_cache"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(src)], check=True, timeout=300, cwd=tmp_path)
    (wheel,) = wheels.glob("blendaug-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"blendaug", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    assert "blendaug/configs/quick.yaml" in names and "blendaug/data/yolo.py" in names

    venv = tmp_path / "venv"
    # The heavy dependencies come from the test environment; blendaug itself only from the wheel.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", "--no-index", str(wheel)],
                   check=True, timeout=300)
    project = _user_project(tmp_path / "project")
    env = {**os.environ, "HOME": str(tmp_path / "home"), "YOLO_CONFIG_DIR": str(tmp_path / "yolo")}
    env.pop("PYTHONPATH", None)

    def run(*cmd: str | Path) -> str:
        proc = subprocess.run(list(map(str, cmd)), cwd=project, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{cmd}: {proc.stderr}"
        return proc.stdout

    where = run(py, "-c", "import blendaug.compositing, blendaug; print(blendaug.__file__)").strip()
    assert Path(where).is_relative_to(venv), where  # the wheel's copy, not the checkout's
    blendaug = venv / "bin" / "blendaug"
    assert "study" in run(blendaug, "--help")
    run(blendaug, "data", "toyworld", "tw", "--images", "4", "--size", "96", "--seed", "1")
    assert (project / "tw" / "data.yaml").is_file()
    # The shipped configs are package data: found without the checkout.
    assert "name: quick" in run(blendaug, "study", "--show-config")
    assert "name: smoke" in run(blendaug, "study", "configs/smoke.yaml", "--show-config")
