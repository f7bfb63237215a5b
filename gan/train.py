"""Training of the GAN family: one architecture of the zoo for a budget of steps, resumably, with snapshots.

The run folder is written in place (training is long and resumable), each file atomically.
Units (one generator per class, or one for all classes) train one after the other, each for the
budget's ``steps`` (one step = one D update on one batch; batches run over fresh seeded
permutations of the unit's crops, ``floor(N / batch)`` batches each).

Writes at a step, in this order: at a snapshot step the generator's weights and a sample grid
(``snapshots/step_NNNNNNN/``), then at a snapshot step, every ``checkpoint_every`` steps and at the
end, the unit's full state (models, optimisers, grad scalers, step, RNG, batch order) to
``checkpoints/<unit>.pt``. So a checkpoint at step ``s`` means every snapshot up to ``s`` is on disk:
a kill between the two writes resumes from the previous checkpoint and writes the snapshot again
(the same bytes on CPU). A snapshot missing below the checkpoint (removed by hand) makes the unit
train again from the start. A resumed run gives the same weights as an uninterrupted one on CPU:
all randomness comes from one seeded generator per unit, whose state is checkpointed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import make_grid
from tqdm import tqdm

from blendaug.data.errors import ConfigError, DataError
from blendaug.data.imageio import encode_image
from blendaug.gan.data import to_tensor, to_uint8
from blendaug.gan.diffaugment import parse_policy
from blendaug.gan.models import Generator, calibrated_copy, n_doublings
from blendaug.gan.registry import ArchSpec, get_arch
from blendaug.gan.runs import ALL, load_state, save_state, snapshot_dir, start_run, write_bytes, write_run_info
from blendaug.gan.step import GanPair, StepConfig, train_step

GRID_PER_CLASS = 8
_LOSS_EVERY = 50  # steps between host syncs for the progress bar's losses


def unit_seed(seed: int, unit_index: int, stream: int = 0) -> int:
    """Independent seeds per unit and purpose (0: training, 1: grid noise, 2: BN calibration) from the run seed."""
    return int(np.random.SeedSequence([seed, unit_index, stream]).generate_state(1)[0])


@dataclass(frozen=True)
class GanSettings:
    """What one unit's training needs, resolved from the job."""

    arch: str
    spec: ArchSpec
    image_size: int
    steps: int
    snapshots: frozenset[int]
    batch: int
    seed: int
    lr: float
    width: int
    nz: int
    policy: tuple[str, ...]
    label_smoothing: float
    checkpoint_every: int
    amp: bool
    channels_last: bool
    ema: float  # decay of the generator's moving average (0: snapshots take G itself)


@dataclass
class Unit:
    name: str
    index: int
    real: torch.Tensor  # N x 3 x S x S in [-1, 1]
    labels: torch.Tensor | None  # N, conditional only
    n_classes: int = 0  # > 0 for the conditional unit


def validate(spec: ArchSpec, image_size: int, opts: dict, diffaugment: str) -> None:
    """ConfigError for settings this architecture cannot train with."""
    n_doublings(image_size)
    parse_policy(diffaugment)
    if opts["label_smoothing"] and spec.loss != "bce":
        raise ConfigError("label_smoothing applies to dcgan and cdcgan only")
    if not 0 <= opts["label_smoothing"] < 1:
        raise ConfigError("label_smoothing must lie in [0, 1)")


def _save_grid(g: Generator, path: Path, z: torch.Tensor, y: torch.Tensor | None) -> None:
    """A PNG grid of 8 crops a row (a row per class for conditional models) from fixed noise."""
    with torch.no_grad():
        images = g(z, y)  # (rows * 8) x 3 x S x S
    grid = make_grid(images.float(), nrow=GRID_PER_CLASS, padding=2, pad_value=-1.0)
    write_bytes(path, encode_image(to_uint8(grid[None])[0], ".png"))


def ema_decay(target: float, g_steps: int) -> float:
    """Decay after ``g_steps`` generator updates: ramps up as ``(1 + t) / (10 + t)`` to ``target``, so the
    average is not stuck near the initial weights in a short run."""
    return min(target, (1 + g_steps) / (10 + g_steps))


