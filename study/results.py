"""Collect every job's metrics into ``results.csv`` and compute each contrast's statistics.

``results.csv`` is tidy: ``cell, arm, seed, task, metric, value``. Detection's ``map50`` and
``map50_95`` are blendaug's COCO-style recomputation from the stored per-image AP records, the same
computation the intervals resample (one mAP definition throughout); ultralytics' own numbers stay as
the cross-check columns ``map50_ultralytics`` and ``map50_95_ultralytics``. ``contrasts.csv`` holds one
row per (cell, task, metric, contrast) from :func:`blendaug.study.stats.compare_contrasts`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from blendaug.detection.metrics import APRecord, PackedAP, map_scores
from blendaug.study.stats import SumMetric, compare_contrasts, ratio_metric

DETECTION_METRICS = ("map50", "map50_95", "precision", "recall", "avg_iou_darknet", "mean_matched_iou",
                     "count_mape", "tp", "fp", "fn")
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1")
# Metrics where smaller is better (the verdict reads their sign the other way round).
LOWER_IS_BETTER = {"count_mape", "generalization_gap", "fp", "fn"}


@dataclass(frozen=True)
class MapMetric:
    """mAP (``key``: ``"map50"`` or ``"map50_95"``) recomputed from the per-image rows' AP records."""

    key: str

    def __call__(self, rows: Sequence[dict]) -> float:
        if not rows or any("ap" not in r for r in rows):
            return float("nan")  # an evaluation from before ap_records.jsonl existed
        return map_scores([r["ap"] for r in rows])[self.key]

    def replicates(self, rows: Sequence[dict], idx: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """The metric on every bootstrap resample ``rows[idx[b]]`` (see :mod:`blendaug.study.bootstrap`)."""
        if not rows or any("ap" not in r for r in rows):
            return np.full(len(idx), np.nan)
        packed = PackedAP.of([r["ap"] for r in rows])
        return np.array([packed.map_of(row, self.key) for row in idx], dtype=np.float64)


def _balanced_accuracy(classes: Sequence[int]) -> SumMetric:
    """Mean per-class recall as a function of per-image sums (correct and count per class)."""
    cls = list(classes)

    def columns(rows: Sequence[dict]) -> np.ndarray:
        t = np.array([r["true"] for r in rows])[:, None] == np.array(cls)[None, :]
        ok = t & (np.array([r["true"] == r["pred"] for r in rows])[:, None])
        return np.concatenate([ok, t], axis=1).astype(np.float64)

    def combine(sums: np.ndarray) -> np.ndarray:
        k = len(cls)
        correct, count = sums[..., :k], sums[..., k:]
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = np.where(count > 0, correct / np.where(count > 0, count, 1.0), np.nan)
        return np.nanmean(recall, axis=-1) if k else np.full(sums.shape[:-1], np.nan)

    return SumMetric(columns, combine)


def paired_metrics(task: str, per_image: Sequence[Sequence[dict]]) -> dict[str, Callable[[Sequence[dict]], float]]:
    """The metric functions over per-image records that the contrasts resample, per task."""
    if task == "detection":
        return {"map50": MapMetric("map50"), "map50_95": MapMetric("map50_95"),
                "precision_at_conf": ratio_metric(lambda r: r["tp"], lambda r: r["n_pred"]),
                "recall_at_conf": ratio_metric(lambda r: r["tp"], lambda r: r["n_true"]),
                "avg_iou_darknet": ratio_metric(lambda r: r["iou_sum"], lambda r: r["n_pred"]),
                "count_mape": ratio_metric(lambda r: r["count_ape"] if r["n_true"] > 0 else 0.0,
                                           lambda r: float(r["n_true"] > 0))}
    classes = sorted({r["true"] for rows in per_image for r in rows})
    return {"accuracy": ratio_metric(lambda r: float(r["true"] == r["pred"]), lambda r: 1.0),
            "balanced_accuracy": _balanced_accuracy(classes)}


def detection_rows(eval_dir: Path) -> tuple[dict[str, float], list[dict]]:
    """``(metrics, per-image rows)`` of one detection eval folder."""
    metrics = json.loads((eval_dir / "metrics.json").read_text(encoding="utf-8"))
    values = {k: metrics.get(k) for k in DETECTION_METRICS}
    values["map50_ultralytics"], values["map50_95_ultralytics"] = metrics.get("map50"), metrics.get("map50_95")
    per_image = pd.read_csv(eval_dir / "per_image.csv").sort_values("image").to_dict("records")
    ap_path = eval_dir / "ap_records.jsonl"
    if ap_path.is_file():
        records = {}
        for line in ap_path.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            records[d["image"]] = APRecord.from_json(d)
        for row in per_image:
            if row["image"] in records:
                row["ap"] = records[row["image"]]
    for k in ("map50", "map50_95"):
        values[k] = MapMetric(k)(per_image) if ap_path.is_file() else values[k]
    fns = paired_metrics("detection", [per_image])
    values["precision_at_conf"] = fns["precision_at_conf"](per_image)
    values["recall_at_conf"] = fns["recall_at_conf"](per_image)
    return values, per_image


def classification_rows(run_dir: Path) -> tuple[dict[str, float], list[dict]]:
    """``(metrics, per-image rows)`` of one classifier run folder (test split)."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    values = {k: metrics["test"].get(k) for k in CLASSIFICATION_METRICS}
    values["train_accuracy"] = metrics["train"]["accuracy"]
    values["generalization_gap"] = metrics["generalization_gap"]
    pred_csv = run_dir / "test_predictions.csv"
    per_image = pd.read_csv(pred_csv).sort_values("file").to_dict("records") if pred_csv.is_file() else []
    return values, per_image


def tidy(per_job: dict[tuple[str, str, str, int], dict[str, float]]) -> pd.DataFrame:
    """``{(cell, task, arm, seed): {metric: value}}`` to tidy rows ``cell, arm, seed, task, metric, value``."""
    rows = [{"cell": cell, "arm": arm, "seed": seed, "task": task, "metric": m,
             "value": float(v) if v is not None else np.nan}
            for (cell, task, arm, seed), metrics in per_job.items() for m, v in metrics.items()]
    return pd.DataFrame(rows, columns=["cell", "arm", "seed", "task", "metric", "value"])


def contrast_name(arm: str, reference: str, cell: str) -> str:
    return f"{arm} vs {reference}" + (f" @ {cell}" if cell else "")


def contrast_table(per_image: dict[tuple[str, str, str, int], list[dict]],
                   contrasts: dict[str, list[tuple[str, str]]], study_seed: int, n_boot: int = 200) -> pd.DataFrame:
    """One row per (cell, task, metric, contrast): difference, interval, p, Holm's p, MDE, seeds, images.

    Holm's correction runs over all the reported contrasts (every cell) of one metric; every contrast and
    metric draws from its own recorded RNG stream, so adding an arm leaves the other intervals unchanged.
    """
    rows = []
    for task in ("detection", "classification"):
        jobs = {k: v for k, v in per_image.items() if k[1] == task and v}
        if not jobs:
            continue
        fns = paired_metrics(task, list(jobs.values()))
        for metric, fn in fns.items():
            pairs = {}
            for cell, cell_pairs in contrasts.items():
                for arm, ref in cell_pairs:
                    a = {s: r for (c, t, name, s), r in jobs.items() if c == cell and name == arm}
                    b = {s: r for (c, t, name, s), r in jobs.items() if c == cell and name == ref}
                    paired = sorted(set(a) & set(b))
                    if paired and all(len(a[s]) == len(b[s]) for s in paired):
                        pairs[contrast_name(arm, ref, cell)] = ((cell, arm, ref), a, b)
            if not pairs:
                continue
            stats = compare_contrasts({k: (v[1], v[2]) for k, v in pairs.items()}, fn, study_seed=study_seed,
                                      stream=(task, metric), n_boot=n_boot)
            for name, res in stats.items():
                cell, arm, ref = pairs[name][0]
                rows.append({"cell": cell, "task": task, "metric": metric, "arm": arm, "reference": ref,
                             **res.to_dict()})
    return pd.DataFrame(rows)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Per (cell, task, metric, arm): seeds with a value, seeds without one (e.g. no predictions), mean, sd."""
    cols = ["cell", "task", "metric", "arm", "n_seeds", "n_undefined", "mean", "sd"]
    if results.empty:
        return pd.DataFrame(columns=cols)
    g = results.groupby(["cell", "task", "metric", "arm"], sort=False)["value"]
    out = g.agg(n_seeds="count", n_undefined=lambda v: int(v.isna().sum()), mean="mean",
                sd=lambda v: float(np.std(v.dropna(), ddof=1)) if v.notna().sum() > 1 else 0.0).reset_index()
    return out[cols]
