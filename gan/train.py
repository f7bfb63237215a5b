"""``gan train``: train one architecture of the zoo on a crops folder, resumably, writing snapshots.

The run folder is written in place (training is long and resumable), each file atomically.
Units (one generator per class, or one for all classes) train one after the other. After every
epoch the unit's full state (models, optimisers, grad scalers, epoch, RNG state) goes to
``checkpoints/<unit>.pt``; at snapshot epochs the generator's weights and a sample grid go to
``snapshots/epoch_NNNN/``. A rerun with the same settings continues from the last checkpoint, and
gives the same weights as an uninterrupted run on CPU (all randomness comes from one seeded
generator per unit, whose state is checkpointed). A finished run (``"finished": true``) is left as is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import make_grid
from tqdm import tqdm

from blendaug.data.atomic import atomic_write_bytes
from blendaug.data.errors import ConfigError, DataError, Warnings
from blendaug.data.imageio import encode_image
from blendaug.gan.data import Crops, load_crops, to_tensor, to_uint8
from blendaug.gan.diffaugment import parse_policy
from blendaug.gan.models import Generator, calibrated_copy, n_doublings
from blendaug.gan.registry import get_arch
from blendaug.gan.snapshots import (
    ALL,
    RUN_FILE,
    load_state,
    read_run_info,
    save_state,
    snapshot_dir,
    units_of,
    write_run_info,
)
from blendaug.gan.step import GanPair, StepConfig, train_step

GRID_PER_CLASS = 8
# Settings that must match for a rerun to continue a run folder instead of clashing with it.
_RUN_KEYS = (
    "arch",
    "classes",
    "image_size",
    "epochs",
    "snapshots",
    "seed",
    "conditional",
    "diffaugment",
    "batch",
    "lr",
    "label_smoothing",
    "nz",
    "width",
    "split",
)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a ``gan train`` run (the CLI flags)."""

    arch: str = "dcgan"  # a key of gan.registry.GAN_ARCHS
    epochs: int = 100  # passes over each unit's crops
    snapshots: tuple[int, ...] = ()  # epochs whose generator is kept; the last epoch always is; () = spread default
    batch: int = 64  # batch size (capped at the number of crops of a unit)
    seed: int = 0  # seeds init, noise, batches, DiffAugment
    image_size: int = 64  # 32, 64 or 128
    diffaugment: str = ""  # DiffAugment policies, e.g. "color,translation,cutout"
    lr: float | None = None  # Adam lr; None = the arch's default
    label_smoothing: float = 0.0  # one-sided: real target 1 - this ((c)DCGAN only)
    nz: int = 100  # noise dimensions
    width: int = 64  # base channel count of G and D
    split: str = "train"  # crops of this split of index.csv ("all" = every crop)
    amp: bool = True  # mixed precision, CUDA only
    channels_last: bool = False  # NHWC memory format (CUDA)


def parse_snapshots(text: str, epochs: int) -> tuple[int, ...]:
    """``"5,20,100"`` -> sorted epochs; each must lie in 1..epochs (ConfigError otherwise)."""
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError as e:
        raise ConfigError(f"--snapshots: {text!r} is not a comma-separated list of epochs") from e
    bad = [v for v in values if not 1 <= v <= epochs]
    if bad:
        raise ConfigError(f"--snapshots: epoch(s) {', '.join(map(str, bad))} outside 1..{epochs} (--epochs {epochs})")
    return tuple(values)


def snapshot_epochs(cfg: TrainConfig) -> list[int]:
    """The snapshot epochs: the requested ones plus the last; by default 5%, 20%, 50% and 100% of training."""
    wanted = cfg.snapshots or tuple(max(1, round(cfg.epochs * f)) for f in (0.05, 0.2, 0.5))
    return sorted({*wanted, cfg.epochs})


