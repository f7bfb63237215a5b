"""The one door to ultralytics: offline-safe import, training, validation with captured predictions, prediction.

Nothing else in blendaug imports ultralytics. This module hides its quirks:

- It downloads at run time (fonts for plots, ``*.pt`` weights, ``yolo26n.pt`` for the CUDA AMP check) and
  writes settings into the user's home. Before the import we set ``YOLO_OFFLINE=1``, ``YOLO_AUTOINSTALL=0``
  and a project-local ``YOLO_CONFIG_DIR`` holding copies of matplotlib's DejaVuSans as the Arial fonts it
  wants, and we replace the AMP check (it needs downloaded weights) with "AMP on CUDA".
- On a 2-core machine it cuts torch to ``cpu_count - 1 = 1`` thread, which made CPU epochs 1.75x slower;
  we give it every core (or ``$BLENDAUG_TORCH_THREADS``) while it runs and restore the caller's count after.
- It writes ``labels/*.cache`` files next to the dataset and reuses them when they look current; we write
  none (the caller deletes stale ones), so no cache ever carries over between datasets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from blendaug.data.cores import torch_threads
from blendaug.data.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
_ul: Any = None  # the imported ultralytics module, once set up


def config_dir() -> Path:
    """Where ultralytics keeps settings and fonts: ``$YOLO_CONFIG_DIR``, else ``<repo>/.yolo_config`` in a
    source checkout, else ``~/.cache/blendaug/yolo_config``."""
    if env := os.environ.get("YOLO_CONFIG_DIR"):
        return Path(env).expanduser()
    if (REPO / "pyproject.toml").is_file() and os.access(REPO, os.W_OK):
        return REPO / ".yolo_config"
    return Path.home() / ".cache" / "blendaug" / "yolo_config"


def _install_fonts(folder: Path) -> None:
    import matplotlib

    src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    folder.mkdir(parents=True, exist_ok=True)
    for name in _FONT_NAMES:
        if not (folder / name).is_file():
            shutil.copyfile(src, folder / name)


def ultralytics() -> Any:
    """Import ultralytics offline-safe (once) and return the module."""
    global _ul
    if _ul is not None:
        return _ul
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    cfg = config_dir()
    os.environ["YOLO_CONFIG_DIR"] = str(cfg)
    _install_fonts(cfg / "Ultralytics")
    import torch  # noqa: F401  (initialise torch's thread pool before ultralytics sets OMP_NUM_THREADS=1)

    omp = os.environ.get("OMP_NUM_THREADS")
    import ultralytics as ul
    from PIL import Image
    from ultralytics.utils import patches

    # ultralytics replaces PIL.Image.open for the whole process with a version that, on a file Pillow cannot
    # identify, installs pi-heif (a download); offline it raises ModuleNotFoundError instead, which turned
    # every "not an image" error of blendaug's readers into a traceback once a study had imported ultralytics.
    # blendaug reads no HEIF, so Pillow's own open comes back.
    Image.open = patches._image_open

    # ultralytics sets OMP_NUM_THREADS=1 for child processes; keep the caller's environment as it was.
    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    _ul = ul
    return ul


def cfg_defaults() -> dict[str, Any]:
    """ultralytics' default train/val/predict arguments (``cfg/default.yaml``)."""
    ultralytics()
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return dict(DEFAULT_CFG_DICT)


def check_args(args: dict[str, Any]) -> None:
    """Type-check ultralytics arguments the way ultralytics does.

    Raises:
        ConfigError: naming the key for a value of the wrong type or range.
    """
    ultralytics()
    from ultralytics.cfg import check_cfg

    try:
        check_cfg(dict(args), hard=True)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e).strip().splitlines()[0]) from None


def parse_value(text: str) -> Any:
    """Parse a ``key=value`` value the way the ``yolo`` command line does (numbers, bools, None, lists)."""
    ultralytics()
    from ultralytics.cfg import smart_value

    return smart_value(text)


def _no_cache_file(prefix: str, path: Path, x: dict, version: str) -> None:
    """Stands in for ultralytics' ``save_dataset_cache_file``: same in-memory effect, nothing written."""
    x["version"] = version


