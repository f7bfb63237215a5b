"""Training of the DDPM family: one class-conditional UNet for all classes, resumably, with snapshots.

A step is one AdamW update of the UNet on one batch (timesteps, noise and label dropout drawn per
crop); batches run over fresh seeded permutations of the crops (``floor(N / batch)`` a pass), each
crop flipped at random along each axis when ``flip`` is on (top-down crops have no handedness).
Snapshots take an exponential moving average of the weights (ramped up as in the GAN family).

The run folder follows :mod:`blendaug.gan.train`: at a snapshot step the averaged UNet's weights
(``snapshots/step_NNNNNNN/all.pt``) and its sample grid (``all.png``, a row per class from fixed
noise) are written first, then, at a snapshot, every ``checkpoint_every`` steps and at the end, the
full state (UNet, average, AdamW, grad scaler, step, RNG, batch order) to ``checkpoints/all.pt``. A
kill between any two writes resumes to the same files; on CPU a resumed run gives the same weights
as an uninterrupted one (all randomness comes from one seeded generator, which is checkpointed).
"""

from __future__ import annotations

import sys
from copy import deepcopy
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import make_grid
from tqdm import tqdm

from blendaug.data.errors import DataError
from blendaug.data.imageio import encode_image
from blendaug.gan.data import to_tensor
from blendaug.gan.ddpm_model import build_unet, denoising_loss, sample_uint8, train_scheduler, unet_config
from blendaug.gan.runs import ALL, load_state, save_state, snapshot_dir, start_run, write_bytes, write_run_info
from blendaug.gan.train import GRID_PER_CLASS, ema_decay, unit_seed, update_ema

# Small UNets take large steps: on toyworld crops at width 16 the held-out denoising loss after 300 steps was
# 0.139 at 3e-4, 0.075 at 1e-3 and 0.058 at 2e-3 (gan/README.md); 1e-3 leaves room for wider models.
DEFAULT_LR = 1e-3
_LOSS_EVERY = 50


