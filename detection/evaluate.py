"""Evaluate a trained detector on one split, and predict on a folder of images.

``evaluate_detector`` runs ultralytics val once on the split. Its mAP, precision and recall are reported
as ultralytics computes them (predictions down to conf 0.001). The same pass's predictions, kept at
``conf >= --conf``, feed blendaug's own metrics (``detection/metrics.py``): tp, fp, fn, darknet's average
IoU, the mean matched IoU and the count MAPE. Output folder (complete or absent):

- ``metrics.json``: everything above, overall and per class (``null`` = undefined, e.g. no predictions);
- ``per_image.csv``: ``image,n_true,n_pred,tp,fp,fn,iou_sum,count_ape`` for paired statistics across runs;
- ``ap_records.jsonl``: per image, its true-box counts and every prediction's class, confidence and TP flags
  at IoU 0.50:0.95, from which mAP is recomputed on resampled test images (``map50_recomputed`` in
  ``metrics.json`` is that recomputation on all of them, next to ultralytics' ``map50``);
- ``data/``: the image list ultralytics evaluated.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from blendaug.data.atomic import atomic_dir, atomic_write_text
from blendaug.data.errors import DataError
from blendaug.data.imageio import is_image_file, save_image
from blendaug.data.model import xyxy_to_cxcywh_norm
from blendaug.data.yolo import read_yolo
from blendaug.detection.metrics import ap_record, image_result, map_scores, per_image_rows, summarize
from blendaug.detection.train import delete_label_caches, finalize_split_yaml, write_split_yaml

UL_KEYS = ("map50", "map50_95", "precision", "recall")
CSV_COLUMNS = ("image", "n_true", "n_pred", "tp", "fp", "fn", "iou_sum", "count_ape")


def _json_safe(value: Any) -> Any:
    """nan/inf to None (JSON has no nan), recursively."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return buf.getvalue()


def default_eval_out(weights: Path, split: str) -> Path:
    """``RUN/eval_<split>`` for ``RUN/weights/best.pt``, else ``eval_<split>`` next to the weights."""
    weights = Path(weights).absolute()
    run = weights.parent.parent if weights.parent.name == "weights" else weights.parent
    return run / f"eval_{split}"