@contextlib.contextmanager
def _quirks() -> Iterator[None]:
    """Patch ultralytics for one call: every core for torch, no AMP download, no label cache files."""
    import torch

    ultralytics()
    from ultralytics.data import dataset as ul_dataset
    from ultralytics.engine import trainer as ul_trainer
    from ultralytics.utils import torch_utils

    saved = (torch.get_num_threads(), torch_utils.NUM_THREADS, ul_trainer.check_amp, ul_dataset.save_dataset_cache_file)
    # Every core is 1.75x faster than ultralytics' cpu_count - 1 on an idle 2-core machine.
    torch_utils.NUM_THREADS = torch_threads()  # select_device() calls torch.set_num_threads(NUM_THREADS)
    ul_trainer.check_amp = lambda model: next(model.parameters()).device.type == "cuda"
    ul_dataset.save_dataset_cache_file = _no_cache_file
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch_utils.NUM_THREADS, ul_trainer.check_amp, ul_dataset.save_dataset_cache_file = saved[1:]


def versions() -> dict[str, str]:
    """Library versions for run records."""
    import platform

    import torch
    import torchvision

    ul = ultralytics()
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "ultralytics": ul.__version__,
        "cuda": torch.version.cuda or "none",
    }


def resolve_device(device: str) -> tuple[str, bool]:
    """``auto``/``cpu``/``cuda``/``cuda:N``/``N`` to ultralytics' device string and whether AMP applies.

    Raises:
        ConfigError: a CUDA device was asked for but is not there, or the name is unknown.
    """
    import torch

    d = device.strip().lower()
    if d == "auto":
        d = "cuda" if torch.cuda.is_available() else "cpu"
    if d == "cpu":
        return "cpu", False
    index = d.removeprefix("cuda").lstrip(":") or "0"
    if not index.isdigit():
        raise ConfigError(f"--device: unknown device {device!r} (use auto, cpu, cuda or cuda:N)")
    if not torch.cuda.is_available() or int(index) >= torch.cuda.device_count():
        raise ConfigError(f"--device: {device!r} asked for, but torch sees {torch.cuda.device_count()} CUDA device(s)")
    return index, True


def device_name(device: str) -> str:
    import torch

    return "cpu" if device == "cpu" else f"cuda:{device} ({torch.cuda.get_device_name(int(device))})"


