"""Train a YOLO detector on one dataset: resolve the arguments, keep the test split out, record the run.

Output folder ``OUT`` (it appears complete or not at all; ``run.json`` is written last, as the marker):

- ``weights/best.pt``: the checkpoint with the best val mAP50-95 (ultralytics' fitness), ``weights/last.pt``;
- ``data/``: the ``data.yaml`` ultralytics trained on, with ``train.txt``/``val.txt`` image lists and no
  test split at all, so the test images can neither train nor choose the checkpoint;
- ultralytics' own files (``results.csv``, ``args.yaml``, plots);
- ``run.json``: library versions, seed, device, wall time, resolved arguments, val metrics of ``best.pt``.
"""

from __future__ import annotations

import difflib
import json
import os
import time
from pathlib import Path
from typing import Any

import yaml

from blendaug.data.atomic import atomic_dir, atomic_write_text
from blendaug.data.errors import BlendaugError, ConfigError, DataError
from blendaug.data.model import Dataset
from blendaug.data.yolo import label_path_for, read_yolo

# Named hyper-parameter presets; key=value arguments override them. "epochs" is used when --epochs is not given;
# the value BATCH stands for the --batch value.
BATCH = "<batch>"
RECIPES: dict[str, dict[str, Any]] = {
    # From scratch on tens to hundreds of images. Measured: default ultralytics settings stay at mAP 0 after 30
    # epochs on 48 toy images; SGD, no mosaic, no warm-up reached mAP50 0.92 in 60 epochs (about 100 s on 2 CPU
    # cores, 256 px). nbs=batch: ultralytics accumulates gradients over nbs/batch batches (64/8 = 8), which on
    # 24 images leaves one optimizer step per ~3 epochs; measured on 24 rectangle images at 128 px, 40 epochs:
    # test mAP50 0.00 with nbs=64, 0.99 with nbs=8.
    "cpu-small": {"optimizer": "SGD", "lr0": 0.01, "mosaic": 0.0, "warmup_epochs": 0.0, "nbs": BATCH, "epochs": 60},
    # ultralytics' own defaults (100 epochs, optimizer auto, mosaic on): for large datasets.
    "ultralytics": {"epochs": 100},
}
DEFAULT_RECIPE = "cpu-small"

# Arguments this wrapper owns: a flag sets them, or they must not change (they would bypass the val-only
# checkpoint choice, or the output layout).
FLAG_KEYS = {"epochs": "--epochs", "imgsz": "--imgsz", "batch": "--batch", "seed": "--seed", "device": "--device",
             "model": "--model", "pretrained": "--weights", "data": "DATA"}
LOCKED_KEYS = {"mode", "task", "project", "name", "exist_ok", "resume", "split", "val", "save", "cfg", "source"}
RUN_JSON = "run.json"


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["lr0=0.02", "mosaic=0"]`` to ``{"lr0": 0.02, "mosaic": 0}``, checked by :func:`check_overrides`.

    Raises:
        ConfigError: a malformed pair, or any problem :func:`check_overrides` finds.
    """
    if not pairs:
        return {}
    from blendaug.detection import yolo

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{pair!r}: expected key=value (e.g. lr0=0.02)")
        out[key] = yolo.parse_value(value.strip())
    return check_overrides(out)


def check_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Check extra ultralytics train arguments (from ``key=value`` or a study config); returns them.

    Raises:
        ConfigError: an unknown key (with the closest valid ones), a key a flag owns or this wrapper fixes,
            or a value of the wrong type.
    """
    if not overrides:
        return {}
    from blendaug.detection import yolo

    defaults = yolo.cfg_defaults()
    for key in overrides:
        if key in FLAG_KEYS:
            raise ConfigError(f"{key}=...: set it with {FLAG_KEYS[key]} instead")
        if key in LOCKED_KEYS:
            raise ConfigError(f"{key}=...: fixed by blendaug detect train (it keeps checkpoint choice on val)")
        if key not in defaults:
            close = difflib.get_close_matches(key, list(defaults), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"{key}=...: not an ultralytics argument{hint}")
    yolo.check_args(overrides)
    return dict(overrides)


def resolve_args(recipe: str, overrides: dict[str, Any], *, epochs: int | None, imgsz: int, batch: int, seed: int,
                 device: str, amp: bool) -> dict[str, Any]:
    """The ultralytics train arguments: recipe < wrapper defaults < key=value overrides < flags.

    Raises:
        ConfigError: unknown recipe.
    """
    if recipe not in RECIPES:
        raise ConfigError(f"--recipe: unknown recipe {recipe!r} (choose from {', '.join(RECIPES)})")
    args = dict(RECIPES[recipe])
    args.update({"deterministic": True, "amp": amp, "workers": 2 if device == "cpu" else 8, "patience": 100})
    args.update(overrides)
    args.update({"imgsz": imgsz, "batch": batch, "seed": seed, "device": device})
    args = {k: batch if v == BATCH else v for k, v in args.items()}
    if epochs is not None:
        args["epochs"] = epochs
    return args