def evaluate_detector(weights: Path, data: Path, out: Path, *, split: str = "test", conf: float = 0.25,
                      iou: float = 0.5, device: str = "auto", imgsz: int | None = None, batch: int = 16,
                      overwrite: bool = False) -> dict:
    """Evaluate ``weights`` on ``split`` of ``data``; write ``metrics.json`` and ``per_image.csv`` into ``out``.

    Returns:
        the ``metrics.json`` content.

    Raises:
        DataError: a bad dataset (missing keys, paths pointing nowhere), a missing or empty split, a file that
            is not a YOLO checkpoint, or a class count that differs between checkpoint and dataset.
    """
    from blendaug.detection import yolo

    weights, data, out = Path(weights).absolute(), Path(data).absolute(), Path(out).absolute()
    ds = read_yolo(data)
    images = ds.split(split)
    if not images:
        raise DataError(f"{data}: no '{split}' split to evaluate on (splits: {', '.join(ds.splits_present())})")
    names = yolo.model_names(weights)
    if len(names) != len(ds.names):
        raise DataError(f"{weights}: trained on {len(names)} classes ({', '.join(names)}) but {data} has "
                        f"{len(ds.names)} ({', '.join(ds.names)})")
    dev, _ = yolo.resolve_device(device)
    delete_label_caches(ds)
    started = time.time()
    with atomic_dir(out, overwrite=overwrite) as tmp:
        data_yaml = write_split_yaml(ds, tmp / "data", {"train": split, "val": split, "test": split})
        val = yolo.validate(weights, data_yaml, "test", tmp / "ultralytics", dev, imgsz=imgsz, batch=batch)
        shutil.rmtree(tmp / "ultralytics", ignore_errors=True)
        finalize_split_yaml(data_yaml, out / "data")
        results, ap_lines, ap_records = [], [], []
        for im in images:
            pred = val.predictions.get(str(im.path.absolute()))
            if pred is None:
                raise DataError(f"{im.path}: ultralytics skipped this image (unreadable or bad label?)")
            results.append(image_result(im.rel_path.as_posix(), len(ds.names), pred.boxes_xyxy_px, pred.class_ids,
                                        pred.conf, im.boxes_xyxy_px, im.class_ids, conf, iou))
            ap_records.append(ap_record(len(ds.names), pred.boxes_xyxy_px, pred.class_ids, pred.conf,
                                        im.boxes_xyxy_px, im.class_ids))
            ap_lines.append(json.dumps(ap_records[-1].to_json(im.rel_path.as_posix())))
        ours = summarize(results, ds.names)
        recomputed = {f"{k}_recomputed": v for k, v in map_scores(ap_records).items()}
        wall = time.time() - started
        n_objects = np.sum([im.n_boxes for im in images])
        metrics: dict[str, Any] = {
            "split": split, "weights": str(weights), "data": str(data), "conf": conf, "iou": iou,
            "n_images": len(images), "n_objects": int(n_objects),
            **val.overall,
            **recomputed,
            **{k: v for k, v in ours.items() if k != "per_class"},
            "per_class": {},
            "device": yolo.device_name(dev), "versions": yolo.versions(), "wall_s": round(wall, 2),
        }
        for i, name in enumerate(ds.names):
            ul = val.per_class.get(i, dict.fromkeys(UL_KEYS, float("nan")))
            metrics["per_class"][name] = {
                "n_objects": int(sum(int((im.class_ids == i).sum()) for im in images)),
                **{k: ul[k] for k in UL_KEYS}, **ours["per_class"][name]}
        metrics = _json_safe(metrics)
        atomic_write_text(tmp / "per_image.csv", _csv_text(per_image_rows(results)))
        atomic_write_text(tmp / "ap_records.jsonl", "".join(line + "\n" for line in ap_lines))
        atomic_write_text(tmp / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return metrics


def list_images(src: Path) -> list[Path]:
    """An image file, or the image files under a folder (recursive, sorted).

    Raises:
        DataError: nothing there, or no image in it.
    """
    src = Path(src)
    if src.is_file():
        if not is_image_file(src):
            raise DataError(f"{src}: not an image file")
        return [src]
    if not src.is_dir():
        raise DataError(f"{src}: no such file or folder")
    found = sorted(p for p in src.rglob("*") if p.is_file() and is_image_file(p))
    if not found:
        raise DataError(f"{src}: no image files in this folder")
    return found


def predict_images(weights: Path, images: Path, out: Path, *, conf: float = 0.25, device: str = "auto",
                   imgsz: int | None = None, overwrite: bool = False) -> int:
    """Predict on ``images`` (file or folder); write ``out/labels/*.txt`` and ``out/images/*`` with boxes drawn.

    A label line is ``class cx cy w h conf``, coordinates normalised as in YOLO labels.

    Returns:
        the number of images.
    """
    from blendaug.detection import yolo

    images, out = Path(images).absolute(), Path(out).absolute()
    paths = list_images(images)
    base = images if images.is_dir() else images.parent
    dev, _ = yolo.resolve_device(device)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for path, pred, plotted_bgr in yolo.predict(Path(weights), paths, conf, dev, imgsz=imgsz):
            rel = path.relative_to(base)
            h, w = plotted_bgr.shape[:2]
            boxes = xyxy_to_cxcywh_norm(pred.boxes_xyxy_px, w, h)
            lines = "".join(f"{int(c)} {b[0]:.6f} {b[1]:.6f} {b[2]:.6f} {b[3]:.6f} {s:.5f}\n"
                            for c, b, s in zip(pred.class_ids, boxes, pred.conf, strict=True))
            label = tmp / "labels" / rel.with_suffix(".txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text(lines, encoding="utf-8")
            save_image(tmp / "images" / rel, np.ascontiguousarray(plotted_bgr[:, :, ::-1]))
    return len(paths)
