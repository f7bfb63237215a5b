"""``blendaug gan train|score|sample``: the GAN stage's commands.

Heavy imports (torch) happen inside the commands, so ``blendaug --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from blendaug.data.errors import ConfigError
from blendaug.gan.cli_score import resolve_device, score

app = typer.Typer(add_completion=False, no_args_is_help=True)
app.command("score", help="Score every snapshot (FID, KID, PRDC, SSIM, TSTR) and assign quality tiers.")(score)


@app.command("train")
def train(
    crops: Path = typer.Argument(..., help="Crops folder (output of `blendaug data crops`)."),
    out: Path = typer.Argument(..., help="Run folder; a rerun resumes it, a finished run is left as is."),
    arch: str = typer.Option("dcgan", "--arch", help="dcgan, cdcgan, wgan-gp or cwgan-gp."),
    epochs: int = typer.Option(100, "--epochs", min=1, help="Passes over each generator's crops."),
    snapshots: str = typer.Option("", "--snapshots", help="Epochs to keep, e.g. 5,20,100 (the last always is)."),
    batch: int = typer.Option(64, "--batch", min=1, help="Batch size (capped at the crops of a class)."),
    seed: int = typer.Option(0, "--seed", help="Seed of init, noise, batches and DiffAugment."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    diffaugment: str = typer.Option("", "--diffaugment", help="DiffAugment policies, e.g. color,translation,cutout."),
    size: int = typer.Option(64, "--size", help="Image side: 32, 64 or 128."),
    lr: float | None = typer.Option(None, "--lr", help="Adam learning rate [arch default: 2e-4 DCGAN, 1e-4 WGAN]."),
    label_smoothing: float = typer.Option(0.0, "--label-smoothing", help="One-sided: real target 1-x ((c)DCGAN)."),
    width: int = typer.Option(64, "--width", min=1, help="Base channel count of G and D."),
    split: str = typer.Option("train", "--split", help="Crops of this split of index.csv, or 'all'."),
    amp: bool = typer.Option(True, "--amp/--no-amp", help="Mixed precision (CUDA only)."),
    channels_last: bool = typer.Option(False, "--channels-last", help="NHWC memory format (faster on CUDA)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Train a GAN on the crops: one generator per class, or one for all classes for conditional archs."""
    from blendaug.gan.train import TrainConfig, parse_snapshots, train_run

    cfg = TrainConfig(arch=arch, epochs=epochs, snapshots=parse_snapshots(snapshots, epochs), batch=batch, seed=seed,
                      image_size=size, diffaugment=diffaugment, lr=lr, label_smoothing=label_smoothing, width=width,
                      split=split, amp=amp, channels_last=channels_last)  # fmt: skip
    info = train_run(crops, out, cfg, resolve_device(device), progress, log=lambda m: typer.echo(m, err=True))
    typer.echo(f"{info['arch']}: {len(info['classes'])} class(es), snapshots {info['snapshots']} -> {out}")


@app.command("sample")
def sample(
    paths: list[Path] = typer.Argument(..., help="RUN OUT, or only OUT with --keras."),
    n: int = typer.Option(100, "--n", min=1, help="Crops per class."),
    tier: str = typer.Option("high", "--tier", help="high, mid, low or mixed (from RUN/quality.csv)."),
    class_name: str | None = typer.Option(None, "--class", help="Only this class (required with --keras)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    keras: Path | None = typer.Option(None, "--keras", help="Sample a Keras generator (.h5/.keras) instead of a run."),
    keras_label: int | None = typer.Option(None, "--keras-label", help="Class id input of a conditional Keras model."),
    keras_range: str = typer.Option("auto", "--keras-range", help="Output range: auto, tanh ([-1,1]), sigmoid."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUT."),
) -> None:
    """Write PNG crops and index.csv (file,class,arch,snapshot,tier,seed,score) into OUT."""
    if keras is not None:
        if len(paths) != 1:
            raise ConfigError("with --keras, give only OUT (the model is the --keras file)")
        from blendaug.gan.keras_sampler import sample_keras

        tier_k = "high" if tier == "mixed" else tier
        out = sample_keras(keras, paths[0], class_name or "", n, seed, keras_label, tier_k, keras_range, overwrite)
    else:
        if len(paths) != 2:
            raise ConfigError("give RUN and OUT (or --keras MODEL and OUT)")
        from blendaug.gan.sample import sample_run

        out = sample_run(paths[0], paths[1], n, tier, class_name, seed, resolve_device(device), overwrite)
    typer.echo(f"samples -> {out}")