@torch.no_grad()
def update_ema(ema: Generator, g: Generator, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * g`` for parameters; buffers are copied (BN is recalibrated anyway)."""
    torch._foreach_lerp_(list(ema.parameters()), list(g.parameters()), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), g.buffers(), strict=True):
        b_ema.copy_(b)


def _fresh(unit: Unit, s: GanSettings, device: str) -> tuple[GanPair, torch.Generator]:
    gen = torch.Generator().manual_seed(unit_seed(s.seed, unit.index))
    g, d = s.spec.build(s.image_size, unit.n_classes, gen, nz=s.nz, width=s.width)
    memory = torch.channels_last if s.channels_last else torch.preserve_format
    g, d = g.to(device, memory_format=memory), d.to(device, memory_format=memory)
    return GanPair.create(g, d, s.lr, s.spec.betas, s.amp, device), gen


def _resume(ckpt: Path, unit: Unit, out: Path, s: GanSettings, device: str, log) -> tuple:
    """(pair, ema, gen, step, order, pos) from the checkpoint, or a fresh start when there is none or a
    snapshot is gone."""
    pair, gen = _fresh(unit, s, device)
    ema = deepcopy(pair.g).requires_grad_(False) if s.ema else None
    if not ckpt.is_file():
        return pair, ema, gen, 0, None, 0
    state = load_state(ckpt, "cpu")  # the RNG state must stay on CPU; load_state_dict moves the rest
    try:
        step = int(state["step"])
        done = [k for k in sorted(s.snapshots) if k <= step]
        missing = [k for k in done if not (snapshot_dir(out, k) / f"{unit.name}.pt").is_file()]
        if missing:
            log(f"{unit.name}: snapshot(s) {missing} missing below the checkpoint (step {step}): training again")
            return pair, ema, gen, 0, None, 0
        pair.load_state_dict(state["pair"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        gen.set_state(state["rng"])
        order = state["order"].to(device) if state.get("order") is not None else None
        return pair, ema, gen, step, order, int(state["pos"])
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise DataError(f"{ckpt}: checkpoint does not fit this run ({type(e).__name__}: {e})") from e


def train_unit(unit: Unit, out: Path, s: GanSettings, device: str, progress: bool = True,
               on_checkpoint: Callable[[str, int], None] | None = None, log: Callable[[str], None] = print) -> None:
    """Train (or resume) one generator until ``s.steps``; see the module doc for the files and their order."""
    step_cfg = StepConfig(s.spec.gan_loss, s.nz, s.policy, s.label_smoothing, amp=s.amp, channels_last=s.channels_last)
    ckpt = out / "checkpoints" / f"{unit.name}.pt"
    pair, ema, gen, step, order, pos = _resume(ckpt, unit, out, s, device, log)
    grid_gen = torch.Generator().manual_seed(unit_seed(s.seed, unit.index, 1))
    rows = unit.n_classes or GRID_PER_CLASS
    grid_z = torch.randn(rows * GRID_PER_CLASS, s.nz, generator=grid_gen).to(device)
    grid_y = torch.arange(unit.n_classes).repeat_interleave(GRID_PER_CLASS).to(device) if unit.n_classes else None
    memory = torch.channels_last if s.channels_last else torch.preserve_format
    real = unit.real.to(device, memory_format=memory)
    labels = unit.labels.to(device) if unit.labels is not None else None
    n = len(real)
    batch = min(s.batch, n)
    bar = tqdm(total=s.steps, initial=step, desc=f"{s.arch} {unit.name}", unit="step", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)  # fmt: skip
    d_sum, g_sum, g_count, since = torch.zeros((), device=device), torch.zeros((), device=device), 0, 0
    while step < s.steps:
        if order is None or pos + batch > n:  # a fresh permutation: floor(n / batch) batches per pass
            order, pos = torch.randperm(n, generator=gen).to(device), 0
        idx = order[pos : pos + batch]
        pos += batch
        d_loss, g_loss = train_step(pair, real[idx], labels[idx] if labels is not None else None, gen, step_cfg,
                                    g_step=step % s.spec.n_critic == 0)  # fmt: skip
        step += 1
        d_sum, since = d_sum + d_loss, since + 1
        if g_loss is not None:
            g_sum, g_count = g_sum + g_loss, g_count + 1
            if ema is not None:
                update_ema(ema, pair.g, ema_decay(s.ema, (step - 1) // s.spec.n_critic))
        if step in s.snapshots:  # the snapshot first: a checkpoint past it must imply it is on disk
            snap = snapshot_dir(out, step)
            source = ema if ema is not None else pair.g
            g_eval = calibrated_copy(source, torch.Generator().manual_seed(unit_seed(s.seed, unit.index, 2)))
            save_state(snap / f"{unit.name}.pt", g_eval.state_dict())
            _save_grid(g_eval, snap / f"{unit.name}.png", grid_z, grid_y)
        if step in s.snapshots or step % s.checkpoint_every == 0 or step == s.steps:
            save_state(ckpt, {"pair": pair.state_dict(), "ema": ema.state_dict() if ema is not None else None,
                              "rng": gen.get_state(), "step": step, "order": order.cpu(), "pos": pos})  # fmt: skip
            if on_checkpoint is not None:
                on_checkpoint(unit.name, step)
        if since >= _LOSS_EVERY or step == s.steps:  # one host sync per _LOSS_EVERY steps
            bar.set_postfix(d=f"{d_sum.item() / since:.3f}", g=f"{g_sum.item() / g_count:.3f}" if g_count else "-")
            d_sum, g_sum, g_count, since = d_sum * 0, g_sum * 0, 0, 0
        bar.update(1)
    bar.close()


def train_run(job) -> dict:
    """Train every unit of a GAN run (a :class:`blendaug.gan.families.TrainJob`), resuming what is there.

    Returns:
        The final run info (``run.json``).

    Raises:
        ConfigError: bad settings, or ``job.out`` holds a different run. DataError: a bad checkpoint.
    """
    spec = get_arch(job.generator, "gan.archs")
    cfg, crops, out = job.cfg, job.crops, Path(job.out)
    opts = cfg.family_options("gan")
    image_size = int(job.info["image_size"])
    validate(spec, image_size, opts, cfg.diffaugment)
    lr = cfg.lr or spec.lr
    info = dict(job.info)
    info.update(conditional=spec.conditional, lr=lr, n_critic=spec.n_critic, nz=opts["nz"], width=cfg.width,
                g_cond=spec.g_cond, options=opts)  # fmt: skip
    info["settings"] = {**info["settings"], "lr": lr, "nz": opts["nz"], "width": cfg.width, "g_cond": spec.g_cond,
                        "label_smoothing": opts["label_smoothing"], "ema": opts["ema"],
                        "diffaugment": cfg.diffaugment}  # fmt: skip
    old = start_run(out, info)
    if old is not None and old.get("finished"):
        job.log(f"{out}: run already finished; nothing to do")
        return old
    write_run_info(out, info)
    s = GanSettings(job.generator, spec, image_size, job.budget.steps, frozenset(job.budget.snapshots), cfg.batch,
                    job.seed, lr, cfg.width, opts["nz"], parse_policy(cfg.diffaugment), opts["label_smoothing"],
                    cfg.checkpoint_every, cfg.amp and torch.device(job.device).type == "cuda",
                    opts["channels_last"], opts["ema"])  # fmt: skip
    x = to_tensor(crops.images)
    labels = torch.from_numpy(crops.labels)
    units = [ALL] if spec.conditional else list(crops.class_names)
    for k, name in enumerate(units):
        unit = Unit(name, k, x, labels, len(crops.class_names)) if name == ALL else Unit(name, k, x[labels == k], None)
        train_unit(unit, out, s, job.device, job.progress, job.on_checkpoint, job.log)
    info["finished"] = True
    write_run_info(out, info)
    return info
