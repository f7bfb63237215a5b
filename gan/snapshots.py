"""A ``gan train`` run folder: its ``run.json``, checkpoints and generator snapshots, and sampling from them.

Layout of ``RUN/``::

    run.json                         settings, classes (in class-id order), "finished"
    checkpoints/<unit>.pt            last epoch's full training state (for resuming)
    snapshots/epoch_0005/<unit>.pt   generator weights at a snapshot epoch
    snapshots/epoch_0005/<unit>.png  sample grid from fixed noise

``unit`` is the class name for unconditional archs (one generator per class) and ``all`` for
conditional ones. Every file is written atomically; all ``.pt`` files are plain state dicts, read
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from blendaug.data.atomic import atomic_write_bytes, atomic_write_text
from blendaug.data.errors import DataError
from blendaug.gan.data import to_uint8
from blendaug.gan.models import Generator
from blendaug.gan.registry import get_arch

RUN_FILE = "run.json"
ALL = "all"
_SNAPSHOT_DIR = re.compile(r"^epoch_(\d+)$")
_SAMPLE_BATCH = 256


def save_state(path: Path, state: dict) -> None:
    """``torch.save`` to memory, then an atomic write: a kill never leaves a half-written file."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_state(path: Path, device: str | torch.device = "cpu") -> dict:
    """``torch.load(weights_only=True)``; a corrupt or foreign file is a DataError naming it."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError as e:
        raise DataError(f"{path}: checkpoint not found") from e
    except Exception as e:  # torch raises many types for a damaged file (RuntimeError, EOFError, UnpicklingError...)
        raise DataError(f"{path}: corrupt or unreadable checkpoint ({type(e).__name__}: {e})") from e


def read_run_info(run_dir: Path) -> dict:
    """The ``run.json`` of a run folder. Raises DataError when it is missing or not valid JSON."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise DataError(f"{path}: not found ({run_dir} is not a `blendaug gan train` output folder)")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: corrupt run file ({e})") from e
    missing = {"arch", "classes", "image_size", "conditional"} - set(info if isinstance(info, dict) else ())
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(sorted(missing))}")
    return info


def write_run_info(run_dir: Path, info: dict) -> None:
    atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps(info, indent=2) + "\n")


def units_of(info: dict) -> list[str]:
    """The generators a run trains: one per class, or one (``all``) for a conditional arch."""
    return [ALL] if info["conditional"] else list(info["classes"])


def snapshot_dir(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / "snapshots" / f"epoch_{epoch:04d}"


def build_generator(info: dict) -> Generator:
    n_classes = len(info["classes"]) if info["conditional"] else 0
    get_arch(info["arch"])  # an unknown arch in run.json is reported like a bad --arch
    return Generator(info["image_size"], nz=info.get("nz", 100), width=info.get("width", 64), n_classes=n_classes)


@dataclass
class Snapshot:
    """The generator(s) of one run at one epoch."""

    run_dir: Path
    epoch: int
    classes: list[str]
    info: dict = field(repr=False)
    _loaded: dict = field(default_factory=dict, repr=False)

    def path(self, unit: str) -> Path:
        return snapshot_dir(self.run_dir, self.epoch) / f"{unit}.pt"

    def generator(self, class_name: str, device: str = "cpu") -> Generator:
        """The eval-mode generator that draws ``class_name`` (cached per device)."""
        if class_name not in self.classes:
            raise DataError(f"{self.run_dir}: no class {class_name!r} (has: {', '.join(self.classes)})")
        unit = ALL if self.info["conditional"] else class_name
        key = (unit, str(device))
        if key not in self._loaded:
            g = build_generator(self.info)
            state = load_state(self.path(unit))
            try:
                g.load_state_dict(state)
            except (RuntimeError, TypeError) as e:
                raise DataError(f"{self.path(unit)}: weights do not fit the run's generator ({e})") from e
            self._loaded[key] = g.to(device).eval()
        return self._loaded[key]

    @torch.no_grad()
    def sample(self, class_name: str, n: int, seed: int, device: str = "cpu") -> np.ndarray:
        """``n`` crops of ``class_name`` as uint8 RGB (n, H, W, 3).

        Deterministic: the noise comes from a CPU ``torch.Generator`` seeded with ``seed`` and the
        generator runs in eval mode, so crop ``k`` does not depend on ``n`` or the batch it is in.
        """
        g = self.generator(class_name, device)
        rng = torch.Generator().manual_seed(int(seed))
        # Row by row: torch draws a long randn in another order than a short one, and crop k must not depend on n.
        z = torch.stack([torch.randn(g.nz, generator=rng) for _ in range(n)]) if n else torch.zeros(0, g.nz)  # n x nz
        y = torch.full((n,), self.classes.index(class_name), dtype=torch.long)
        parts = [g(z[i : i + _SAMPLE_BATCH].to(device), y[i : i + _SAMPLE_BATCH].to(device) if g.n_classes else None)
                 for i in range(0, n, _SAMPLE_BATCH)]  # fmt: skip
        s = self.info["image_size"]
        return to_uint8(torch.cat(parts)) if parts else np.zeros((0, s, s, 3), np.uint8)


def list_snapshots(run_dir: Path) -> list[Snapshot]:
    """The complete snapshots of a run (every unit's file present), sorted by epoch."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    units = units_of(info)
    found = []
    root = run_dir / "snapshots"
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        m = _SNAPSHOT_DIR.match(d.name)
        if m and d.is_dir() and all((d / f"{u}.pt").is_file() for u in units):
            found.append(Snapshot(run_dir, int(m.group(1)), list(info["classes"]), info))
    return sorted(found, key=lambda s: s.epoch)
