"""``blendaug gan train|score|sample|list``: the generator stage's commands.

Heavy imports (torch) happen inside the commands, so ``blendaug --help`` stays fast. ``train`` builds
a :class:`blendaug.gan.config.GanConfig` from its flags, so the CLI and the study share one config.
"""

from __future__ import annotations

from pathlib import Path

import typer

from blendaug.data.errors import ConfigError, did_you_mean
from blendaug.gan.cli_score import resolve_device, score

app = typer.Typer(add_completion=False, no_args_is_help=True)
app.command("score", help="Score every snapshot against held-out real crops and assign quality tiers.")(score)


def parse_snapshot_list(text: str) -> list[int | float]:
    """``"100,500"`` (steps or epochs) or ``"0.1,0.5,1.0"`` (fractions of the budget) -> numbers."""
    out: list[int | float] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        try:
            out.append(float(token) if "." in token else int(token))
        except ValueError as e:
            raise ConfigError(f"--snapshots: {token!r} is not a number (steps, epochs or a fraction like 0.5)") from e
    return out


def build_config(**values):
    """A GanConfig from CLI values; a bad value is a ConfigError naming its flag."""
    from pydantic import ValidationError

    from blendaug.gan.config import GanConfig

    try:
        return GanConfig(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as e:
        first = e.errors()[0]
        flag = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "config"
        flag = "--arch" if flag == "--archs" else flag
        raise ConfigError(f"{flag}: {first['msg'].removeprefix('Value error, ')}") from None


@app.command("train")
def train(
    crops: Path = typer.Argument(..., help="Crops folder (output of `blendaug data crops`)."),
    out: Path = typer.Argument(..., help="Run folder; a rerun resumes it, a finished run is left as is."),
    arch: str | None = typer.Option(None, "--arch", help="A generator name (`blendaug gan list`) [dcgan, or the "
                                    "--family's first generator]."),
    family_name: str | None = typer.Option(None, "--family", help="A generator family (gan, fastgan, vae, ddpm, "
                                           "cyclegan, replay); --arch then picks one of its generators."),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Budget in optimiser steps [2000]."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Budget in epochs instead (converted)."),
    snapshots: str = typer.Option("", "--snapshots", help="Steps (or epochs) 100,500 or fractions 0.1,0.5,1.0."),
    batch: int = typer.Option(64, "--batch", min=1, help="Batch size (capped at the crops of a generator)."),
    seed: int = typer.Option(0, "--seed", help="Seed of init, noise, batches, DiffAugment and the hold-out."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    diffaugment: str = typer.Option("", "--diffaugment", help="DiffAugment policies, e.g. color,translation,cutout."),
    size: int | None = typer.Option(None, "--size", help="Image side: 32, 64 or 128 [the crops' side]."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate [the generator's default]."),
    label_smoothing: float = typer.Option(0.0, "--label-smoothing", help="One-sided: real target 1-x ((c)DCGAN)."),
    width: int = typer.Option(64, "--width", min=1, help="Base channel count of the networks."),
    split: str = typer.Option("train", "--split", help="Crops of this split of index.csv, or 'all'."),
    holdout: float = typer.Option(0.2, "--holdout", help="Fraction held out for `gan score` (0: use --heldout)."),
    holdout_group: str | None = typer.Option(None, "--holdout-group", help="Regex on source_image keeping a "
                                             "group's crops together, e.g. '^(scene\\d+)_' [by source image]."),
    orient: bool = typer.Option(False, "--orient", help="Train on tall crops turned a quarter turn; turn samples "
                                "back at the data's rate (top-down crops)."),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", min=1, help="Steps between checkpoints."),
    amp: bool = typer.Option(True, "--amp/--no-amp", help="Mixed precision (CUDA only)."),
    channels_last: bool = typer.Option(False, "--channels-last", help="NHWC memory format (faster on CUDA)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads for torch (0: torch's default)."),
    option: list[str] = typer.Option([], "--option", help="A setting of the generator's family (gan.options.<family>"
                                     "), KEY=VALUE, repeatable: e.g. --option nz=64 --option sigma=0.05."),
) -> None:
    """Train a generator on the crops (GANs: one per class, or one for all classes for conditional archs)."""
    from blendaug.gan.api import train_generator

    if threads:
        import torch

        torch.set_num_threads(threads)

    from blendaug.gan.families import FAMILIES, family_of

    if family_name is not None:
        if family_name not in FAMILIES:

            raise ConfigError(f"--family: unknown family {family_name!r} ({did_you_mean(family_name, FAMILIES)})")
        arch = arch or next(iter(FAMILIES[family_name].generators))
    arch = arch or "dcgan"
    family = family_of(arch, "--arch")
    if family_name is not None and family != family_name:
        raise ConfigError(f"--arch {arch}: a generator of the {family} family, not of --family {family_name} "
                          f"({', '.join(FAMILIES[family_name].generators)})")
    opts = {"label_smoothing": label_smoothing, "channels_last": channels_last} if family == "gan" else {}
    opts.update(parse_options(option, family))
    cfg = build_config(archs=[arch], steps=steps, epochs=epochs, snapshots=parse_snapshot_list(snapshots) or None,
                       batch=batch, diffaugment=diffaugment, image_size=size, lr=lr, width=width, holdout=holdout,
                       holdout_group=holdout_group, orient=orient, checkpoint_every=checkpoint_every, amp=amp,
                       options={family: opts} if opts else None)  # fmt: skip
    info = train_generator(arch, crops, out, cfg, seed, resolve_device(device), split, progress,
                           log=lambda m: typer.echo(m, err=True))  # fmt: skip
    stated = ", ".join(f"{k} {v}" for k, v in info["budget"].items() if k != "snapshots")
    typer.echo(f"{info['generator']}: {len(info['classes'])} class(es), {info['steps']} steps ({stated}), "
               f"snapshots {info['snapshots']} -> {out}")  # fmt: skip


def parse_options(pairs: list[str], family: str) -> dict:
    """``["nz=64", "ema=0"]`` -> ``{"nz": 64, "ema": 0}`` (values read as YAML scalars); checked by the family."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option: {pair!r} is not KEY=VALUE (a gan.options.{family} setting)")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"--option {key}: cannot read {value!r} ({e})") from None
    from pydantic import ValidationError

    from blendaug.gan.families import FAMILIES

    model = FAMILIES[family].options_model
    for key in out:
        if key not in model.model_fields:
            raise ConfigError(f"--option {key}: not a setting of gan.options.{family} "
                              f"({did_you_mean(key, model.model_fields)})")
    try:
        model.model_validate(out)
    except ValidationError as e:
        first = e.errors()[0]
        raise ConfigError(f"--option {first['loc'][0]}: {first['msg']}") from None
    return out


@app.command("list")
def list_generators() -> None:
    """The generator registry: every name `gan train --arch` and `gan.archs` accept, by family."""
    from blendaug.gan.families import FAMILIES

    for fname, family in FAMILIES.items():
        for name, description in family.generators.items():
            typer.echo(f"{name:10s} {fname:8s} {description}")


@app.command("sample")
def sample(
    paths: list[Path] = typer.Argument(..., help="RUN OUT, or only OUT with --keras."),
    n: int = typer.Option(100, "--n", min=1, help="Crops per class."),
    tier: str = typer.Option("high", "--tier", help="high, mid, low or mixed (from RUN/quality.csv)."),
    class_name: str | None = typer.Option(None, "--class", help="Only this class (required with --keras)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    allow_unusable: bool = typer.Option(False, "--allow-unusable", help="Draw a class without a usable snapshot "
                                        "of the tier from its best one (rows say 'unusable')."),
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

        out = sample_run(paths[0], paths[1], n, tier, class_name, seed, resolve_device(device), overwrite,
                         allow_unusable)  # fmt: skip
    typer.echo(f"samples -> {out}")


@app.command("compare")
def compare(
    runs: list[Path] = typer.Argument(..., help="Scored run folders (`gan score` wrote their quality.csv)."),
    plot: Path = typer.Option(Path("gan_compare.png"), "--plot", help="Where to write the PNG plot."),
    csv: Path | None = typer.Option(None, "--csv", help="Also write the table as CSV here."),
    per_class: bool = typer.Option(False, "--per-class", help="A row per class too, not only the `all` rows."),
    mixed_heldout: bool = typer.Option(False, "--mixed-heldout", help="Allow runs scored on different held-out "
                                       "crops (their numbers do not compare)."),
) -> None:
    """One table across runs, families and snapshots: quality, TSTR, precision/recall/coverage, copying, time."""
    from blendaug.data.atomic import atomic_write_text
    from blendaug.gan.compare import compare_table, format_table, plot_table

    table = compare_table(runs, per_class, mixed_heldout)
    typer.echo(format_table(table))
    if csv is not None:
        atomic_write_text(csv, table.to_csv(index=False, float_format="%.6g"))
        typer.echo(f"table -> {csv}")
    typer.echo(f"plot -> {plot_table(table, plot)}")
