"""``blendaug study``: build the study graph, run it on an executor, then statistics and the report.

Every node is resumable (see :mod:`blendaug.study.steps`): a rerun after a crash or a kill skips
finished work, and a changed setting reruns only the nodes that read it and what depends on them.
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
from blendaug.study.executor import Executor, NodeEvent, get_executor
from blendaug.study.graph import Plan, build_plan, resolve_device


def make_executor(cfg: StudyConfig, verbose: bool = False) -> Executor:
    """The configured executor; options it does not take (e.g. ``address`` for ``local``) are left out."""
    from blendaug.study.executor import executor_options

    ex = cfg.executor
    valid = executor_options(ex.kind)
    options = {k: v for k, v in ex.model_dump(exclude={"kind"}).items() if v is not None and k in valid}
    if "verbose" in valid:
        options["verbose"] = verbose
    return get_executor(ex.kind, **options)


def _header(cfg: StudyConfig, plan: Plan) -> dict:
    return {"cells": ", ".join(c.name or "(one)" for c in plan.cells), "arms": ", ".join(cfg.arm_specs()),
            "seeds": cfg.seeds, "replicate": cfg.replicate, "executor": cfg.executor.kind}


def dry_run_text(cfg: StudyConfig, out: Path) -> str:
    """The plan of ``cfg`` in ``out``: cells, arms, seeds, the nodes to run and already done, a time estimate."""
    from blendaug.study.console import format_plan

    plan = build_plan(cfg, Path(out).absolute())
    from blendaug.study.costs import RATES

    return format_plan(plan.nodes, header=_header(cfg, plan), rates=RATES, workers=cfg.executor.workers or 1)


def run_study(cfg: StudyConfig, out: Path, executor: Executor | None = None,
              log: Callable[[str], None] = print, verbose: bool = False) -> Path:
    """Run (or resume) the study described by ``cfg`` in ``out``; returns the path of report.html."""
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    plan = build_plan(cfg, out)
    executor = executor or make_executor(cfg, verbose)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    from blendaug.study.console import Console
    from blendaug.study.costs import RATES

    with Console(plan.nodes, rates=RATES) as console:
        def on_event(e: NodeEvent) -> None:
            console(e)
            if e.state in ("done", "skipped") and e.result is not None:
                timings[e.node.id] = e.result.seconds

        executor.run(plan.nodes, on_event=on_event)
    from blendaug.study.reportbuild import write_results_and_report

    env = _environment(cfg, timings, time.perf_counter() - t_start)
    report = write_results_and_report(cfg, out, env, plan)
    log(f"[report] {report}")
    return report


def _environment(cfg: StudyConfig, timings: dict[str, float], wall: float) -> dict:
    import torch

    from blendaug.detection.yolo import versions

    device = resolve_device(cfg.device)
    if device.startswith("cuda"):
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    return {"versions": versions(), "python": platform.python_version(), "platform": platform.platform(),
            "cpu": cpu_description(), "device": device, "executor": cfg.executor.kind, "seeds": cfg.seeds,
            "replicate": cfg.replicate,
            "wall_s_this_run": round(wall, 1), "node_seconds": {k: round(v, 1) for k, v in timings.items()}}


def cpu_description() -> str:
    """The CPU's model and the instruction set PyTorch's kernels use: the same seed gives the same bytes on one
    machine, but kernels for another instruction set round differently (docs/findings.md measured a rerun)."""
    import torch

    name = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text(encoding="utf-8").splitlines()
                  if line.startswith("model name")]
        name = models[0] if models else name
    return f"{name or 'unknown CPU'}, {torch.backends.cpu.get_cpu_capability()} kernels"


def load_environment(run: Path) -> dict:
    path = run / "environment.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def plan_of(cfg: StudyConfig, run: Path) -> Plan:
    return build_plan(cfg, run)