def load_checkpoint(path: Path) -> dict:
    """Read a YOLO checkpoint, checking that it is one.

    Raises:
        DataError: the file is missing, not loadable by torch, or has no ``model`` entry.
    """
    import torch

    ultralytics()  # pickled ultralytics classes need the package importable
    if not path.is_file():
        raise DataError(f"{path}: weights file not found")
    try:
        # An ultralytics checkpoint pickles the whole nn.Module, which weights_only=True refuses; ultralytics
        # unpickles it the same way when it loads it. So only give blendaug checkpoints you trust.
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many types for a bad file (pickle, zip, EOF, runtime)
        raise DataError(f"{path}: not a YOLO checkpoint (torch.load failed: {type(e).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("model") is None:
        raise DataError(f"{path}: not a YOLO checkpoint (no 'model' entry)")
    return ckpt


def check_model(model_cfg: str) -> None:
    """Check that ``model_cfg`` names a model yaml ultralytics has (reads the yaml only, builds nothing).

    Raises:
        ConfigError: not a yaml name (a ``*.pt`` name would download weights), or no such yaml.
    """
    if not str(model_cfg).endswith((".yaml", ".yml")):
        raise ConfigError(f"--model: {model_cfg!r} is not a model yaml (e.g. yolov8n.yaml); a *.pt name would "
                          "download pretrained weights, pass local weights with --weights PATH")
    ultralytics()
    from ultralytics.nn.tasks import yaml_model_load

    try:
        yaml_model_load(model_cfg)
    except FileNotFoundError:
        raise ConfigError(f"--model: no model yaml {model_cfg!r} (try yolov8n.yaml or yolo11n.yaml)") from None


def _model(model_cfg: str, weights: Path | None) -> Any:
    """A YOLO model built from a model yaml, optionally seeded with a local checkpoint's matching weights."""
    check_model(model_cfg)
    ul = ultralytics()
    try:
        model = ul.YOLO(model_cfg)
    except FileNotFoundError:
        raise ConfigError(f"--model: no model yaml {model_cfg!r} (try yolov8n.yaml or yolo11n.yaml)") from None
    if weights is not None:
        load_checkpoint(weights)
        model.load(str(weights))
    return model


_SNAKE = {"metrics/precision(B)": "precision", "metrics/recall(B)": "recall", "metrics/mAP50(B)": "map50",
          "metrics/mAP50-95(B)": "map50_95"}


@dataclass
class TrainResult:
    best: Path  # checkpoint with the best val fitness (mAP50-95)
    last: Path
    epochs_run: int
    val_metrics: dict[str, Any]  # best.pt on the val split


def train(model_cfg: str, data_yaml: Path, save_dir: Path, args: dict[str, Any], weights: Path | None) -> TrainResult:
    """Train with ultralytics into ``save_dir`` (``save_dir/weights/best.pt``).

    Args:
        model_cfg: model yaml name or path, built from scratch.
        data_yaml: a data.yaml whose ``val`` is the checkpoint-selection split.
        args: ultralytics train arguments (already checked).
        weights: a local checkpoint to start from, or None for random initialisation.
    """
    model = _model(model_cfg, weights)
    with _quirks():
        model.train(data=str(data_yaml), project=str(save_dir.parent), name=save_dir.name, exist_ok=True,
                    pretrained=weights is not None, **args)
    trainer = model.trainer
    metrics = getattr(trainer, "metrics", None) or {}
    return TrainResult(best=Path(trainer.best), last=Path(trainer.last), epochs_run=int(trainer.epoch) + 1,
                       val_metrics={_SNAKE[k]: float(v) for k, v in metrics.items() if k in _SNAKE})


@dataclass
class Prediction:
    boxes_xyxy_px: np.ndarray  # (N, 4) float64, original image pixels
    class_ids: np.ndarray  # (N,) int64
    conf: np.ndarray  # (N,) float64


@dataclass
class ValResult:
    names: list[str]
    overall: dict[str, float]  # precision, recall, map50, map50_95
    per_class: dict[int, dict[str, float]]  # class id -> the same four, for classes with test objects
    predictions: dict[str, Prediction]  # absolute image path -> predictions at ultralytics' val conf (0.001)


def model_names(weights: Path) -> list[str]:
    names = load_checkpoint(weights)["model"].names
    return [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)


def validate(weights: Path, data_yaml: Path, split: str, save_dir: Path, device: str,
             imgsz: int | None = None, batch: int = 16) -> ValResult:
    """ultralytics val on one split, also keeping every image's predictions (scaled to its pixels).

    ``weights`` must have passed :func:`load_checkpoint` (or :func:`model_names`) first.
    """
    ul = ultralytics()
    from ultralytics.models.yolo.detect import DetectionValidator

    captured: dict[str, Prediction] = {}

    class CapturingValidator(DetectionValidator):
        def update_metrics(self, preds, batch):
            super().update_metrics(preds, batch)
            for si, pred in enumerate(preds):
                pbatch = self._prepare_batch(si, batch)
                scaled = self.scale_preds(pred, pbatch)
                captured[str(pbatch["im_file"])] = Prediction(
                    boxes_xyxy_px=scaled["bboxes"].detach().cpu().numpy().astype(np.float64).reshape(-1, 4),
                    class_ids=scaled["cls"].detach().cpu().numpy().astype(np.int64).reshape(-1),
                    conf=scaled["conf"].detach().cpu().numpy().astype(np.float64).reshape(-1))

    model = ul.YOLO(str(weights))  # the caller checked it with load_checkpoint / model_names
    extra = {"imgsz": imgsz} if imgsz else {}
    with _quirks():
        metrics = model.val(validator=CapturingValidator, data=str(data_yaml), split=split, device=device,
                            batch=batch, plots=False, save_json=False, project=str(save_dir.parent),
                            name=save_dir.name, exist_ok=True, verbose=False, **extra)
    box = metrics.box
    names = [metrics.names[i] for i in sorted(metrics.names)]
    overall = {"precision": float(box.mp), "recall": float(box.mr), "map50": float(box.map50),
               "map50_95": float(box.map)}
    per_class = {
        int(c): {"precision": float(box.p[i]), "recall": float(box.r[i]), "map50": float(box.ap50[i]),
                 "map50_95": float(box.ap[i])}
        for i, c in enumerate(box.ap_class_index)
    }
    return ValResult(names=names, overall=overall, per_class=per_class, predictions=captured)


def predict(weights: Path, images: list[Path], conf: float, device: str,
            imgsz: int | None = None) -> Iterator[tuple[Path, Prediction, np.ndarray]]:
    """Yield ``(image path, predictions, BGR image with the boxes drawn)`` for each image, in order."""
    ul = ultralytics()
    load_checkpoint(weights)
    model = ul.YOLO(str(weights))
    extra = {"imgsz": imgsz} if imgsz else {}
    with _quirks():
        for path in images:
            (r,) = model.predict(source=str(path), conf=conf, device=device, verbose=False, save=False, **extra)
            b = r.boxes
            pred = Prediction(boxes_xyxy_px=b.xyxy.cpu().numpy().astype(np.float64).reshape(-1, 4),
                              class_ids=b.cls.cpu().numpy().astype(np.int64).reshape(-1),
                              conf=b.conf.cpu().numpy().astype(np.float64).reshape(-1))
            yield path, pred, r.plot()
