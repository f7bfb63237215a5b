"""A resumable training loop for one unit (one generator of a run), for families beyond the GAN zoo.

The FastGAN and VAE families train through :func:`run_unit`; it keeps the rules of ``gan/train.py``:

- a step is one batch through the unit's main update; batches run over fresh seeded permutations of the
  unit's ``N`` crops (``floor(N / batch)`` batches per pass, the batch capped at ``N``);
- at a snapshot step the unit writes its snapshot (weights, then grid: :meth:`UnitModel.write_snapshot`)
  first, then the checkpoint (``checkpoints/<unit>.pt``: the model state, the RNG, the batch order and the
  per-step losses); checkpoints also go every ``checkpoint_every`` steps and at the end. A checkpoint at
  step ``s`` therefore means every snapshot up to ``s`` is on disk; a snapshot missing below it makes the
  unit train again from the start;
- after each checkpoint the loss curves (``curves/<unit>.csv`` and ``.png``) are rewritten from the
  checkpointed per-step losses, so a resumed run writes the same curves as an uninterrupted one;
- every random draw comes from the unit's one seeded ``torch.Generator``, checkpointed with the rest:
  a resumed run gives bit-identical weights on CPU.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torchvision.utils import make_grid
from tqdm import tqdm

from blendaug.data.errors import DataError
from blendaug.data.imageio import encode_image
from blendaug.gan.data import to_uint8
from blendaug.gan.runs import load_state, save_state, snapshot_dir, write_bytes

GRID_PER_ROW = 8
_BAR_EVERY = 50  # steps between host syncs for the progress bar
_CURVE_POINTS = 500  # at most this many rows in a curves csv (means over windows of steps)


class UnitModel(Protocol):
    """The trainable state of one unit (models, optimisers, scalers, moving averages)."""

    loss_names: tuple[str, ...]  # what :meth:`train_step` returns, in order

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
        """One update on a batch ``x`` (B, 3, S, S) in [-1, 1]; the detached losses (k,), no host sync."""
        ...

    def write_snapshot(self, snap: Path, unit: str) -> None:
        """Write ``snap/<unit>.pt`` (the sampling weights) and then ``snap/<unit>.png`` (a sample grid)."""
        ...


@dataclass(frozen=True)
class LoopSettings:
    steps: int
    snapshots: frozenset[int]
    batch: int
    checkpoint_every: int
    desc: str = ""


@dataclass
class UnitData:
    """One unit's crops: ``real`` (N, 3, S, S) in [-1, 1] and their class ids (conditional units only)."""

    name: str
    real: torch.Tensor
    labels: torch.Tensor | None


def seed_of(seed: int, unit_index: int, stream: int = 0) -> int:
    """Independent seeds per unit and purpose from the run seed (0: training, 1: grid noise, 2: calibration)."""
    return int(np.random.SeedSequence([seed, unit_index, stream]).generate_state(1)[0])


def grid_png(images: torch.Tensor, path: Path, nrow: int = GRID_PER_ROW) -> None:
    """A PNG grid of images (B, 3, S, S) in [-1, 1], ``nrow`` a row, written atomically."""
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=2, pad_value=-1.0)
    write_bytes(path, encode_image(to_uint8(grid[None])[0], ".png"))


