"""``blendaug gan score RUN --real CROPS [--heldout VAL]``: measure every snapshot and assign quality tiers.

Registered by ``gan/cli.py``. Heavy imports (torch, torchmetrics) happen inside the command.
"""

from __future__ import annotations

from pathlib import Path

import typer

from blendaug.data.errors import ConfigError


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is passed to torch as is."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(device)
    except RuntimeError as e:
        raise ConfigError(f"--device: {e}") from e
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available here")
    return device


def score(
    run: Path = typer.Argument(..., help="Generator run folder (output of `blendaug gan train`)."),
    real: Path = typer.Option(..., "--real", help="The crops the generator trained on (`gan train`'s CROPS)."),
    heldout: Path | None = typer.Option(None, "--heldout", help="Real crops it never saw (e.g. `data crops --split "
                                        "val`) [the part of --real held out at training]."),
    n: int = typer.Option(200, "--n", min=2, help="Generated crops per class and snapshot (capped at train crops)."),
    seed: int = typer.Option(0, "--seed", help="Seed of sampling, subsets, the feature classifier and TSTR."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    features: str = typer.Option(
        "pixels", "--features", help="Feature space: pixels, crops-classifier (trained here) or inception."
    ),
    pixel_side: int = typer.Option(8, "--pixel-side", min=2, help="Side of the pixels feature space."),
    features_weights: Path | None = typer.Option(
        None, "--features-weights", help="Where the crop classifier is stored/reused [RUN/quality_features.pt]."
    ),
    inception: Path | None = typer.Option(
        None, "--inception", help="Local Inception-v3 weights (.pth); implies --features inception."
    ),
    k: int = typer.Option(5, "--k", min=1, help="Neighbours for precision/recall/density/coverage."),
    ssim_reals: int = typer.Option(64, "--ssim-reals", min=1, help="Held-out crops per class searched for SSIM."),
    ssim_fakes: int = typer.Option(64, "--ssim-fakes", min=1, help="Generated crops per class checked by SSIM."),
    tstr: bool = typer.Option(True, "--tstr/--no-tstr", help="Train on synthetic, test on real."),
    feature_epochs: int = typer.Option(30, "--feature-epochs", min=1, help="Epochs of the feature classifier."),
    feature_size: int = typer.Option(32, "--feature-size", min=16, help="Input side of the feature classifier."),
    image_size: int | None = typer.Option(
        None, "--image-size", min=16, help="Side crops are resized to for scoring [the run's image size]."
    ),
    threads: int = typer.Option(
        1, "--threads", min=0, help="CPU threads for torch (0: torch's default). One is fastest on a busy machine."
    ),
) -> None:
    """Score every snapshot against held-out real crops (anchored quality, TSTR, copying) into RUN/quality.csv."""
    import torch

    from blendaug.gan.quality.classifier import ClassifierConfig
    from blendaug.gan.quality.measure import MeasureConfig
    from blendaug.gan.quality.score import ScoreConfig, score_run

    if inception is not None:
        features = "inception"
    if threads:
        # The networks and matrices here are small: with several threads on a shared CPU, thread
        # hand-offs dominate (measured 3-10x slower with 2 threads than with 1 on a busy 2-core machine).
        torch.set_num_threads(threads)
    cfg = ScoreConfig(
        n=n, seed=seed, tstr=tstr, image_size=image_size, features=features, pixel_side=pixel_side,
        measure=MeasureConfig(k=k, ssim_reals=ssim_reals, ssim_fakes=ssim_fakes, seed=seed),
        classifier=ClassifierConfig(image_size=feature_size, epochs=feature_epochs),
    )  # fmt: skip
    table = score_run(run, real, heldout, cfg, store=features_weights, inception=inception,
                      device=resolve_device(device), log=lambda m: typer.echo(m, err=True))  # fmt: skip
    shown = table[["snapshot", "class", "fid", "fid_real", "fid_noise", "quality", "tstr_acc", "tstr_norm", "copy_z",
                   "copying", "tier"]]  # fmt: skip
    typer.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"quality -> {Path(run) / 'quality.csv'}")
