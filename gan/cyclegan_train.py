"""Training of the CycleGAN family: per class, an unpaired translator from toyworld crops to the real crops.

Domain A is toyworld vehicle crops of the class (``data.toyworld_crops``: a seeded pool of
``source_crops`` of them, drawn at the run's crop size), domain B the user's real crops of the class.
A step is one update of both generators (LSGAN + cycle + identity losses) on one batch of each
domain, then one update of both PatchGAN discriminators on the generated batch through an image pool.
Real batches run over fresh seeded permutations (``floor(N / batch)`` a pass), source batches over
permutations of the pool. The learning rate is constant for the first half, then falls linearly to
0 at the end (as the reference does over its second 100 epochs).

Files and their order follow :mod:`blendaug.gan.train`: at a snapshot step the A -> B generator
(``snapshots/step_NNNNNNN/<class>.pt``) and a grid (``<class>.png``: rows of toyworld crops, each
followed by its translation), then the checkpoint (``checkpoints/<class>.pt``: both generators, both
discriminators, both Adams, both scalers, the pools, step, RNG, batch orders). A resumed run gives the
same weights as an uninterrupted one on CPU.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.utils import make_grid
from tqdm import tqdm

from blendaug.data.errors import DataError
from blendaug.data.imageio import encode_image
from blendaug.gan.cyclegan_models import ImagePool, PatchDiscriminator, ResnetGenerator, init_weights
from blendaug.gan.data import to_tensor, to_uint8
from blendaug.gan.diffaugment import diff_augment
from blendaug.gan.runs import load_state, save_state, snapshot_dir, write_bytes
from blendaug.gan.train import GRID_PER_CLASS, unit_seed

_LOSS_EVERY = 50
_NETS = ("g_ab", "g_ba", "d_a", "d_b")


@dataclass(frozen=True)
class CycleSettings:
    steps: int
    snapshots: frozenset[int]
    batch: int
    lr: float
    width: int
    opts: dict
    policy: tuple[str, ...]
    checkpoint_every: int
    amp_dtype: torch.dtype | None
    seed: int


class CyclePair:
    """Both generators, both discriminators, their optimisers, scalers and pools (what a checkpoint holds)."""

    def __init__(self, s: CycleSettings, gen: torch.Generator, device: str):
        o = s.opts
        self.g_ab = init_weights(ResnetGenerator(s.width, o["n_blocks"], o["residual"]), gen).to(device)
        self.g_ba = init_weights(ResnetGenerator(s.width, o["n_blocks"], o["residual"]), gen).to(device)
        self.d_a = init_weights(PatchDiscriminator(s.width, o["d_layers"]), gen).to(device)
        self.d_b = init_weights(PatchDiscriminator(s.width, o["d_layers"]), gen).to(device)
        adam = dict(lr=s.lr, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam([*self.g_ab.parameters(), *self.g_ba.parameters()], **adam)
        self.opt_d = torch.optim.Adam([*self.d_a.parameters(), *self.d_b.parameters()], **adam)
        fp16, kind = s.amp_dtype == torch.float16, torch.device(device).type
        self.scaler_g = torch.amp.GradScaler(kind, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(kind, enabled=fp16)
        self.pool_a, self.pool_b = ImagePool(o["pool"]), ImagePool(o["pool"])

    def state_dict(self) -> dict:
        names = (*_NETS, "opt_g", "opt_d", "scaler_g", "scaler_d", "pool_a", "pool_b")
        return {name: getattr(self, name).state_dict() for name in names}

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            getattr(self, name).load_state_dict(value)


def lr_at(step: int, steps: int, lr: float, decay: bool) -> float:
    """Constant, then (with ``decay``) linear to 0 over the second half of the budget."""
    if not decay:
        return lr
    return lr * min(1.0, 2.0 * (steps - step) / steps)


def cycle_step(p: CyclePair, a: torch.Tensor, b: torch.Tensor, gen: torch.Generator, s: CycleSettings) -> torch.Tensor:
    """One generator update and one discriminator update on source batch ``a`` and real batch ``b``.

    Returns the detached losses ``[g_total, d_a, d_b]`` (no host sync).
    """
    o, dev = s.opts, a.device
    amp = torch.autocast(dev.type, dtype=s.amp_dtype or torch.float16, enabled=s.amp_dtype is not None)
    lam_c, lam_i = o["lambda_cycle"], o["lambda_cycle"] * o["lambda_identity"]
    aug = lambda x: diff_augment(x, s.policy, gen)  # noqa: E731
    p.d_a.requires_grad_(False), p.d_b.requires_grad_(False)
    try:
        with amp:
            fake_b, fake_a = p.g_ab(a), p.g_ba(b)  # B x 3 x S x S each
            adv = _to_real(p.d_b(aug(fake_b))) + _to_real(p.d_a(aug(fake_a)))  # LSGAN: fakes pushed to 1
            cyc = F.l1_loss(p.g_ba(fake_b).float(), a) + F.l1_loss(p.g_ab(fake_a).float(), b)
            g_loss = adv + lam_c * cyc
            if lam_i:  # identity: a real crop fed to the A -> B translator should come out unchanged
                g_loss = g_loss + lam_i * (F.l1_loss(p.g_ab(b).float(), b) + F.l1_loss(p.g_ba(a).float(), a))
        p.opt_g.zero_grad(set_to_none=True)
        p.scaler_g.scale(g_loss).backward()
        p.scaler_g.step(p.opt_g)
        p.scaler_g.update()
    finally:
        p.d_a.requires_grad_(True), p.d_b.requires_grad_(True)
    pooled_b, pooled_a = p.pool_b.query(fake_b.detach(), gen), p.pool_a.query(fake_a.detach(), gen)
    with amp:
        d_b = 0.5 * (_to_real(p.d_b(aug(b))) + _to_fake(p.d_b(aug(pooled_b))))
        d_a = 0.5 * (_to_real(p.d_a(aug(a))) + _to_fake(p.d_a(aug(pooled_a))))
    p.opt_d.zero_grad(set_to_none=True)
    p.scaler_d.scale(d_a + d_b).backward()
    p.scaler_d.step(p.opt_d)
    p.scaler_d.update()
    return torch.stack([g_loss.detach(), d_a.detach(), d_b.detach()])


def _to_real(scores: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(scores.float(), torch.ones_like(scores, dtype=torch.float32))


def _to_fake(scores: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(scores.float(), torch.zeros_like(scores, dtype=torch.float32))


def translate(g: ResnetGenerator, source_uint8: np.ndarray, device: str, chunk: int) -> np.ndarray:
    """uint8 (n, S, S, 3) source crops -> uint8 (n, S, S, 3) translations, in fixed chunks of ``chunk`` rows
    (the last padded with copies of its first row): a row's result does not depend on n."""
    x = to_tensor(np.array(source_uint8))  # a copy: the source crops may be a read-only cached array
    n = len(x)
    parts = []
    with torch.no_grad():
        for i in range(0, n, chunk):
            part = x[i : i + chunk]
            pad = chunk - len(part)
            if pad:
                part = torch.cat([part, part[:1].expand(pad, *part.shape[1:])])
            parts.append(g(part.to(device)).cpu()[: chunk - pad])
    return to_uint8(torch.cat(parts)) if parts else source_uint8[:0]


