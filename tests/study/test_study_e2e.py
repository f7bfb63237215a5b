"""The whole study end to end, as users run it (subprocesses): smoke config, report, kill/resume.

These train real GANs, YOLO and classifiers on tiny data, so they sit in the slow suite (CI runs it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

# Smaller than smoke.yaml: enough to exercise every stage, quick enough to run three times.
MICRO = ["dataset.toyworld.images=12", "dataset.toyworld.size=128", "gan.epochs=1", "gan.snapshots=[1]",
         "gan.score_n=10", "synthetic.samples_per_class=10", "detection.epochs=1", "detection.imgsz=128",
         "classification.epochs=1"]


def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    env["YOLO_CONFIG_DIR"] = str(tmp / "yolo_config")
    return env


def study(tmp: Path, out: Path, *overrides: str, timeout: float = 900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "blendaug.study.cli", "study", str(REPO / "configs" / "smoke.yaml"), *overrides,
           "--out", str(out)]
    return subprocess.run(cmd, cwd=tmp, env=_env(tmp), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("smoke")
    proc = study(tmp, tmp / "run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "run"


def test_smoke_results_cover_every_arm_and_seed(smoke_run):
    results = pd.read_csv(smoke_run / "results.csv", keep_default_na=False, na_values=[""])
    assert list(results.columns) == ["cell", "arm", "seed", "task", "metric", "value"]
    for task in ("detection", "classification"):
        got = set(map(tuple, results[results.task == task][["arm", "seed"]].drop_duplicates().to_numpy()))
        assert got == {(a, s) for a in ("baseline", "blended_mixed") for s in (0, 1)}
    maps = results[results.metric == "map50"]["value"]
    assert maps.between(0, 1).all()
    assert set(results[results.metric == "epochs"].groupby("arm")["value"].first()) == {2, 1}  # equal images
    summary = pd.read_csv(smoke_run / "summary.csv")
    assert {"mean", "sd", "n_seeds"} <= set(summary.columns)
    contrasts = pd.read_csv(smoke_run / "contrasts.csv")
    assert {"diff", "ci_low", "ci_high", "p", "p_holm", "mde"} <= set(contrasts.columns)
    assert set(contrasts.arm) == {"blended_mixed"} and set(contrasts.reference) == {"baseline"}
    for name in ("report.md", "report.html", "config.yaml", "environment.json"):
        assert (smoke_run / name).is_file()
    assert json.loads((smoke_run / "environment.json").read_text())["cpu"].endswith(" kernels")
    md = (smoke_run / "report.md").read_text()
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Verdict"  # the report opens with the verdict
    assert "blended_mixed vs baseline, detection map50: " in md and "nan ± nan" not in md
    for heading in ("## Contrasts", "## Results per arm", "## Contrast details", "## Generator quality",
                    "## Composite examples", "## Training", "## Data", "## Environment"):
        assert heading in headings
    for ref in [line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]:
        assert (smoke_run / ref).is_file(), ref


def open_in_chromium(report: Path) -> dict:
    """Load a report in headless Debian chromium; returns what the page holds and what it requested."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri(), wait_until="load")
        got = {"images": page.evaluate("document.images.length"),
               "loaded": page.evaluate("Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0)"
                                       ".length"),
               "alts": page.evaluate("Array.from(document.images).map(i => i.alt)"),
               "table_rows": page.evaluate("document.querySelectorAll('#results tbody tr').length"),
               "first_heading": page.evaluate("document.querySelector('h2').textContent"),
               "requests": requests}
        browser.close()
    return got


def test_report_html_opens_offline_in_chromium(smoke_run):
    got = open_in_chromium(smoke_run / "report.html")
    assert got["images"] >= 5 and got["loaded"] == got["images"]
    assert got["table_rows"] >= 2 and got["first_heading"] == "Verdict"
    assert all(u.startswith(("file:", "data:")) for u in got["requests"]), "the report must not fetch anything"


