"""``blendaug detect train|eval|predict``: the thin command layer over the detection stage.

Heavy imports (torch, ultralytics) happen inside the commands so ``blendaug --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True)

DEVICE_HELP = "auto (CUDA + AMP when a GPU is there, else CPU), cpu, cuda or cuda:N."


@app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="data.yaml (or dataset folder) with train and val splits."),
    out: Path = typer.Argument(..., help="Output run folder (weights/best.pt, run.json)."),
    model: str = typer.Option("yolov8n.yaml", "--model", help="ultralytics model yaml, built from scratch."),
    recipe: str = typer.Option("cpu-small", "--recipe", help="Hyper-parameter preset: cpu-small or ultralytics."),
    epochs: int = typer.Option(None, "--epochs", min=1, help="Epochs (default: the recipe's, cpu-small 60)."),
    imgsz: int = typer.Option(640, "--imgsz", min=32, help="Input image size in pixels."),
    batch: int = typer.Option(16, "--batch", min=1, help="Batch size."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    weights: Path = typer.Option(None, "--weights", help="Start from this local checkpoint (.pt) instead of scratch."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it holds another run."),
) -> None:
    """Train YOLO on DATA; extra ultralytics arguments go as key=value (e.g. lr0=0.02 mosaic=0.5).

    The checkpoint is chosen on the val split only; the test split is never given to ultralytics.
    """
    from blendaug.detection.train import parse_overrides, train_detector

    overrides = parse_overrides(list(ctx.args))
    record = train_detector(data, out, model=model, recipe=recipe, epochs=epochs, imgsz=imgsz, batch=batch, seed=seed,
                            device=device, weights=weights, overrides=overrides, overwrite=overwrite)
    val = record.get("val_metrics", {})
    typer.echo(f"trained {record['epochs_run']} epochs in {record['wall_s']:.0f} s on {record['device']}: "
               f"val map50 {val.get('map50', float('nan')):.3f} -> {Path(out) / record['weights']}")


@app.command("eval")
def eval_(
    weights: Path = typer.Argument(..., help="Trained checkpoint, e.g. RUN/weights/best.pt."),
    data: Path = typer.Argument(..., help="data.yaml (or dataset folder) holding the split to evaluate."),
    split: str = typer.Option("test", "--split", help="Split to evaluate: test, val or train."),
    conf: float = typer.Option(0.25, "--conf", min=0.0, max=1.0, help="Confidence threshold for tp/fp/fn, IoU, MAPE."),
    iou: float = typer.Option(0.5, "--iou", min=0.0, max=1.0, help="IoU threshold for a match."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: RUN/eval_<split>)."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    imgsz: int = typer.Option(None, "--imgsz", help="Input size (default: the one it was trained with)."),
    batch: int = typer.Option(16, "--batch", min=1, help="Batch size."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Evaluate a detector: mAP (ultralytics) plus tp/fp/fn, darknet avg IoU, count MAPE -> metrics.json."""
    from blendaug.detection.evaluate import default_eval_out, evaluate_detector

    out = out or default_eval_out(weights, split)
    m = evaluate_detector(weights, data, out, split=split, conf=conf, iou=iou, device=device, imgsz=imgsz,
                          batch=batch, overwrite=overwrite)
    shown = {k: m[k] for k in ("map50", "map50_95", "precision", "recall", "tp", "fp", "fn", "avg_iou_darknet",
                               "mean_matched_iou", "count_mape")}
    typer.echo(f"{split} ({m['n_images']} images): {json.dumps(shown)}")
    typer.echo(f"-> {Path(out) / 'metrics.json'}")


@app.command("predict")
def predict(
    weights: Path = typer.Argument(..., help="Trained checkpoint (.pt)."),
    images: Path = typer.Argument(..., help="An image or a folder of images."),
    out: Path = typer.Argument(..., help="Output folder: labels/*.txt (class cx cy w h conf) and images/ drawn."),
    conf: float = typer.Option(0.25, "--conf", min=0.0, max=1.0, help="Confidence threshold."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    imgsz: int = typer.Option(None, "--imgsz", help="Input size (default: the one it was trained with)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Detect objects in images: YOLO-format predictions with confidences, and the images with boxes drawn."""
    from blendaug.detection.evaluate import predict_images

    n = predict_images(weights, images, out, conf=conf, device=device, imgsz=imgsz, overwrite=overwrite)
    typer.echo(f"predicted {n} images -> {out}")
