"""``blendaug composite`` and ``blendaug view``: the thin command layer over the compositing stage.

Heavy imports (OpenCV, numpy-heavy modules) happen inside the commands so ``blendaug --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from blendaug.data.errors import ConfigError, Warnings


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def composite(
    backgrounds: Path = typer.Argument(..., help="Background YOLO dataset (folder or data.yaml)."),
    crops: Path = typer.Argument(..., help="Crops folder with index.csv ('data crops' or 'gan sample' output)."),
    out: Path = typer.Argument(..., help="Output YOLO dataset folder."),
    per_image: str = typer.Option("1-4", "--per-image", help="Objects pasted per composite, a range 'lo-hi'."),
    blend: str = typer.Option("gaussian", "--blend",
                              help="none, gaussian, box, poisson, poisson-mixed, motion or all (one mode drawn "
                                   "per object), plus modifiers color and/or noise: 'gaussian+color+noise'."),
    ratio: float = typer.Option(None, "--ratio",
                                help="Synthetic images per real image of the split, e.g. 0.25, 1, 4 (a seeded "
                                     "subset gets the fractional part). Default 1."),
    mode: str = typer.Option("add", "--mode", help="add: composites beside the real images; replace: each chosen "
                                                   "real image replaced by its composite (same split size)."),
    copies: int = typer.Option(None, "--copies", help="Composites of every image: the same as a whole --ratio."),
    placement: str = typer.Option("context", "--placement",
                                  help="Where objects go: context (beside real objects, as they stand in the "
                                       "dataset) or uniform (anywhere free)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; same seed and inputs give the same bytes."),
    workers: int = typer.Option(1, "--workers", help="Worker processes (the output does not depend on it)."),
    split: str = typer.Option("train", "--split", help="Split to composite (never test); others pass through."),
    tiers: str = typer.Option(None, "--tiers", help="Crop tiers to use, comma-separated (high,mid,low or real)."),
    rotate: str = typer.Option("90", "--rotate", help="Orientation: 90 (quarter turns), any, or none."),
    mask: str = typer.Option("rect", "--mask", help="Object mask: rect, ellipse (soft), grabcut or alpha."),
    max_overlap: float = typer.Option(0.1, "--max-overlap", help="Max intersection over the smaller box's area."),
    min_visible: float = typer.Option(0.5, "--min-visible", help="Drop a box when less of it stays visible."),
    truncate: float = typer.Option(0.0, "--truncate", help="Max fraction of a pasted box outside the image."),
    size_jitter: float = typer.Option(0.05, "--size-jitter", help="Log-normal jitter on sampled box sizes."),
    names: str = typer.Option(None, "--names", help="Background class names, comma-separated (default: dataset's)."),
    originals: bool = typer.Option(True, "--originals/--no-originals",
                                   help="Keep the original images of the split next to the composites."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip unreadable crops/images with a counted warning."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Blend crops into the train images of a YOLO dataset at realistic sizes and write a new YOLO dataset.

    OUT holds the split's real images plus RATIO composites per real image (or, with --mode replace, the
    split with RATIO of its images replaced by their composites), the other splits (val, test) unchanged
    as links, data.yaml, meta.jsonl (one line per paste) and composite.json (settings, counts).
    """
    from blendaug.compositing.compose import CompositeConfig
    from blendaug.compositing.placement import parse_range
    from blendaug.compositing.run import run_composite

    try:
        cfg = CompositeConfig(per_image=parse_range(per_image), blend=blend, mask=mask, rotate=rotate,
                              placement=placement, max_overlap=max_overlap, min_visible=min_visible,
                              truncate=truncate, size_jitter=size_jitter)
        cfg.check()
    except ValueError as e:
        raise ConfigError(f"{e}") from None
    warnings = Warnings()
    summary = run_composite(backgrounds, crops, out, cfg, seed=seed, copies=copies, workers=workers, split=split,
                            tiers=_csv(tiers), names=_csv(names), keep_originals=originals, overwrite=overwrite,
                            skip_bad=skip_bad, warnings=warnings, progress=progress, ratio=ratio, mode=mode)
    for line in warnings.summary():
        typer.echo(line, err=True)
    replaced = f" ({summary['replaced']} real images replaced)" if mode == "replace" else ""
    typer.echo(f"composite: {summary['composites']} composites of {summary['background_images']} {split} images"
               f"{replaced}, {summary['split_images']} {split} images in all, {summary['pastes']} pastes, "
               f"{summary['dropped_boxes']} hidden boxes dropped -> {Path(out) / 'data.yaml'}")


def view(
    dataset: Path = typer.Argument(..., help="YOLO dataset (folder or data.yaml)."),
    out: Path = typer.Argument(..., help="Output image (.png or .jpg)."),
    n: int = typer.Option(16, "--n", help="Number of images on the sheet."),
    split: str = typer.Option("train", "--split", help="Split to show, or 'all'."),
    seed: int = typer.Option(0, "--seed", help="Seed for choosing the images."),
    names: str = typer.Option(None, "--names", help="Class names, comma-separated (default: the dataset's)."),
    tile: int = typer.Option(320, "--tile", help="Tile side in pixels."),
) -> None:
    """Draw a contact sheet of N images with their boxes and class names."""
    from blendaug.compositing.view import write_contact_sheet

    path, shown = write_contact_sheet(dataset, out, n=n, split=None if split == "all" else split, seed=seed,
                                      names=_csv(names), tile_px=tile)
    typer.echo(f"view: {shown} images -> {path}")
