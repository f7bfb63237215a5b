"""``blendaug study``: run every stage in order over arms and seeds, then statistics and the report.

data -> crops -> gan train + score -> samples per tier -> arm datasets -> detection jobs (arm x seed)
-> classification jobs (arm x seed) -> results.csv / summary.csv -> report.md / report.html.
Every step is resumable (see :mod:`blendaug.study.steps`): a rerun after a crash or a kill skips finished
work, and a changed setting reruns only the steps that depend on it.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from blendaug.data.atomic import atomic_write_text
from blendaug.study.config import StudyConfig
from blendaug.study.executor import Executor, LocalExecutor, Node
from blendaug.study.jobs import CLASSIFY_ARMS, classification_job, classify_folder, detect_folder, detection_job
from blendaug.study.pipeline import (
    GAN_ARMS,
    needed_tiers,
    step_arm_dataset,
    step_crops,
    step_data,
    step_gan,
    step_samples,
)


def _line(log: Callable[[str], None], stage: str, result, what: str = "") -> None:
    state = "skipped (done)" if result.skipped else f"done in {result.seconds:.0f} s"
    log(f"[{stage}] {what}{' ' if what else ''}{state}")


def run_study(cfg: StudyConfig, out: Path, executor: Executor | None = None,
              log: Callable[[str], None] = print) -> Path:
    """Run (or resume) the study described by ``cfg`` in ``out``; returns the path of report.html."""
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    executor = executor or LocalExecutor()
    atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    def timed(stage: str, result, what: str = ""):
        _line(log, stage, result, what)
        timings[f"{stage} {what}".strip()] = result.seconds
        return result

    data = timed("data", step_data(cfg, out, log))
    crops = timed("crops", step_crops(cfg, out, data.fingerprint))
    upstream: dict[str, dict[str, str]] = {"baseline": {"data": data.fingerprint}}
    tiers = needed_tiers(cfg)
    if tiers:
        gans = {arch: timed("gan", step_gan(cfg, out, arch, crops.fingerprint), arch).fingerprint
                for arch in cfg.gan.archs}
        samples = {tier: timed("samples", step_samples(cfg, out, tier, gans), tier).fingerprint for tier in tiers}
        for arm, tier in GAN_ARMS.items():
            upstream[arm] = {"data": data.fingerprint, "samples": samples.get(tier, "")}
    upstream["paste_real"] = {"data": data.fingerprint, "crops": crops.fingerprint}
    upstream["classical"] = {"data": data.fingerprint}
    arm_fps: dict[str, str] = {}
    for arm in cfg.arms:
        result = step_arm_dataset(cfg, out, arm, upstream[arm])
        if result is not None:
            timed("composite", result, arm)
        arm_fps[arm] = result.fingerprint if result is not None else data.fingerprint

    jobs = [Node(f"detect/{arm}/seed{s}", "detect", "", detect_folder(out, arm, s), detection_job,
                 {"cfg": cfg, "run": out, "arm": arm, "seed": s, "arm_fp": arm_fps[arm]})
            for arm in cfg.arms for s in cfg.seeds]
    if cfg.classification.enabled:
        jobs += [Node(f"classify/{arm}/seed{s}", "classify", "", classify_folder(out, arm, s),
                      classification_job,
                      {"cfg": cfg, "run": out, "arm": arm, "seed": s,
                       "arm_fp": {"crops": crops.fingerprint, **upstream.get(arm, {})}})
                 for arm in cfg.arms if arm in CLASSIFY_ARMS for s in cfg.seeds]

    def on_event(e) -> None:
        if e.state in ("done", "skipped"):
            kind, rest = e.node.id.split("/", 1)
            timed(kind, e.result, rest.replace("/", " "))

    executor.run(jobs, on_event=on_event)

    from blendaug.study.reportbuild import write_results_and_report

    env = _environment(cfg, timings, time.perf_counter() - t_start)
    report = write_results_and_report(cfg, out, env)
    log(f"[report] {report}")
    return report


def _environment(cfg: StudyConfig, timings: dict[str, float], wall: float) -> dict:
    import torch

    from blendaug.detection.yolo import versions

    device = cfg.device
    if device == "auto":
        device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    return {"versions": versions(), "python": platform.python_version(), "platform": platform.platform(),
            "device": device, "seeds": cfg.seeds, "wall_s_this_run": round(wall, 1),
            "stage_seconds": {k: round(v, 1) for k, v in timings.items()}}


def load_environment(run: Path) -> dict:
    path = run / "environment.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def job_folders(cfg: StudyConfig, run: Path) -> dict[tuple[str, str, int], Path]:
    """``{(task, arm, seed): folder}`` of every job the config asks for."""
    out = {("detection", a, s): detect_folder(run, a, s) for a in cfg.arms for s in cfg.seeds}
    if cfg.classification.enabled:
        out.update({("classification", a, s): classify_folder(run, a, s)
                    for a in cfg.arms if a in CLASSIFY_ARMS for s in cfg.seeds})
    return out
