"""Training speed of the GAN zoo: steps/s per architecture next to a naive DCGAN loop, same run, same model.

    python benchmarks/bench_gan.py [--device auto] [--batch 64] [--size 64] [--steps 10]

A step is one discriminator update on one batch (plus the generator update for DCGAN; WGAN-GP
updates G every 5th step), and ours includes the generator's moving average (EMA) that training keeps
for the snapshots. The reference is pytorch/examples' DCGAN loop written plainly: the same
Generator/Discriminator, BCE, a host sync (``.item()``) every step for logging, D's weight grads
computed in the G update. On CUDA it also times ours with AMP and with AMP + channels_last.
The DDPM family's step (one UNet update: noise, denoising loss, clipping, AdamW, EMA) and the CycleGAN
family's (both generators, then both PatchGANs through the image pools) get a line each, also at width 64.
So do the conditional FastGAN (D update with its reconstruction decoders, G update, EMA) and VAE (encode,
reparameterise, decode, one Adam update) steps.
"""

from __future__ import annotations

import argparse
import time
from copy import deepcopy

import torch
import torch.nn.functional as F

from blendaug.gan.registry import GAN_ARCHS, get_arch  # noqa: E402
from blendaug.gan.step import GanPair, StepConfig, train_step  # noqa: E402
from blendaug.gan.train import ema_decay, update_ema  # noqa: E402

NZ = 100


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def real_batch(batch: int, size: int, device: str, memory: torch.memory_format) -> torch.Tensor:
    x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return x.to(device).contiguous(memory_format=memory)


