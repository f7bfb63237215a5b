"""Collect every job's metrics into ``results.csv`` and compute the statistics for ``summary.csv``.

``results.csv`` is tidy: ``arm, seed, task, metric, value``. ``summary.csv`` has one row per
(task, metric, arm): mean ± sd over seeds, the paired difference from the baseline with a 95 %
bootstrap CI over test images (resampled per seed, then averaged over seeds), the sign-flip
permutation p-value over test images and over seeds, and the relative change in %. For mAP the
image-level columns come from blendaug's recomputation (``ap_records.jsonl``), the mean ± sd from ultralytics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from blendaug.detection.metrics import APRecord, map_scores
from blendaug.study.stats import bootstrap_diff_ci, paired_permutation_p, summarize

DETECTION_METRICS = ("map50", "map50_95", "precision", "recall", "avg_iou_darknet", "mean_matched_iou",
                     "count_mape", "tp", "fp", "fn")
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1")


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


# Metric functions over per-image rows, for the paired bootstrap and permutation tests. mAP is recomputed
# from each image's AP record (detection/metrics.py): blendaug's COCO-style mAP on the same predictions,
# within about 0.01 of ultralytics' number that results.csv reports.
def _det_precision(rows: Sequence[dict]) -> float:
    return _ratio(sum(r["tp"] for r in rows), sum(r["n_pred"] for r in rows))


def _det_recall(rows: Sequence[dict]) -> float:
    return _ratio(sum(r["tp"] for r in rows), sum(r["n_true"] for r in rows))


def _det_avg_iou(rows: Sequence[dict]) -> float:
    return _ratio(sum(r["iou_sum"] for r in rows), sum(r["n_pred"] for r in rows))


def _det_count_mape(rows: Sequence[dict]) -> float:
    ape = [r["count_ape"] for r in rows if r["n_true"] > 0]
    return float(np.mean(ape)) if ape else float("nan")


def _det_map(key: str) -> Callable[[Sequence[dict]], float]:
    def metric(rows: Sequence[dict]) -> float:
        if not rows or any("ap" not in r for r in rows):
            return float("nan")  # an evaluation from before ap_records.jsonl existed
        return map_scores([r["ap"] for r in rows])[key]
    return metric


def _cls_accuracy(rows: Sequence[dict]) -> float:
    return float(np.mean([r["true"] == r["pred"] for r in rows])) if rows else float("nan")


def _cls_balanced_accuracy(rows: Sequence[dict]) -> float:
    classes = sorted({r["true"] for r in rows})
    recalls = [np.mean([r["pred"] == c for r in rows if r["true"] == c]) for c in classes]
    return float(np.mean(recalls)) if recalls else float("nan")


PAIRED_METRICS: dict[str, dict[str, Callable[[Sequence[dict]], float]]] = {
    "detection": {"map50": _det_map("map50"), "map50_95": _det_map("map50_95"),
                  "precision_at_conf": _det_precision, "recall_at_conf": _det_recall,
                  "avg_iou_darknet": _det_avg_iou, "count_mape": _det_count_mape},
    "classification": {"accuracy": _cls_accuracy, "balanced_accuracy": _cls_balanced_accuracy},
}


def detection_rows(eval_dir: Path) -> tuple[dict[str, float], list[dict]]:
    """``(metrics, per-image rows)`` of one detection eval folder."""
    metrics = json.loads((eval_dir / "metrics.json").read_text(encoding="utf-8"))
    values = {k: metrics.get(k) for k in DETECTION_METRICS}
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
    values["precision_at_conf"] = _det_precision(per_image)
    values["recall_at_conf"] = _det_recall(per_image)
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


def tidy(per_job: dict[tuple[str, str, int], dict[str, float]]) -> pd.DataFrame:
    """``{(task, arm, seed): {metric: value}}`` to tidy rows ``arm, seed, task, metric, value``."""
    rows = [{"arm": arm, "seed": seed, "task": task, "metric": m, "value": float(v) if v is not None else np.nan}
            for (task, arm, seed), metrics in sorted(per_job.items()) for m, v in metrics.items()]
    return pd.DataFrame(rows, columns=["arm", "seed", "task", "metric", "value"])


def paired_image_stats(per_image: dict[tuple[str, str, int], list[dict]], arms: list[str], seeds: list[int],
                       seed: int, n_boot: int = 1000) -> pd.DataFrame:
    """Per (task, metric, arm): the bootstrap CI and permutation p over test images, averaged over seeds.

    For each seed, the arm and the baseline trained with that seed are compared on the same test
    images; the seed-level differences, CI bounds and p-values are then averaged.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for task, fns in PAIRED_METRICS.items():
        for arm in arms:
            if arm == "baseline":
                continue
            for metric, fn in fns.items():
                per_seed = []
                for s in seeds:
                    a, b = per_image.get((task, arm, s)), per_image.get((task, "baseline", s))
                    if not a or not b or len(a) != len(b) or (np.isnan(fn(a)) and np.isnan(fn(b))):
                        continue
                    d, lo, hi = bootstrap_diff_ci(a, b, fn, rng, n_boot=n_boot)
                    p = paired_permutation_p(a, b, fn, rng, n_perm=n_boot)
                    per_seed.append((d, lo, hi, p))
                if per_seed:
                    d, lo, hi, p = np.nanmean(np.asarray(per_seed, dtype=np.float64), axis=0)
                    rows.append({"task": task, "metric": metric, "arm": arm, "diff_images": d, "ci_low": lo,
                                 "ci_high": hi, "p_images": p, "n_seeds_paired": len(per_seed)})
    return pd.DataFrame(rows, columns=["task", "metric", "arm", "diff_images", "ci_low", "ci_high", "p_images",
                                       "n_seeds_paired"])


def build_summary(results: pd.DataFrame, paired: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd over seeds joined with the paired image-level statistics."""
    summary = summarize(results)
    if paired.empty:
        return summary
    return summary.merge(paired, on=["task", "metric", "arm"], how="left")
