"""The training loop: in-memory uint8 tensors, early stopping on val, best-val checkpoint.

Data stay as ``uint8`` (N, 3, S, S) tensors (a few thousand crops fit easily); each batch is moved to
the device and normalized there. Batches are drawn by index from torch samplers with an explicit
``torch.Generator`` (no DataLoader workers), so a CPU run is deterministic for a seed.
On CUDA the model runs in channels_last memory format under fp16 autocast with a GradScaler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import RandomSampler, WeightedRandomSampler

from blendaug.data.cores import torch_threads
from blendaug.data.errors import ConfigError


@dataclass
class FitConfig:
    """Hyper-parameters of one training run."""

    epochs: int = 30  # maximum epochs
    batch: int = 64  # batch size
    lr: float = 2e-3  # AdamW peak learning rate (cosine decay to 0 over ``epochs``)
    weight_decay: float = 0.05  # AdamW decoupled weight decay
    patience: int = 0  # stop after this many epochs without a better val score (0 = never)
    balanced: bool = False  # class-balanced sampling (WeightedRandomSampler, 1/class-frequency weights)
    seed: int = 0  # seeds the sampler generator


@dataclass
class FitResult:
    best_state: dict
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    curves: list[dict] = field(default_factory=list)
    threads: int = 0  # torch intra-op threads while training (CPU)


def use_all_cores() -> int:
    """Give torch every usable core again (ultralytics lowers torch's thread count for the rest of the process),
    or ``$BLENDAUG_TORCH_THREADS`` when set: an executor packing several jobs on one machine sets it per job."""
    torch.set_num_threads(torch_threads())
    return torch.get_num_threads()


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cpu``; ``cuda`` / ``cuda:N`` (error when absent)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: CUDA is not available here (use --device cpu or auto)")
        try:
            dev = torch.device(name)
        except RuntimeError as e:
            raise ConfigError(f"--device {name}: {e}") from e
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
        return dev
    raise ConfigError(f"--device {name!r}: use auto, cpu, cuda or cuda:N")


def to_tensor_u8(images: np.ndarray) -> torch.Tensor:
    """(N, S, S, 3) uint8 numpy -> (N, 3, S, S) uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of (N, S, S, 3) uint8 images, in [0, 1] units."""
    x = images.reshape(-1, 3).astype(np.float64) / 255.0
    return x.mean(axis=0).tolist(), np.maximum(x.std(axis=0), 1e-3).tolist()


class Normalizer:
    """uint8 (B, 3, S, S) on any device -> normalized float32 on ``device`` (channels_last on CUDA)."""

    def __init__(self, mean: list[float], std: list[float], device: torch.device):
        self.device = device
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255.0
        self.channels_last = device.type == "cuda"

    def __call__(self, x_u8: torch.Tensor) -> torch.Tensor:
        x = (x_u8.to(self.device, non_blocking=True).float() - self.mean) / self.std  # B x 3 x S x S
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def _autocast(device: torch.device):
    return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=device.type == "cuda")


@torch.no_grad()
def predict(model: nn.Module, x_u8: torch.Tensor, norm: Normalizer, batch: int = 256) -> torch.Tensor:
    """Logits (N, C) as float32 on the CPU, in eval mode."""
    model.eval()
    out = []
    for i in range(0, len(x_u8), batch):
        with _autocast(norm.device):
            out.append(model(norm(x_u8[i:i + batch])).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)


def _batch_order(labels: torch.Tensor, cfg: FitConfig, gen: torch.Generator) -> list[int]:
    n = len(labels)
    if cfg.balanced:
        counts = torch.bincount(labels).double()
        weights = (1.0 / counts)[labels]
        return list(WeightedRandomSampler(weights, num_samples=n, replacement=True, generator=gen))
    return list(RandomSampler(range(n), generator=gen))


def _val_score(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    loss = nn.functional.cross_entropy(logits, y).item() if len(y) else math.inf
    acc = (logits.argmax(1) == y).double().mean().item() if len(y) else 0.0
    return loss, acc


def fit(model: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
        norm: Normalizer, cfg: FitConfig, log=None) -> FitResult:
    """Train ``model`` and keep the weights of the epoch with the best val accuracy (ties: lower val loss).

    Args:
        train_x, val_x: (N, 3, S, S) uint8 tensors; train_y, val_y: (N,) int64.
        norm: normalizer on the target device.
        cfg: hyper-parameters.
        log: optional ``callable(str)`` for one line per epoch.

    Returns:
        the best state_dict (on CPU), its epoch, the per-epoch curves and the threads used.
    """
    device = norm.device
    threads = use_all_cores() if device.type == "cpu" else torch.get_num_threads()
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
    gen = torch.Generator().manual_seed(cfg.seed)
    # BatchNorm cannot train on a batch of one sample: drop a last batch of size 1.
    n_batches = len(train_y) // cfg.batch + (len(train_y) % cfg.batch > 1)
    best_key, best_state, best_epoch, bad, curves = None, None, 0, 0, []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.tensor(_batch_order(train_y, cfg, gen))
        loss_sum, correct, seen = 0.0, 0, 0
        lr = opt.param_groups[0]["lr"]
        for b in range(n_batches):
            idx = order[b * cfg.batch:(b + 1) * cfg.batch]
            x, y = norm(train_x[idx]), train_y[idx].to(device)
            with _autocast(device):
                logits = model(x)  # B x C
                loss = nn.functional.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
        sched.step()
        val_loss, val_acc = _val_score(predict(model, val_x, norm), val_y)
        curves.append({"epoch": epoch, "lr": lr, "train_loss": loss_sum / max(seen, 1),
                       "train_acc": correct / max(seen, 1), "val_loss": val_loss, "val_acc": val_acc})
        # Without a val split the last epoch is kept.
        key = (val_acc, -val_loss) if len(val_y) else (epoch, 0.0)
        if best_key is None or key > best_key:
            best_key, best_epoch, bad = key, epoch, 0
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            bad += 1
        if log:
            row = curves[-1]
            log(f"epoch {epoch}/{cfg.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.3f}"
                f"  val loss {val_loss:.4f} acc {val_acc:.3f}{'  *' if best_epoch == epoch else ''}")
        if cfg.patience and bad >= cfg.patience:
            break
    return FitResult(best_state, best_epoch, len(curves), len(curves) < cfg.epochs, curves, threads)