def time_ours(arch: str, args, amp: bool = False, channels_last: bool = False) -> float:
    spec = get_arch(arch)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    g, d = spec.build(args.size, 3, torch.Generator().manual_seed(0))
    g, d = g.to(args.device, memory_format=memory), d.to(args.device, memory_format=memory)
    pair = GanPair.create(g, d, spec.lr, spec.betas, amp, args.device)
    cfg = StepConfig(spec.gan_loss, NZ, amp=amp, channels_last=channels_last)
    real = real_batch(args.batch, args.size, args.device, memory)
    y = torch.randint(0, 3, (args.batch,), generator=torch.Generator().manual_seed(1)).to(args.device)
    y = y if spec.conditional else None
    gen = torch.Generator().manual_seed(2)
    total = torch.zeros((), device=args.device)
    ema = deepcopy(pair.g).requires_grad_(False)

    def run(steps: int, first: int) -> None:
        nonlocal total
        for s in range(first, first + steps):
            d_loss, g_loss = train_step(pair, real, y, gen, cfg, g_step=s % spec.n_critic == 0)
            if g_loss is not None:
                update_ema(ema, pair.g, ema_decay(0.999, s // spec.n_critic))
            total += d_loss
        total.item()  # the one sync per epoch the progress bar makes

    run(args.warmup, 0)
    sync(args.device)
    t0 = time.perf_counter()
    run(args.steps, args.warmup)
    sync(args.device)
    return args.steps / (time.perf_counter() - t0)


def time_reference(args) -> float:
    """A plain DCGAN loop (pytorch/examples style) on the same models."""
    spec = get_arch("dcgan")
    g, d = spec.build(args.size, 0, torch.Generator().manual_seed(0))
    g, d = g.to(args.device), d.to(args.device)
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = real_batch(args.batch, args.size, args.device, torch.contiguous_format)
    ones = torch.ones(args.batch, device=args.device)
    zeros = torch.zeros(args.batch, device=args.device)

    def run(steps: int) -> None:
        for _ in range(steps):
            d.zero_grad()
            err_real = F.binary_cross_entropy_with_logits(d(real), ones)
            err_real.backward()
            fake = g(torch.randn(args.batch, NZ, device=args.device))
            err_fake = F.binary_cross_entropy_with_logits(d(fake.detach()), zeros)
            err_fake.backward()
            opt_d.step()
            g.zero_grad()
            err_g = F.binary_cross_entropy_with_logits(d(fake), ones)
            err_g.backward()
            opt_g.step()
            _ = (err_real + err_fake).item(), err_g.item()  # logged every step

    run(args.warmup)
    sync(args.device)
    t0 = time.perf_counter()
    run(args.steps)
    sync(args.device)
    return args.steps / (time.perf_counter() - t0)


def time_ddpm(args, amp: bool = False) -> float:
    """The DDPM family's step (gan/ddpm_train.py): noise, UNet forward/backward, clipping, AdamW, EMA."""
    from blendaug.gan.config import GanConfig
    from blendaug.gan.ddpm_model import build_unet, denoising_loss, train_scheduler, unet_config

    opts = GanConfig().family_options("ddpm")
    unet = build_unet(unet_config(args.size, 64, 3)).to(args.device)
    ema = deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=3e-4, weight_decay=0.0)
    sched, gen = train_scheduler(opts), torch.Generator().manual_seed(2)
    real = real_batch(args.batch, args.size, args.device, torch.contiguous_format)
    y = torch.randint(0, 3, (args.batch,), generator=torch.Generator().manual_seed(1)).to(args.device)
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if amp else None
    scaler = torch.amp.GradScaler(args.device.split(":")[0], enabled=dtype == torch.float16)

    def step(s: int) -> torch.Tensor:
        loss = denoising_loss(unet, sched, real, y, gen, 0.1, dtype)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        update_ema(ema, unet, ema_decay(0.999, s))
        return loss.detach()

    return _time_steps(step, args)


def time_cyclegan(args, amp: bool = False) -> float:
    """The CycleGAN family's step (gan/cyclegan_train.py): both generators, then both PatchGANs via the pools."""
    from blendaug.gan.config import GanConfig
    from blendaug.gan.cyclegan_train import CyclePair, CycleSettings, cycle_step

    opts = {**GanConfig().family_options("cyclegan"), "d_layers": 2 if args.size < 64 else 3}
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if amp else None
    s = CycleSettings(args.steps, frozenset(), args.batch, 2e-4, 64, opts, (), 500, dtype, 0)
    pair, gen = CyclePair(s, torch.Generator().manual_seed(0), args.device), torch.Generator().manual_seed(2)
    a = real_batch(args.batch, args.size, args.device, torch.contiguous_format)
    b = a.flip(1).contiguous()
    return _time_steps(lambda _: cycle_step(pair, a, b, gen, s)[0], args)


def time_unit_family(name: str, args, amp: bool = False) -> float:
    """A step of the FastGAN or VAE family (``FastGanUnit`` / ``VaeUnit.train_step``, gan/unit_loop.py's loop body):
    FastGAN's D update with its reconstruction decoders, G update and EMA; the VAE's encode, decode and Adam update.
    Conditional (3 classes), width 64, no DiffAugment, like the zoo's lines."""
    from blendaug.gan.fastgan import FastGanUnit, FastSettings
    from blendaug.gan.vae import VaeSettings, VaeUnit

    gen = torch.Generator().manual_seed(0)
    if name == "cfastgan":
        unit = FastGanUnit(FastSettings(args.size, 3, 128, 64, 2e-4, (), 1.0, True, 0.999, amp, 0, 0), gen, args.device)
    else:
        unit = VaeUnit(VaeSettings(args.size, 3, 64, 64, 1e-3, 0.5, 1.0, 0, amp, 0, 0), gen, args.device)
    real = real_batch(args.batch, args.size, args.device, torch.contiguous_format)
    y = torch.randint(0, 3, (args.batch,), generator=torch.Generator().manual_seed(1)).to(args.device)
    return _time_steps(lambda _: unit.train_step(real, y, gen)[-1], args)


def _time_steps(step, args) -> float:
    total = torch.zeros((), device=args.device)
    for k in range(args.warmup):
        total += step(k)
    total.item()
    sync(args.device)
    t0 = time.perf_counter()
    for k in range(args.warmup, args.warmup + args.steps):
        total += step(k)
    total.item()
    sync(args.device)
    return args.steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="Best of this many timings (CPU is shared).")
    args = parser.parse_args()
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    cuda = args.device.startswith("cuda")
    print(f"device {args.device}, batch {args.batch}, {args.size}x{args.size}, {args.steps} timed steps, "
          f"threads {torch.get_num_threads()}; steps/s, best of {args.repeats}")  # fmt: skip

    def best(fn, *a, **kw) -> float:
        return max(fn(*a, **kw) for _ in range(args.repeats))

    ref = best(time_reference, args)
    print(f"{'reference dcgan (naive loop)':34s} {ref:8.2f}")
    for arch in GAN_ARCHS:
        ours = best(time_ours, arch, args)
        note = f"  ({ours / ref:.2f}x reference)" if arch == "dcgan" else ""
        print(f"{'ours ' + arch:34s} {ours:8.2f}{note}")
        if cuda:
            print(f"{'ours ' + arch + ' amp':34s} {best(time_ours, arch, args, amp=True):8.2f}")
            print(f"{'ours ' + arch + ' amp+channels_last':34s} {best(time_ours, arch, args, True, True):8.2f}")
    for name, fn in (("ddpm", time_ddpm), ("cyclegan", time_cyclegan)):  # other families: a step of their own
        print(f"{'ours ' + name:34s} {best(fn, args):8.2f}")
        if cuda:
            print(f"{'ours ' + name + ' amp':34s} {best(fn, args, amp=True):8.2f}")
    for name in ("cfastgan", "cvae"):
        print(f"{'ours ' + name:34s} {best(time_unit_family, name, args):8.2f}")
        if cuda:
            print(f"{'ours ' + name + ' amp':34s} {best(time_unit_family, name, args, amp=True):8.2f}")


if __name__ == "__main__":
    main()