def _validate(cfg: TrainConfig) -> None:
    spec = get_arch(cfg.arch)
    n_doublings(cfg.image_size)
    parse_policy(cfg.diffaugment)
    if cfg.epochs < 1 or cfg.batch < 1:
        raise ConfigError("--epochs and --batch must be at least 1")
    if any(not 1 <= s <= cfg.epochs for s in cfg.snapshots):
        raise ConfigError(f"--snapshots: every epoch must lie in 1..{cfg.epochs} (--epochs {cfg.epochs})")
    if cfg.label_smoothing and spec.loss != "bce":
        raise ConfigError(f"--label-smoothing applies to dcgan and cdcgan, not {cfg.arch}")
    if not 0 <= cfg.label_smoothing < 1:
        raise ConfigError("--label-smoothing must lie in [0, 1)")


def unit_seed(seed: int, unit_index: int, stream: int = 0) -> int:
    """Independent seeds per unit and purpose (0: training, 1: grid noise, 2: BN calibration) from the run seed."""
    return int(np.random.SeedSequence([seed, unit_index, stream]).generate_state(1)[0])


def _run_info(cfg: TrainConfig, crops: Crops) -> dict:
    spec = get_arch(cfg.arch)
    info = {k: v for k, v in asdict(cfg).items() if k not in ("amp", "channels_last")}
    info.update(
        classes=crops.class_names,
        conditional=spec.conditional,
        snapshots=snapshot_epochs(cfg),
        lr=cfg.lr or spec.lr,
        n_critic=spec.n_critic,
        crops_per_class=crops.counts(),
        finished=False,
    )
    return info