def random_flips(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Flip each crop of (B, 3, S, S) left-right and up-down, each with probability 1/2 (draws from ``gen``)."""
    flips = torch.rand(x.shape[0], 2, generator=gen).to(x.device) < 0.5  # B x 2
    x = torch.where(flips[:, 0, None, None, None], x.flip(3), x)
    return torch.where(flips[:, 1, None, None, None], x.flip(2), x)


def lr_at(step: int, lr: float, warmup: int) -> float:
    """Linear warm-up over the first ``warmup`` steps, then constant (a function of the step: nothing to resume)."""
    return lr * min(1.0, (step + 1) / max(1, warmup))


def _grid(ema, opts: dict, n_classes: int, seed: int, device: str) -> bytes:
    """A PNG of 8 crops a row, a row per class, the same noise at every snapshot."""
    rows = [torch.from_numpy(sample_uint8(ema, opts, c, GRID_PER_CLASS, seed, device)) for c in range(n_classes)]
    x = torch.cat(rows).permute(0, 3, 1, 2)  # (K * 8) x 3 x S x S uint8
    grid = make_grid(x, nrow=GRID_PER_CLASS, padding=2, pad_value=0)
    return encode_image(np.ascontiguousarray(grid.permute(1, 2, 0).numpy()), ".png")


def train_ddpm(job) -> dict:
    """Train (or resume) a DDPM run from a :class:`blendaug.gan.families.TrainJob`; returns the run info."""
    cfg, crops, out = job.cfg, job.crops, Path(job.out)
    opts = cfg.family_options("ddpm")
    size, k = int(job.info["image_size"]), len(crops.class_names)
    unet_cfg = unet_config(size, cfg.width, k, opts["attention"], opts["layers_per_block"])
    lr = cfg.lr or DEFAULT_LR
    info = dict(job.info)
    info.update(conditional=True, lr=lr, width=cfg.width, unet=unet_cfg, options=opts)
    info["settings"] = {**info["settings"], "lr": lr, "width": cfg.width, "unet": unet_cfg,
                        **{f"ddpm.{key}": v for key, v in opts.items()}}  # fmt: skip
    old = start_run(out, info)
    if old is not None and old.get("finished"):
        job.log(f"{out}: run already finished; nothing to do")
        return old
    write_run_info(out, info)
    device = job.device
    cuda = torch.device(device).type == "cuda"
    amp_dtype = None
    if cfg.amp and cuda:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    steps, snapshots = job.budget.steps, frozenset(job.budget.snapshots)
    gen = torch.Generator().manual_seed(unit_seed(job.seed, 0))
    unet = build_unet(unet_cfg, unit_seed(job.seed, 0, 3)).to(device).train()
    ema = deepcopy(unet).requires_grad_(False).eval()
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    scaler = torch.amp.GradScaler(torch.device(device).type, enabled=amp_dtype == torch.float16)
    sched = train_scheduler(opts)
    ckpt = out / "checkpoints" / f"{ALL}.pt"
    step, order, pos = 0, None, 0
    if ckpt.is_file():
        state = load_state(ckpt, "cpu")
        try:
            s = int(state["step"])
            missing = [p for p in sorted(snapshots) if p <= s and not (snapshot_dir(out, p) / f"{ALL}.pt").is_file()]
            if missing:
                job.log(f"ddpm: snapshot(s) {missing} missing below the checkpoint (step {s}): training again")
            else:
                unet.load_state_dict(state["unet"]), ema.load_state_dict(state["ema"])
                opt.load_state_dict(state["opt"]), scaler.load_state_dict(state["scaler"])
                gen.set_state(state["rng"])
                step, order, pos = s, state["order"], int(state["pos"])
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise DataError(f"{ckpt}: checkpoint does not fit this run ({type(e).__name__}: {e})") from e
    real, labels = to_tensor(crops.images, device), torch.from_numpy(crops.labels).to(device)
    n = len(real)
    batch = min(cfg.batch, n)
    bar = tqdm(total=steps, initial=step, desc="ddpm", unit="step", file=sys.stderr, disable=not job.progress,
               dynamic_ncols=True)  # fmt: skip
    loss_sum, since = torch.zeros((), device=device), 0
    while step < steps:
        if order is None or pos + batch > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + batch].to(device)
        pos += batch
        x0 = random_flips(real[idx], gen) if opts["flip"] else real[idx]
        for group in opt.param_groups:
            group["lr"] = lr_at(step, lr, opts["warmup"])
        loss = denoising_loss(unet, sched, x0, labels[idx], gen, opts["cond_drop"], amp_dtype)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        update_ema(ema, unet, ema_decay(opts["ema"], step) if opts["ema"] else 0.0)
        step += 1
        loss_sum, since = loss_sum + loss.detach(), since + 1
        if step in snapshots:  # the snapshot first: a checkpoint past it must imply it is on disk
            snap = snapshot_dir(out, step)
            save_state(snap / f"{ALL}.pt", ema.state_dict())
            write_bytes(snap / f"{ALL}.png", _grid(ema, opts, k, unit_seed(job.seed, 0, 1), device))
        if step in snapshots or step % cfg.checkpoint_every == 0 or step == steps:
            save_state(ckpt, {"unet": unet.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                              "scaler": scaler.state_dict(), "rng": gen.get_state(), "step": step,
                              "order": order.cpu(), "pos": pos})  # fmt: skip
            if job.on_checkpoint is not None:
                job.on_checkpoint(ALL, step)
        if since >= _LOSS_EVERY or step == steps:
            bar.set_postfix(loss=f"{loss_sum.item() / since:.4f}")
            loss_sum, since = loss_sum * 0, 0
        bar.update(1)
    bar.close()
    info["finished"] = True
    write_run_info(out, info)
    return info
