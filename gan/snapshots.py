"""Snapshots of the GAN family: generator weights at a step, and sampling from them.

``RUN/snapshots/step_NNNNNNN/<unit>.pt`` holds the (batch-norm calibrated) generator of a unit,
``<unit>.png`` its sample grid. ``unit`` is the class name for unconditional archs (one generator
per class) and ``all`` for conditional ones. See :mod:`blendaug.gan.runs` for the rest of the folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from blendaug.data.errors import DataError
from blendaug.gan.data import to_uint8
from blendaug.gan.models import Generator
from blendaug.gan.registry import get_arch
from blendaug.gan.runs import ALL, load_state, snapshot_dir, snapshot_steps

_SAMPLE_BATCH = 256


def units_of(info: dict) -> list[str]:
    """The generators a run trains: one per class, or one (``all``) for a conditional arch."""
    return [ALL] if info["conditional"] else list(info["classes"])


def build_generator(info: dict) -> Generator:
    spec = get_arch(info["generator"])  # an unknown arch in run.json is reported like a bad --arch
    n_classes = len(info["classes"]) if spec.conditional else 0
    return Generator(info["image_size"], nz=info.get("nz", 100), width=info.get("width", 64), n_classes=n_classes,
                     cond=info.get("g_cond", spec.g_cond))  # fmt: skip


@dataclass
class GanSnapshot:
    """The generator(s) of one GAN run at one step."""

    run_dir: Path
    step: int
    classes: list[str]
    info: dict = field(repr=False)
    _loaded: dict = field(default_factory=dict, repr=False)

    def path(self, unit: str) -> Path:
        return snapshot_dir(self.run_dir, self.step) / f"{unit}.pt"

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


def list_snapshots(run_dir: Path, info: dict) -> list[GanSnapshot]:
    """The complete snapshots of a GAN run (every unit's file present), sorted by step."""
    units = units_of(info)
    steps = snapshot_steps(run_dir, lambda d: all((d / f"{u}.pt").is_file() for u in units))
    return [GanSnapshot(Path(run_dir), s, list(info["classes"]), info) for s in steps]