def _check_resumable(out: Path, info: dict) -> dict | None:
    """The stored run.json when ``out`` holds the same run; None for a new run; ConfigError on a clash."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    if not (out / RUN_FILE).is_file():
        raise ConfigError(f"{out}: exists and is not a GAN run folder; choose another OUT")
    old = read_run_info(out)
    diff = [f"{k}: {old.get(k)!r} != {info[k]!r}" for k in _RUN_KEYS if old.get(k) != info[k]]
    if diff:
        raise ConfigError(f"{out}: holds a run with other settings ({'; '.join(diff)}); choose another OUT")
    return old


@dataclass
class _Unit:
    name: str
    index: int
    real: torch.Tensor  # N x 3 x S x S in [-1, 1]
    labels: torch.Tensor | None  # N, conditional only
    n_classes: int = 0  # > 0 for the conditional unit


def _save_grid(g: Generator, path: Path, z: torch.Tensor, y: torch.Tensor | None) -> None:
    """A PNG grid of 8 crops a row (a row per class for conditional models) from fixed noise."""
    with torch.no_grad():
        images = g(z, y)  # (rows * 8) x 3 x S x S
    grid = make_grid(images.float(), nrow=GRID_PER_CLASS, padding=2, pad_value=-1.0)
    atomic_write_bytes(path, encode_image(to_uint8(grid[None])[0], ".png"))


def train_unit(
    unit: _Unit,
    out: Path,
    cfg: TrainConfig,
    device: str,
    progress: bool = True,
    on_epoch_end: Callable[[str, int], None] | None = None,
) -> None:
    """Train (or resume) one generator until ``cfg.epochs``; see the module doc for the files."""
    spec = get_arch(cfg.arch)
    amp = cfg.amp and torch.device(device).type == "cuda"
    gen = torch.Generator().manual_seed(unit_seed(cfg.seed, unit.index))
    n_classes = unit.n_classes
    g, d = spec.build(cfg.image_size, n_classes, gen, nz=cfg.nz, width=cfg.width)
    memory = torch.channels_last if cfg.channels_last else torch.preserve_format
    g, d = g.to(device, memory_format=memory), d.to(device, memory_format=memory)
    pair = GanPair.create(g, d, cfg.lr or spec.lr, spec.betas, amp, device)
    step_cfg = StepConfig(
        spec.gan_loss,
        cfg.nz,
        parse_policy(cfg.diffaugment),
        cfg.label_smoothing,
        amp=amp,
        channels_last=cfg.channels_last,
    )
    ckpt, start, step = out / "checkpoints" / f"{unit.name}.pt", 0, 0
    if ckpt.is_file():
        state = load_state(ckpt, "cpu")  # the RNG state must stay on CPU; load_state_dict moves the rest
        try:
            pair.load_state_dict(state["pair"])
            gen.set_state(state["rng"])
            start, step = int(state["epoch"]), int(state["step"])
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise DataError(f"{ckpt}: checkpoint does not fit this run ({type(e).__name__}: {e})") from e
    grid_gen = torch.Generator().manual_seed(unit_seed(cfg.seed, unit.index, 1))
    grid_rows = n_classes or GRID_PER_CLASS
    grid_z = torch.randn(grid_rows * GRID_PER_CLASS, cfg.nz, generator=grid_gen).to(device)
    grid_y = torch.arange(n_classes).repeat_interleave(GRID_PER_CLASS).to(device) if n_classes else None
    real = unit.real.to(device, memory_format=memory)
    labels = unit.labels.to(device) if unit.labels is not None else None
    n = len(real)
    batch = min(cfg.batch, n)
    snaps = set(snapshot_epochs(cfg))
    bar = tqdm(
        total=cfg.epochs,
        initial=start,
        desc=f"{cfg.arch} {unit.name}",
        unit="ep",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    for epoch in range(start + 1, cfg.epochs + 1):
        order = torch.randperm(n, generator=gen).to(device)
        d_sum, g_sum, g_count = torch.zeros((), device=device), torch.zeros((), device=device), 0
        for i in range(n // batch):
            idx = order[i * batch : (i + 1) * batch]
            g_step = step % spec.n_critic == 0
            d_loss, g_loss = train_step(
                pair, real[idx], labels[idx] if labels is not None else None, gen, step_cfg, g_step
            )
            d_sum += d_loss
            if g_loss is not None:
                g_sum, g_count = g_sum + g_loss, g_count + 1
            step += 1
        save_state(ckpt, {"pair": pair.state_dict(), "rng": gen.get_state(), "epoch": epoch, "step": step})
        if epoch in snaps:
            snap = snapshot_dir(out, epoch)
            g_eval = calibrated_copy(pair.g, torch.Generator().manual_seed(unit_seed(cfg.seed, unit.index, 2)))
            save_state(snap / f"{unit.name}.pt", g_eval.state_dict())
            _save_grid(g_eval, snap / f"{unit.name}.png", grid_z, grid_y)
        # One host sync per epoch, for the progress bar.
        bar.set_postfix(d=f"{d_sum.item() / (n // batch):.3f}", g=f"{g_sum.item() / g_count:.3f}" if g_count else "-")
        bar.update(1)
        if on_epoch_end is not None:
            on_epoch_end(unit.name, epoch)
    bar.close()


def train_run(
    crops_dir: Path,
    out: Path,
    cfg: TrainConfig,
    device: str = "cpu",
    progress: bool = True,
    on_epoch_end: Callable[[str, int], None] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train every unit of a run into ``out`` (resuming what is there); returns the final run info.

    Args:
        on_epoch_end: called as ``(unit, epoch)`` after each epoch's checkpoint (tests interrupt here).

    Raises:
        ConfigError: bad settings, or ``out`` holds a different run. DataError: bad crops or checkpoint.
    """
    _validate(cfg)
    out = Path(out)
    warnings = Warnings()
    crops = load_crops(crops_dir, cfg.image_size, cfg.split, warnings)
    info = _run_info(cfg, crops)
    old = _check_resumable(out, info)
    if old is not None and old.get("finished"):
        log(f"{out}: run already finished; nothing to do")
        return old
    for line in warnings.summary():
        log(line)
    write_run_info(out, info)
    x = to_tensor(crops.images)
    labels = torch.from_numpy(crops.labels)
    for k, name in enumerate(units_of(info)):
        if name == ALL:
            unit = _Unit(name, k, x, labels, len(crops.class_names))
        else:
            unit = _Unit(name, k, x[labels == k], None)
        train_unit(unit, out, cfg, device, progress, on_epoch_end)
    info["finished"] = True
    write_run_info(out, info)
    return info
