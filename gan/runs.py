"""A generator run folder, whatever the family: ``run.json``, state files, snapshot folders, resuming.

Layout of ``RUN/`` (a family may add files inside its snapshot folders)::

    run.json                          family, generator, classes (class-id order), image_size, steps,
                                      snapshots (steps), budget (as stated), crops (split, counts,
                                      held-out files), settings (what a resume must match), finished
    checkpoints/<unit>.pt             the family's training state (resuming)
    snapshots/step_0000600/<unit>.*   a snapshot at step 600

Every file is written atomically (``torch.save`` to memory, then a rename); every ``.pt`` is a plain
state dict read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import torch

from blendaug.data.atomic import atomic_write_bytes, atomic_write_text
from blendaug.data.errors import ConfigError, DataError

RUN_FILE = "run.json"
ALL = "all"
SNAPSHOT_DIR = re.compile(r"^step_(\d+)$")
REQUIRED_KEYS = ("family", "generator", "classes", "image_size", "steps", "snapshots")


def write_bytes(path: Path, payload: bytes) -> None:
    """The one door for a run's file writes (atomic; tests inject kills here)."""
    atomic_write_bytes(path, payload)


def save_state(path: Path, state: dict) -> None:
    """``torch.save`` to memory, then an atomic write: a kill never leaves a half-written file."""
    buf = io.BytesIO()
    torch.save(state, buf)
    write_bytes(path, buf.getvalue())


def load_state(path: Path, device: str | torch.device = "cpu") -> dict:
    """``torch.load(weights_only=True)``; a corrupt or foreign file is a DataError naming it."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError as e:
        raise DataError(f"{path}: checkpoint not found") from e
    except Exception as e:  # torch raises many types for a damaged file (RuntimeError, EOFError, UnpicklingError...)
        raise DataError(f"{path}: corrupt or unreadable checkpoint ({type(e).__name__}: {e})") from e


def read_run_info(run_dir: Path) -> dict:
    """The ``run.json`` of a run folder. Raises DataError when it is missing, not valid JSON or incomplete."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise DataError(f"{path}: not found ({run_dir} is not a `blendaug gan train` output folder)")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: corrupt run file ({e})") from e
    missing = set(REQUIRED_KEYS) - set(info if isinstance(info, dict) else ())
    if missing:
        hint = " (an epoch-based run of an older blendaug: train it again)" if "epochs" in info else ""
        raise DataError(f"{path}: missing key(s) {', '.join(sorted(missing))}{hint}")
    return info


def write_run_info(run_dir: Path, info: dict) -> None:
    atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps(info, indent=2) + "\n")


def snapshot_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "snapshots" / f"step_{step:07d}"


def snapshot_steps(run_dir: Path, complete: callable) -> list[int]:
    """Steps of the snapshot folders for which ``complete(folder)`` holds, sorted."""
    root = Path(run_dir) / "snapshots"
    steps = []
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        m = SNAPSHOT_DIR.match(d.name)
        if m and d.is_dir() and complete(d):
            steps.append(int(m.group(1)))
    return sorted(steps)


def start_run(out: Path, info: dict) -> dict | None:
    """Check ``out`` before training into it: the stored run.json when it holds the same run, None for a new one.

    Raises:
        ConfigError: ``out`` holds something else, or a run whose ``settings`` differ (the keys are named).
    """
    out = Path(out)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    if not (out / RUN_FILE).is_file():
        raise ConfigError(f"{out}: exists and is not a generator run folder; choose another OUT")
    old = read_run_info(out)
    before, now = old.get("settings", {}), info["settings"]
    diff = [f"{k}: {before.get(k)!r} != {now.get(k)!r}" for k in sorted({*before, *now}) if before.get(k) != now.get(k)]
    if diff:
        raise ConfigError(f"{out}: holds a run with other settings ({'; '.join(diff)}); choose another OUT")
    return old
