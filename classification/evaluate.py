"""Scoring a trained classifier, and ``blendaug classify eval RUN DATA --split test``.

``eval`` rebuilds the model from ``RUN/run.json``, loads ``RUN/best.pt`` (``weights_only=True``) and scores
the chosen split of DATA, found the same way training found it:
- ``DATA/<split>/`` when DATA has split subfolders;
- ``--split all``: every image of the run's classes in DATA (e.g. another dataset with the same classes);
- otherwise the rows of ``RUN/split.csv`` with that split (files relative to DATA), so the test images
  are exactly those that training held out.
"""

from __future__ import annotations

import csv
import io
import json
import platform
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from blendaug.classification.data import SPLITS, load_images, scan_image_folder
from blendaug.classification.metrics import classification_metrics, confusion_matrix
from blendaug.classification.models import build_model
from blendaug.classification.report import write_confusion, write_json
from blendaug.classification.train import Normalizer, predict, resolve_device, to_tensor_u8
from blendaug.data.atomic import atomic_dir
from blendaug.data.errors import DataError, Warnings


def versions() -> dict[str, str]:
    """Versions of the libraries that decide a run's numbers."""
    out = {"python": platform.python_version()}
    for pkg in ("blendaug", "torch", "torchvision", "albumentations", "numpy", "opencv-python-headless"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def score(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, norm: Normalizer,
          classes: list[str]) -> tuple[np.ndarray, dict]:
    """Predict (N, S, S, 3) uint8 images; return the confusion matrix and :func:`classification_metrics`."""
    logits = predict(model, to_tensor_u8(images), norm)  # N x C
    preds = logits.argmax(1).numpy() if len(labels) else np.zeros(0, dtype=np.int64)
    cm = confusion_matrix(labels, preds, len(classes))
    return cm, classification_metrics(cm, classes)


def _split_rows(run: Path, data: Path, split: str, classes: list[str], warnings: Warnings) -> tuple[list, list]:
    if split == "all":
        found = scan_image_folder(data, warnings)
        files = [(p.relative_to(data).as_posix(), i) for i, c in enumerate(classes) for p in found.get(c, [])]
        if not files:
            raise DataError(f"{data}: no images of the run's classes ({', '.join(classes)})")
        return [f for f, _ in files], [y for _, y in files]
    if split in SPLITS and (data / split).is_dir():
        found = scan_image_folder(data / split, warnings)
        files = [(p.relative_to(data).as_posix(), i) for i, c in enumerate(classes) for p in found.get(c, [])]
        return [f for f, _ in files], [y for _, y in files]
    split_csv = run / "split.csv"
    if not split_csv.is_file():
        raise DataError(f"{run}: no split.csv, and {data} has no {split}/ folder (use --split all)")
    files, labels = [], []
    for r in csv.DictReader(io.StringIO(split_csv.read_text(encoding="utf-8"))):
        if r["split"] == split and r["class"] in classes:
            if not (data / r["file"]).is_file():
                raise DataError(f"{data / r['file']}: listed in {split_csv} (split {split}) but not found; "
                                "is DATA the folder the run was trained on?")
            files.append(r["file"])
            labels.append(classes.index(r["class"]))
    if not files:
        raise DataError(f"{split_csv}: no images in split {split!r}")
    return files, labels


def load_run(run: Path, device: torch.device) -> tuple[dict, torch.nn.Module, Normalizer]:
    """``(run.json content, model with the best weights, normalizer)`` of a finished training run."""
    meta_path, weights = run / "run.json", run / "best.pt"
    if not meta_path.is_file() or not weights.is_file():
        subs = sorted(p.name for p in run.glob("*/best.pt")) if run.is_dir() else []
        hint = f" (a sweep: pass one of its runs, e.g. {run / Path(subs[0]).parent})" if subs else ""
        raise DataError(f"{run}: not a classifier run folder (needs run.json and best.pt){hint}")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    m = meta["model"]
    model = build_model(m["name"], len(meta["classes"]), m["size"])
    try:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except Exception as e:  # a truncated or foreign file: name it
        raise DataError(f"{weights}: cannot load the run's weights ({type(e).__name__}: {e})") from e
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    norm = Normalizer(meta["normalization"]["mean"], meta["normalization"]["std"], device)
    return meta, model, norm


def eval_run(run: Path, data: Path, split: str = "test", out: Path | None = None, device: str = "auto",
             skip_bad: bool = False, warnings: Warnings | None = None) -> tuple[Path, dict]:
    """Score a trained run on a split of DATA and write ``metrics.json`` + confusion matrix CSV/PNG.

    Returns:
        ``(output folder, metrics of the split)``; the folder defaults to ``RUN/eval_<split>``.
    """
    warnings = warnings if warnings is not None else Warnings()
    run, data = Path(run), Path(data)
    if not data.is_dir():
        raise DataError(f"{data}: data folder not found")
    dev = resolve_device(device)
    meta, model, norm = load_run(run, dev)
    classes = meta["classes"]
    files, labels = _split_rows(run, data, split, classes, warnings)
    images, y, _ = load_images(data, files, labels, meta["model"]["size"], skip_bad, warnings)
    cm, metrics = score(model, images, y, norm, classes)
    out = Path(out) if out is not None else run / f"eval_{split}"
    with atomic_dir(out, overwrite=True) as tmp:
        write_json(tmp / "metrics.json", {"run": str(run.resolve()), "data": str(data.resolve()), "split": split,
                                          "device": str(dev), "warnings": warnings.summary(), split: metrics})
        write_confusion(tmp, cm, classes, f"{meta['model']['name']} on {split} (n={metrics['n']})")
    return out, metrics