def delete_label_caches(ds: Dataset) -> list[Path]:
    """Delete the ``labels/<split>.cache`` files ultralytics left next to this dataset's labels."""
    caches = {label_path_for(im.path).parent.with_suffix(".cache") for im in ds.images}
    removed = []
    for cache in sorted(caches):
        if cache.is_file():
            cache.unlink(missing_ok=True)
            removed.append(cache)
    return removed


def write_split_yaml(ds: Dataset, folder: Path, splits: dict[str, str]) -> Path:
    """Write ``folder/data.yaml`` whose keys name image lists (``<split>.txt``, absolute image paths).

    Args:
        splits: ``{yaml key: dataset split}``, e.g. ``{"train": "train", "val": "val"}``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cfg: dict[str, Any] = {"path": str(folder.absolute())}
    for key, split in splits.items():
        lines = "".join(f"{im.path.absolute()}\n" for im in ds.split(split))
        (folder / f"{split}.txt").write_text(lines, encoding="utf-8")
        cfg[key] = f"{split}.txt"
    cfg["nc"] = len(ds.names)
    cfg["names"] = dict(enumerate(ds.names))
    path = folder / "data.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def finalize_split_yaml(data_yaml: Path, final_folder: Path) -> None:
    """Point a :func:`write_split_yaml` file's ``path`` at the folder's final place (after the output rename)."""
    cfg = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    cfg["path"] = str(final_folder.absolute())
    data_yaml.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")


def load_train_data(data: Path) -> Dataset:
    """Read and check a dataset for training: it needs non-empty train and val splits.

    Raises:
        DataError: from ``read_yolo`` (missing keys, paths pointing nowhere, bad labels), or no val split.
    """
    ds = read_yolo(data)
    present = ds.splits_present()
    if "val" not in present:
        raise DataError(f"{data}: no 'val' split; the checkpoint is chosen on val and never on test "
                        "(make one with: blendaug data split)")
    val_paths = {im.path.resolve() for im in ds.split("val")}
    overlap = [im.path for im in ds.split("test") if im.path.resolve() in val_paths]
    if overlap:
        raise DataError(f"{data}: the val and test splits share images (e.g. {overlap[0]}); val must not be test")
    return ds


def _finished(out: Path) -> dict | None:
    try:
        return json.loads((out / RUN_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def train_detector(data: Path, out: Path, *, model: str = "yolov8n.yaml", recipe: str = DEFAULT_RECIPE,
                   epochs: int | None = None, imgsz: int = 640, batch: int = 16, seed: int = 0, device: str = "auto",
                   weights: Path | None = None, overrides: dict[str, Any] | None = None,
                   overwrite: bool = False) -> dict:
    """Train a detector on ``data`` into ``out``; see the module docstring for the layout.

    A finished ``out`` (it has ``run.json``) trained with the same request is left as it is and its record
    returned; with a different request it is an error unless ``overwrite``.

    Returns:
        the ``run.json`` record.

    Raises:
        BlendaugError: bad data, arguments, weights, or an ``out`` holding another run.
    """
    from blendaug.detection import yolo

    out = Path(out).absolute()
    data = Path(data).absolute()
    weights = Path(weights).absolute() if weights is not None else None
    request = {"data": str(data), "model": model, "recipe": recipe, "epochs": epochs, "imgsz": imgsz,
               "batch": batch, "seed": seed, "device": device, "weights": str(weights) if weights else None,
               "overrides": dict(overrides or {})}
    request = json.loads(json.dumps(request, default=str))  # compare as run.json stores it
    done = _finished(out)
    if done is not None and not overwrite:
        if done.get("request") == request:
            return done
        raise BlendaugError(f"{out}: holds a finished run with other arguments (pass --overwrite to replace it)")
    overrides = check_overrides(dict(overrides or {}))
    ds = load_train_data(data)
    if weights is not None:
        yolo.load_checkpoint(weights)
    dev, amp = yolo.resolve_device(device)
    args = resolve_args(recipe, overrides, epochs=epochs, imgsz=imgsz, batch=batch, seed=seed,
                        device=dev, amp=amp)
    yolo.check_args(args)
    delete_label_caches(ds)
    started = time.time()
    with atomic_dir(out, overwrite=overwrite) as tmp:
        data_yaml = write_split_yaml(ds, tmp / "data", {"train": "train", "val": "val"})
        result = yolo.train(model, data_yaml, tmp, args, weights)
        if not result.best.is_file():
            raise BlendaugError(f"{out}: training ended without a checkpoint")
        finalize_split_yaml(data_yaml, out / "data")
        record = {
            "status": "done",
            "request": request,
            "weights": "weights/best.pt",
            "last": "weights/last.pt",
            "model": model,
            "recipe": recipe,
            "seed": seed,
            "device": yolo.device_name(dev),
            "amp": amp,
            "args": args,
            "data": str(data),
            "names": ds.names,
            "n_images": {s: len(ds.split(s)) for s in ("train", "val")},
            "epochs_run": result.epochs_run,
            "val_metrics": result.val_metrics,
            "versions": yolo.versions(),
            "cpu_count": os.cpu_count(),
            "torch_threads": yolo.torch_threads() if dev == "cpu" else None,
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "wall_s": round(time.time() - started, 2),
        }
        atomic_write_text(tmp / RUN_JSON, json.dumps(record, indent=2, default=str) + "\n")
    return record