def _grid(g: ResnetGenerator, source_uint8: np.ndarray, device: str) -> bytes:
    """Rows of 8 toyworld crops, each row followed by its translation."""
    out = translate(g.eval(), source_uint8, device, GRID_PER_CLASS)
    g.train()
    rows, k = [], GRID_PER_CLASS
    for i in range(0, len(source_uint8), k):
        rows += [torch.from_numpy(np.array(source_uint8[i : i + k])), torch.from_numpy(out[i : i + k])]
    grid = make_grid(torch.cat(rows).permute(0, 3, 1, 2), nrow=GRID_PER_CLASS, padding=2, pad_value=0)
    return encode_image(grid.permute(1, 2, 0).contiguous().numpy(), ".png")


def train_class(name: str, index: int, real: torch.Tensor, source: torch.Tensor, grid_source, out: Path,
                s: CycleSettings, device: str, progress: bool, on_checkpoint, log) -> None:  # fmt: skip
    """Train (or resume) the translator of one class until ``s.steps``; see the module doc for the files."""
    gen = torch.Generator().manual_seed(unit_seed(s.seed, index))
    pair = CyclePair(s, gen, device)
    ckpt = out / "checkpoints" / f"{name}.pt"
    step, orders = 0, {"b": None, "a": None}
    pos = {"b": 0, "a": 0}
    if ckpt.is_file():
        state = load_state(ckpt, "cpu")
        try:
            done = int(state["step"])
            missing = [k for k in sorted(s.snapshots)
                       if k <= done and not (snapshot_dir(out, k) / f"{name}.pt").is_file()]  # fmt: skip
            if missing:
                log(f"{name}: snapshot(s) {missing} missing below the checkpoint (step {done}): training again")
            else:
                pair.load_state_dict(state["pair"])
                gen.set_state(state["rng"])
                step, orders, pos = done, dict(state["orders"]), dict(state["pos"])
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise DataError(f"{ckpt}: checkpoint does not fit this run ({type(e).__name__}: {e})") from e
    real, source = real.to(device), source.to(device)
    batch = min(s.batch, len(real), len(source))
    bar = tqdm(total=s.steps, initial=step, desc=f"cyclegan {name}", unit="step", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)  # fmt: skip
    loss_sum, since = torch.zeros(3, device=device), 0
    for net in _NETS:
        getattr(pair, net).train()
    while step < s.steps:
        idx = {}
        for key, n in (("b", len(real)), ("a", len(source))):
            if orders[key] is None or pos[key] + batch > n:
                orders[key], pos[key] = torch.randperm(n, generator=gen), 0
            idx[key] = orders[key][pos[key] : pos[key] + batch].to(device)
            pos[key] += batch
        for group in (*pair.opt_g.param_groups, *pair.opt_d.param_groups):
            group["lr"] = lr_at(step, s.steps, s.lr, s.opts["decay"])
        loss_sum += cycle_step(pair, source[idx["a"]], real[idx["b"]], gen, s)
        step, since = step + 1, since + 1
        if step in s.snapshots:  # the snapshot first: a checkpoint past it must imply it is on disk
            snap = snapshot_dir(out, step)
            save_state(snap / f"{name}.pt", pair.g_ab.state_dict())
            write_bytes(snap / f"{name}.png", _grid(pair.g_ab, grid_source, device))
        if step in s.snapshots or step % s.checkpoint_every == 0 or step == s.steps:
            save_state(ckpt, {"pair": pair.state_dict(), "rng": gen.get_state(), "step": step,
                              "orders": {k: v.cpu() for k, v in orders.items()}, "pos": pos})  # fmt: skip
            if on_checkpoint is not None:
                on_checkpoint(name, step)
        if since >= _LOSS_EVERY or step == s.steps:
            g, da, db = (loss_sum / since).tolist()
            bar.set_postfix(g=f"{g:.3f}", d_a=f"{da:.3f}", d_b=f"{db:.3f}")
            loss_sum, since = loss_sum * 0, 0
        bar.update(1)
    bar.close()