def write_curves(out: Path, unit: str, names: Sequence[str], losses: torch.Tensor) -> None:
    """``curves/<unit>.csv`` (step, then the mean of each loss over a window of steps) and a PNG plot of it."""
    if len(losses) == 0:
        return
    every = max(1, -(-len(losses) // _CURVE_POINTS))
    rows = [(min(a + every, len(losses)), losses[a : a + every].mean(0)) for a in range(0, len(losses), every)]
    lines = ["step," + ",".join(names)] + [f"{s}," + ",".join(f"{v:.6g}" for v in m.tolist()) for s, m in rows]
    write_bytes(out / "curves" / f"{unit}.csv", ("\n".join(lines) + "\n").encode())
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.6), squeeze=False)
    steps = [s for s, _ in rows]
    for k, (ax, name) in enumerate(zip(axes[0], names, strict=True)):
        ax.plot(steps, [m[k].item() for _, m in rows], lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(unit, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    write_bytes(out / "curves" / f"{unit}.png", buf.getvalue())


def _stack(losses: list[torch.Tensor]) -> torch.Tensor:
    """Per-step losses (after a resume, the checkpointed ones are on the CPU) as one float CPU tensor."""
    return torch.stack([x.to("cpu", torch.float32) for x in losses])


def _resume(ckpt: Path, model: UnitModel, gen: torch.Generator, out: Path, unit: str, s: LoopSettings, log):
    """(step, order, pos, losses) from the checkpoint (loaded into ``model`` and ``gen``), or a fresh start."""
    fresh = 0, None, 0, []
    if not ckpt.is_file():
        return fresh
    state = load_state(ckpt, "cpu")  # the RNG state must stay on CPU; load_state_dict moves the rest
    try:
        step = int(state["step"])
        missing = [k for k in sorted(s.snapshots) if k <= step and not (snapshot_dir(out, k) / f"{unit}.pt").is_file()]
        if missing:
            log(f"{unit}: snapshot(s) {missing} missing below the checkpoint (step {step}): training again")
            return fresh
        model.load_state_dict(state["model"])
        gen.set_state(state["rng"])
        order = state["order"]
        return step, order, int(state["pos"]), list(state["losses"].unbind(0))
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as e:
        raise DataError(f"{ckpt}: checkpoint does not fit this run ({type(e).__name__}: {e})") from e


def run_unit(
    data: UnitData,
    model: UnitModel,
    gen: torch.Generator,
    out: Path,
    s: LoopSettings,
    device: str,
    progress: bool = False,
    on_checkpoint: Callable[[str, int], None] | None = None,
    log: Callable[[str], None] = print,
) -> None:
    """Train (or resume) one unit until ``s.steps``; see the module doc for the files and their order.

    Args:
        model: freshly built from ``gen`` (a checkpoint, when there is one, replaces its state).
        gen: the unit's seeded CPU generator (batches, noise, augmentation).
    """
    unit = data.name
    ckpt = out / "checkpoints" / f"{unit}.pt"
    step, order, pos, losses = _resume(ckpt, model, gen, out, unit, s, log)
    if step >= s.steps and losses:  # killed after its last checkpoint, perhaps before that checkpoint's curves
        write_curves(out, unit, model.loss_names, _stack(losses))
    real = data.real.to(device)
    labels = data.labels.to(device) if data.labels is not None else None
    n = len(real)
    batch = min(s.batch, n)
    bar = tqdm(total=s.steps, initial=step, desc=s.desc or unit, unit="step", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)  # fmt: skip
    while step < s.steps:
        if order is None or pos + batch > n:  # a fresh permutation: floor(n / batch) batches per pass
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + batch].to(device)
        pos += batch
        losses.append(model.train_step(real[idx], labels[idx] if labels is not None else None, gen))
        step += 1
        if step in s.snapshots:  # the snapshot first: a checkpoint past it must imply it is on disk
            model.write_snapshot(snapshot_dir(out, step), unit)
        if step in s.snapshots or step % s.checkpoint_every == 0 or step == s.steps:
            history = _stack(losses)  # steps x k
            save_state(ckpt, {"model": model.state_dict(), "rng": gen.get_state(), "step": step, "order": order,
                              "pos": pos, "losses": history})  # fmt: skip
            write_curves(out, unit, model.loss_names, history)
            if on_checkpoint is not None:
                on_checkpoint(unit, step)
        if progress and (step % _BAR_EVERY == 0 or step == s.steps):
            recent = _stack(losses[-_BAR_EVERY:]).mean(0).tolist()
            bar.set_postfix({k: f"{v:.3f}" for k, v in zip(model.loss_names, recent, strict=True)})
        bar.update(1)
    bar.close()
