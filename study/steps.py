"""Resumable stage steps: each writes its outputs together with a fingerprint of its inputs and config.

A step folder holds ``.step.json`` once the step finished: ``{"fingerprint": ..., "key": ...,
"seconds": ...}``. Rerunning with the same fingerprint skips the step. A different fingerprint (a
changed setting or a changed upstream step) wipes the folder and runs the step again, so changing
one arm reruns only what depends on it. A step killed half-way left ``.started.json`` but no
``.step.json``; the rerun keeps its folder so that steps which checkpoint (GAN training) resume.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blendaug.data.atomic import atomic_write_text

DONE = ".step.json"
STARTED = ".started.json"


def fingerprint(key: Any) -> str:
    """A short, stable hash of a JSON-able key (config subsets, upstream fingerprints)."""
    blob = json.dumps(key, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class StepResult:
    folder: Path
    fingerprint: str
    skipped: bool
    seconds: float


def read_done(folder: Path) -> dict | None:
    marker = folder / DONE
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def is_done(folder: Path, fp: str) -> bool:
    """Whether ``folder`` holds a finished step with fingerprint ``fp``."""
    done = read_done(folder)
    return done is not None and done.get("fingerprint") == fp


def run_step(folder: Path, key: Any, build: Callable[[Path], None]) -> StepResult:
    """Run ``build(folder)`` unless ``folder`` already holds a finished step with the same key.

    ``build`` must write its outputs atomically (or be safe to run again over a partial folder).
    """
    fp = fingerprint(key)
    done = read_done(folder)
    if done is not None and done.get("fingerprint") == fp:
        return StepResult(folder, fp, True, float(done.get("seconds", 0.0)))
    started = folder / STARTED
    resumable = started.is_file() and _read_fp(started) == fp
    if folder.exists() and not resumable:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DONE).unlink(missing_ok=True)
    atomic_write_text(started, json.dumps({"fingerprint": fp}))
    t0 = time.perf_counter()
    build(folder)
    seconds = time.perf_counter() - t0
    atomic_write_text(folder / DONE, json.dumps({"fingerprint": fp, "key": key, "seconds": seconds},
                                                 sort_keys=True, default=str, indent=1))
    started.unlink(missing_ok=True)
    return StepResult(folder, fp, False, seconds)


def _read_fp(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, json.JSONDecodeError):
        return None
