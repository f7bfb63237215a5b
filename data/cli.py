"""``blendaug data ...`` and ``blendaug label``: the thin command layer over the data stage."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import typer

from blendaug.data.errors import ConfigError, DataError, Warnings

app = typer.Typer(add_completion=False, no_args_is_help=True)

FORMAT_HELP = "Input format: auto, yolo, labelme, coco, voc or labelstudio."
# Options several commands share (typer reads them as metadata, so one object serves every command).
FORMAT_OPTION = typer.Option("auto", "--format", help=FORMAT_HELP)
NAMES_OPTION = typer.Option(None, "--names", help="Class names in id order, comma-separated (default: from SRC).")
SKIP_BAD_OPTION = typer.Option(False, "--skip-bad", help="Skip bad label lines and images with a counted warning.")
OVERWRITE_OPTION = typer.Option(False, "--overwrite", help="Replace OUT if it exists.")
IMAGES_OPTION = typer.Option(None, "--images", help="Image root for coco, voc and labelstudio (default: beside "
                             "the annotations; see README, Data).")
DIFFICULT_OPTION = typer.Option(False, "--keep-difficult", help="voc: train on objects marked difficult too.")


def _names(value: str | None) -> list[str] | None:
    return [n.strip() for n in value.split(",") if n.strip()] if value else None


def _report(warnings: Warnings) -> None:
    for line in warnings.summary():
        typer.echo(line, err=True)


def _read(src: Path, fmt: str, names: str | None, skip_bad: bool, warnings: Warnings, **options):
    from blendaug.data.io import read_dataset

    try:
        return read_dataset(src, fmt=fmt, names=_names(names), skip_bad=skip_bad, warnings=warnings, **options)
    except DataError as e:
        # One bad file is rarely alone: the check lists every problem in one pass.
        raise DataError(f"{e} (run `blendaug data check {src}` to list every problem)") from None


def _summary(ds) -> str:
    per_split = ", ".join(f"{s} {len(ds.split(s))}" for s in ds.splits_present())
    boxes = sum(im.n_boxes for im in ds.images)
    return f"{len(ds.images)} images ({per_split}), {boxes} boxes, {len(ds.names)} classes: {', '.join(ds.names)}"


@app.command("import")
def import_(
    src: Path = typer.Argument(..., help="Dataset to import: YOLO folder or data.yaml, labelme folder, COCO JSON or "
                               "folder, VOC XML folder, Label Studio JSON export."),
    out: Path = typer.Argument(..., help="Output YOLO dataset folder."),
    fmt: str = FORMAT_OPTION,
    names: str = NAMES_OPTION,
    images: Path = IMAGES_OPTION,
    keep_difficult: bool = DIFFICULT_OPTION,
    skip_bad: bool = SKIP_BAD_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
) -> None:
    """Import labeled images into a YOLO dataset folder with data.yaml."""
    from blendaug.data.yolo import write_yolo

    warnings = Warnings()
    ds = _read(src, fmt, names, skip_bad, warnings, images_dir=images, keep_difficult=keep_difficult)
    path = write_yolo(ds, out, overwrite=overwrite)
    _report(warnings)
    typer.echo(f"imported {_summary(ds)} -> {path}")


@app.command("export")
def export(
    dataset: Path = typer.Argument(..., help="Dataset to export (any readable format)."),
    out: Path = typer.Argument(..., help="Output folder."),
    fmt: str = typer.Option("yolo", "--format", help="Output format: yolo or coco."),
    in_fmt: str = typer.Option("auto", "--from", help=FORMAT_HELP),
    names: str = NAMES_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
) -> None:
    """Export a dataset as a YOLO folder (data.yaml) or COCO JSON."""
    from blendaug.data.io import WRITERS

    if fmt not in WRITERS:
        raise ConfigError(f"--format: unknown output format {fmt!r} (choose from {', '.join(WRITERS)})")
    warnings = Warnings()
    ds = _read(dataset, in_fmt, names, False, warnings)
    path = WRITERS[fmt](ds, out, overwrite=overwrite)
    _report(warnings)
    typer.echo(f"exported {_summary(ds)} -> {path}")


@app.command("split")
def split(
    src: Path = typer.Argument(..., help="Dataset to split (all its images are pooled)."),
    out: Path = typer.Argument(..., help="Output YOLO dataset folder with train/val/test."),
    val: float = typer.Option(0.15, "--val", help="Fraction of images for val."),
    test: float = typer.Option(0.15, "--test", help="Fraction of images for test."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    group: str = typer.Option(None, "--group", help="Regex; file names with the same first group stay together."),
    train_size: int = typer.Option(None, "--train-size", help="Subsample train to N images (val/test untouched)."),
    train_per_class: int = typer.Option(None, "--train-per-class", help="Subsample train to about N images per class."),
    fmt: str = FORMAT_OPTION,
    names: str = NAMES_OPTION,
    skip_bad: bool = SKIP_BAD_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
) -> None:
    """Split a dataset into train/val/test, seeded, keeping groups (video clips) together."""
    from blendaug.data.split import split_dataset
    from blendaug.data.yolo import write_yolo

    warnings = Warnings()
    ds = _read(src, fmt, names, skip_bad, warnings)
    ds = split_dataset(ds, val=val, test=test, seed=seed, group=group, train_size=train_size,
                       train_per_class=train_per_class, warnings=warnings)
    path = write_yolo(ds, out, overwrite=overwrite)
    _report(warnings)
    typer.echo(f"split {_summary(ds)} -> {path}")


@app.command("crops")
def crops(
    dataset: Path = typer.Argument(..., help="Labeled dataset."),
    out: Path = typer.Argument(..., help="Output crops folder (<class>/*.png + index.csv)."),
    split: str = typer.Option("train", "--split", help="Split(s) to crop from, comma-separated."),
    size: int = typer.Option(64, "--size", help="Crop side in pixels."),
    pad: float = typer.Option(0.1, "--pad", help="Context padding, as a fraction of the box size per side."),
    min_px: int = typer.Option(8, "--min-px", help="Skip boxes whose shorter side is below this many pixels."),
    fit: str = typer.Option("letterbox", "--fit", help="letterbox (keep aspect, pad) or square (square context)."),
    allow_test: bool = typer.Option(False, "--allow-test", help="Allow cropping the test split (leaks test data)."),
    fmt: str = FORMAT_OPTION,
    names: str = NAMES_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
) -> None:
    """Extract object crops, one folder per class, from the train split only."""
    from blendaug.data.crops import extract_crops

    warnings = Warnings()
    ds = _read(dataset, fmt, names, False, warnings)
    path = extract_crops(ds, out, split=split, size=size, pad=pad, min_px=min_px, allow_test=allow_test, fit=fit,
                         overwrite=overwrite, warnings=warnings)
    _report(warnings)
    typer.echo(f"crops -> {path}")


@app.command("tile")
def tile(
    dataset: Path = typer.Argument(..., help="Labeled dataset with large frames (any readable format)."),
    out: Path = typer.Argument(..., help="Output YOLO dataset folder of tiles (splits kept)."),
    size: int = typer.Option(512, "--size", help="Tile side in pixels, at the frames' own resolution."),
    overlap: float = typer.Option(0.1, "--overlap", help="Least share of a tile's side shared with its neighbour."),
    min_visible: float = typer.Option(0.5, "--min-visible", help="Keep a box when this share of its area is in "
                                      "the tile."),
    fmt: str = FORMAT_OPTION,
    names: str = NAMES_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
) -> None:
    """Cut every frame into overlapping tiles with its boxes clipped (split first: tiles inherit the split)."""
    from pydantic import ValidationError

    from blendaug.data.tiles import TileConfig, write_tiled

    try:
        cfg = TileConfig(size=size, overlap=overlap, min_visible=min_visible)
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
    warnings = Warnings()
    ds = _read(dataset, fmt, names, False, warnings)
    path = write_tiled(ds, out, cfg, overwrite=overwrite)
    _report(warnings)
    typer.echo(f"tiled {len(ds.images)} images -> {path}")


@app.command("toyworld")
def toyworld(
    out: Path = typer.Argument(..., help="Output YOLO dataset folder."),
    images: int = typer.Option(200, "--images", help="Number of images."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    size: int = typer.Option(640, "--size", help="Image side in pixels."),
    overwrite: bool = OVERWRITE_OPTION,
) -> None:
    """Generate toyworld: procedural top-down aerial scenes with cars, vans and trucks (offline, free)."""
    from blendaug.data.toyworld import ToyworldConfig, generate_toyworld

    if images < 1 or size < 64:
        raise ConfigError("--images must be >= 1 and --size >= 64")
    path = generate_toyworld(out, ToyworldConfig(n_images=images, seed=seed, size=size), overwrite=overwrite)
    typer.echo(f"toyworld: {images} images -> {path}")


@app.command("stats")
def stats(
    dataset: Path = typer.Argument(..., help="Dataset to describe."),
    fmt: str = FORMAT_OPTION,
    names: str = NAMES_OPTION,
    images: Path = IMAGES_OPTION,
) -> None:
    """Images and boxes per class and split, and box width/height percentiles."""
    from blendaug.data.stats import dataset_stats, format_stats

    warnings = Warnings()
    ds = _read(dataset, fmt, names, False, warnings, images_dir=images)
    _report(warnings)
    typer.echo(format_stats(dataset_stats(ds)))


@app.command("check")
def check(
    dataset: Path = typer.Argument(..., help="Dataset to check (any readable format)."),
    fmt: str = FORMAT_OPTION,
    names: str = NAMES_OPTION,
    images: Path = IMAGES_OPTION,
    examples: int = typer.Option(3, "--examples", help="Examples listed per kind of problem."),
    hash_bits: int = typer.Option(4, "--hash-bits", help="Near-duplicates: perceptual hashes at most this many "
                                  "bits apart (of 64)."),
) -> None:
    """Read every image and label and list every problem by kind; exit 1 if any is fatal."""
    from blendaug.data.check import check_dataset

    if examples < 0 or not 0 <= hash_bits <= 64:
        raise ConfigError("--examples must be >= 0 and --hash-bits in 0..64")
    report = check_dataset(dataset, fmt=fmt, names=_names(names), max_examples=examples, max_bits=hash_bits,
                           images_dir=images)
    typer.echo(report.format())
    if report.fatal:
        raise typer.Exit(1)


def labelme_command(images: Path, classes: list[str], help_text: str) -> list[str]:
    """The labelme command line for ``images``, using the flags this labelme version knows.

    labelme 5 needs ``--nodata --autosave``; labelme 6 dropped both flags because not embedding the
    image and saving automatically became its defaults, so they are passed only when offered.
    """
    cmd = ["labelme", str(images), "--labels", ",".join(classes)]
    offered = set(re.findall(r"--[a-z][a-z-]*", help_text))
    cmd += [flag for flag in ("--nodata", "--autosave") if flag in offered]
    if offered & {"--validatelabel", "--validate-label"}:
        cmd += ["--validatelabel", "exact"]
    return cmd


def label(
    images: Path = typer.Argument(..., help="Folder of images to label."),
    classes: str = typer.Option(..., "--classes", help="Class names, comma-separated, e.g. car,van,truck."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the labelme command instead of running it."),
) -> None:
    """Launch labelme on IMAGES with the class list, then print the import command to run."""
    from blendaug.data.labelme_gui import window_problem

    names = _names(classes)
    if not names:
        raise ConfigError("--classes: give at least one class name")
    if not images.is_dir():
        raise ConfigError(f"{images}: not a folder of images")
    exe = shutil.which("labelme")
    if exe is None:
        raise ConfigError("labelme is not installed (pip install labelme)")
    help_text = subprocess.run([exe, "--help"], capture_output=True, text=True, env=dict(os.environ)).stdout
    cmd = labelme_command(images, names, help_text)
    typer.echo(" ".join(cmd))
    if not dry_run:
        problem = window_problem()
        if problem is not None:
            raise ConfigError(problem)
        subprocess.run(cmd, check=False)
    typer.echo(f"then: blendaug data import {images} OUT --format labelme --names {shlex.quote(','.join(names))}")
