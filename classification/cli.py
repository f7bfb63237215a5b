"""``blendaug classify train|eval``: the thin command layer over the classification stage.

torch, torchvision and albumentations are imported inside the commands so ``blendaug --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from blendaug.data.errors import ConfigError, Warnings

app = typer.Typer(add_completion=False, no_args_is_help=True)


def _numbers(value: str | None, cast, flag: str) -> list | None:
    if value is None:
        return None
    try:
        return [cast(v) for v in value.split(",") if v.strip()]
    except ValueError as e:
        raise ConfigError(f"{flag}: expected comma-separated numbers, got {value!r}") from e


def _report(warnings: Warnings) -> None:
    for line in warnings.summary():
        typer.echo(line, err=True)


@app.command("train")
def train(
    data: Path = typer.Argument(..., help="Crop folder: <class>/*.png (data crops output) or an ImageFolder tree; "
                                          "train/ val/ test/ subfolders are used when present."),
    out: Path = typer.Argument(..., help="Output run folder."),
    model: str = typer.Option("resnet18", "--model", help="resnet18, vgg16, vgg16_bn or smallcnn."),
    size: int = typer.Option(64, "--size", help="Input side in pixels (multiple of 16)."),
    epochs: int = typer.Option(30, "--epochs", help="Maximum training epochs."),
    batch: int = typer.Option(64, "--batch", help="Batch size."),
    lr: float = typer.Option(2e-3, "--lr", help="AdamW peak learning rate (cosine decay)."),
    weight_decay: float = typer.Option(0.05, "--weight-decay", help="AdamW weight decay."),
    patience: int = typer.Option(0, "--patience", help="Early stopping: epochs without a better val score (0: off)."),
    balanced: bool = typer.Option(False, "--balanced", help="Class-balanced sampling (WeightedRandomSampler)."),
    seed: int = typer.Option(0, "--seed", help="Training seed (model init, sampling, augmentation, GAN picks)."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the train/val/test split and --train-per-class."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    classes: str = typer.Option(None, "--classes", help="Restrict to these classes, comma-separated, e.g. car,truck."),
    val: float = typer.Option(0.15, "--val", help="Val fraction of the seeded split."),
    test: float = typer.Option(0.15, "--test", help="Test fraction of the seeded split."),
    train_per_class: int = typer.Option(None, "--train-per-class", help="Keep N train images per class (val/test "
                                                                         "untouched)."),
    split_file: Path = typer.Option(None, "--split-file", help="Reuse a split.csv from an earlier run."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip unreadable images with a counted warning."),
    weights: Path = typer.Option(None, "--weights", help="Initial weights (a state_dict file; never downloaded)."),
    classical_factor: int = typer.Option(0, "--classical-factor", help="Add K albumentations copies of each real "
                                                                       "train image (offline)."),
    classical_policy: str = typer.Option("ground", "--classical-policy", help="ground (no vertical flip) or aerial."),
    synthetic: Path = typer.Option(None, "--synthetic", help="GAN crops folder (gan sample output)."),
    tier: str = typer.Option("high", "--tier", help="GAN crop tier(s): low, mid, high, comma-separated, or all."),
    synthetic_ratio: str = typer.Option(None, "--synthetic-ratio", help="GAN:real ratio per class; a list sweeps, "
                                                                       "e.g. 0,0.5,1,2."),
    synthetic_count: str = typer.Option(None, "--synthetic-count", help="GAN crops per class; a list sweeps, "
                                                                       "e.g. 0,250,500,1000."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Train a crop classifier from scratch on real (+ classical / GAN) crops; score it on the untouched test split."""
    from blendaug.classification.data import parse_classes
    from blendaug.classification.run import TrainArgs, train_run

    args = TrainArgs(
        data=data, out=out, model=model, size=size, epochs=epochs, batch=batch, lr=lr, weight_decay=weight_decay,
        patience=patience, balanced=balanced, seed=seed, split_seed=split_seed, device=device,
        classes=parse_classes(classes), val=val, test=test, train_per_class=train_per_class, split_file=split_file,
        skip_bad=skip_bad, weights=weights, classical_factor=classical_factor, classical_policy=classical_policy,
        synthetic=synthetic, tier=tier, synthetic_ratio=_numbers(synthetic_ratio, float, "--synthetic-ratio"),
        synthetic_count=_numbers(synthetic_count, int, "--synthetic-count"), overwrite=overwrite,
    )
    warnings = Warnings()
    path = train_run(args, log=typer.echo, warnings=warnings)
    _report(warnings)
    typer.echo(f"classify train -> {path}")


@app.command("eval")
def eval_(
    run: Path = typer.Argument(..., help="A run folder written by classify train (run.json + best.pt)."),
    data: Path = typer.Argument(..., help="Crop folder to score (the one the run was trained on, or another)."),
    split: str = typer.Option("test", "--split", help="train, val, test (from DATA/<split>/ or RUN/split.csv) or all."),
    out: Path = typer.Option(None, "--out", help="Output folder (default RUN/eval_<split>)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip unreadable images with a counted warning."),
) -> None:
    """Score a trained classifier on a split: metrics.json and the confusion matrix (CSV + PNG)."""
    from blendaug.classification.evaluate import eval_run

    if split not in ("train", "val", "test", "unused", "all"):
        raise ConfigError(f"--split {split!r}: use train, val, test, unused or all")
    warnings = Warnings()
    path, m = eval_run(run, data, split, out, device, skip_bad, warnings)
    _report(warnings)
    typer.echo(f"{split}: n {m['n']}  accuracy {m['accuracy']:.4f}  balanced {m['balanced_accuracy']:.4f}  "
               f"macro P {m['macro_precision']:.4f} R {m['macro_recall']:.4f} F1 {m['macro_f1']:.4f}")
    for name, pc in m["per_class"].items():
        typer.echo(f"  {name:>12}: P {pc['precision']:.3f} R {pc['recall']:.3f} F1 {pc['f1']:.3f} n {pc['support']}")
    typer.echo(f"classify eval -> {path}")
