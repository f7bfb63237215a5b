"""Classifier training throughput: images/s of our training step, next to a plain PyTorch loop.

For each model, the same number of optimizer steps on random uint8 crops is timed twice in one run:
- ours: :func:`classification.train.fit` (sampler, normalization on the device, AMP + channels_last on CUDA,
  one val pass per epoch, best-state copy);
- reference: the textbook loop (``model(x)``, ``loss.backward()``, ``opt.step()``) on pre-normalized float
  tensors, fp32, default memory format: what the same model costs with no bookkeeping at all.
On CUDA both are also run, so the line shows what AMP + channels_last buy over plain fp32.

Usage: python benchmarks/bench_classify.py [--models smallcnn,resnet18] [--size 64] [--images 512] [--cpu-images 128]
                                          [--device auto]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]

from blendaug.classification.models import build_model  # noqa: E402
from blendaug.classification.train import FitConfig, Normalizer, fit, resolve_device, use_all_cores  # noqa: E402
from blendaug.data.cores import usable_cores  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_ours(name: str, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch: int, epochs: int) -> float:
    torch.manual_seed(0)
    model = build_model(name, 3, x.shape[-1])
    norm = Normalizer([0.5] * 3, [0.25] * 3, device)
    val_x, val_y = x[:batch], y[:batch]  # a token val split: the loop always scores val once per epoch
    fit(model, x[:batch * 2], y[:batch * 2], val_x, val_y, norm, FitConfig(epochs=1, batch=batch))  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    fit(model, x, y, val_x, val_y, norm, FitConfig(epochs=epochs, batch=batch))
    _sync(device)
    return epochs * len(y) / (time.perf_counter() - t0)


def bench_reference(name: str, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch: int,
                    epochs: int) -> float:
    torch.manual_seed(0)
    model = build_model(name, 3, x.shape[-1]).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    xf = ((x.float() - 127.5) / 64.0).to(device)  # N x 3 x S x S, normalized once up front
    yd = y.to(device)
    loss_fn = nn.CrossEntropyLoss()

    def one_epoch(xs: torch.Tensor, ys: torch.Tensor) -> None:
        for i in range(0, len(ys) - 1, batch):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xs[i:i + batch]), ys[i:i + batch]).backward()
            opt.step()

    one_epoch(xf[:batch * 2], yd[:batch * 2])  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(epochs):
        one_epoch(xf, yd)
    _sync(device)
    return epochs * len(yd) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="smallcnn,resnet18")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--cpu-images", type=int, default=128, help="images per epoch on CPU (slow there)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.images, 3, args.size, args.size), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 3, (args.images,), generator=gen)
    devices = [torch.device("cpu")]
    if resolve_device(args.device).type == "cuda":
        devices.append(resolve_device(args.device))
    threads = use_all_cores()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {usable_cores()} CPU cores, {threads} torch threads, load average {load:.1f} "
          f"(CPU numbers are only comparable at a similar load); {args.images} random {args.size}px crops, "
          f"batch {args.batch}, {args.epochs} epochs; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    for device in devices:
        label = f"{device.type}" + (f" ({torch.cuda.get_device_name(device)}, ours: AMP fp16 + channels_last)"
                                    if device.type == "cuda" else "")
        print(f"== {label}: {min(args.images, args.cpu_images) if device.type == 'cpu' else args.images} "
              f"images per epoch")
        images = args.images if device.type == "cuda" else min(args.images, args.cpu_images)
        for name in args.models.split(","):
            ours = bench_ours(name, x[:images], y[:images], device, args.batch, args.epochs)
            ref = bench_reference(name, x[:images], y[:images], device, args.batch, args.epochs)
            print(f"{name:>10} @ {args.size}px  train images/s: ours {ours:9.1f}   reference plain fp32 loop "
                  f"{ref:9.1f}   ratio {ours / ref:5.2f}")


if __name__ == "__main__":
    main()