def test_ablation_config_report_with_its_sweep_plot_opens_in_chromium(tmp_path):
    # configs/ablation.yaml as shipped (arms by mapping, a ratio sweep, declared contrasts), at micro size.
    micro = [o for o in MICRO if not o.startswith(("gan.epochs", "gan.snapshots"))]
    cmd = [sys.executable, "-m", "blendaug.study.cli", "study", str(REPO / "configs" / "ablation.yaml"), *micro,
           "gan.steps=4", "gan.snapshots=[1.0]", "gan.allow_unusable=true", "seeds=[0]", "--out",
           str(tmp_path / "run")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    contrasts = pd.read_csv(tmp_path / "run" / "contrasts.csv")
    assert {("gan_poisson", "gan_gaussian"), ("gan_gaussian", "paste_real")} <= set(
        zip(contrasts.arm, contrasts.reference, strict=True))
    assert set(contrasts.cell) == {"ratio=0.5", "ratio=1", "ratio=2"}
    got = open_in_chromium(tmp_path / "run" / "report.html")
    assert got["loaded"] == got["images"] and any("across the sweep" in a for a in got["alts"])
    assert all(u.startswith(("file:", "data:")) for u in got["requests"])


def test_report_command_rebuilds_the_same_results(smoke_run, tmp_path):
    before = (smoke_run / "results.csv").read_text()
    (smoke_run / "report.html").unlink()
    proc = subprocess.run([sys.executable, "-m", "blendaug.study.cli", "report", str(smoke_run)], cwd=tmp_path,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (smoke_run / "report.html").is_file() and (smoke_run / "results.csv").read_text() == before


def test_report_of_a_part_finished_run_reads_only_the_jobs_it_has(smoke_run, tmp_path):
    # The run's config now asks for one more detector epoch: until they rerun, the detectors' folders hold the
    # old budget's results, which the report must not read as this config's.
    import yaml

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    cfg["detection"]["epochs"] += 1
    (run / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "blendaug.study.cli", "report", str(run)], cwd=tmp_path,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = pd.read_csv(run / "results.csv")
    assert set(results.task) == {"classification"} and len(set(results.seed)) == 2
    verdict = (run / "report.md").read_text(encoding="utf-8").split("## Verdict", 1)[1].split("\n## ", 1)[0]
    assert "Part-finished run: 4 of 8 jobs have no result yet" in verdict
    assert "detect/baseline/seed0" in verdict and "detection map50" not in verdict


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    clean = study(tmp_path, tmp_path / "clean", *MICRO)
    assert clean.returncode == 0, clean.stderr[-3000:]

    killed_out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "blendaug.study.cli", "study", str(REPO / "configs" / "smoke.yaml"), *MICRO,
           "--out", str(killed_out)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    marker = killed_out / "detect" / "baseline" / "seed0" / ".step.json"
    deadline = time.time() + 600
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the study finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed_out / "results.csv").exists()

    resumed = study(tmp_path, killed_out, *MICRO)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "skipped data " in resumed.stdout
    assert "skipped detect/baseline/seed0 " in resumed.stdout
    a = pd.read_csv(tmp_path / "clean" / "results.csv")
    b = pd.read_csv(killed_out / "results.csv")
    pd.testing.assert_frame_equal(a, b)

    # Changing one arm's settings reruns that arm's work only.
    changed = study(tmp_path, killed_out, *MICRO, "synthetic.ratio=2")
    assert changed.returncode == 0, changed.stderr[-3000:]
    out = changed.stdout
    for done in ("skipped data ", "skipped crops ", "skipped gan/cdcgan ", "skipped samples/mixed/seed0 ",
                 "skipped detect/baseline/seed0 ", "skipped classify/baseline/seed1 "):
        assert done in out, out
    assert "done    arms/blended_mixed/seed0 " in out and "done    detect/blended_mixed/seed0 " in out
