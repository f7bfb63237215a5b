"""The report's slow part: bootstrapping mAP over test images for every contrast.

Each contrast resamples the test images ``--boot`` times per seed and side and recomputes mAP50 and
mAP50-95 on every resample (``blendaug.study.results.MapMetric``). Printed next to two references measured in
the same run: the plain per-resample call (rebuild the resample's record list, ``map_scores`` on it), and
that call with the textbook computation of COCO's AP (precision and recall at every rank, then the envelope),
which is what the bootstrap did before; all must give the same numbers to the bit.

Records are synthetic, shaped like a test split (``--images``, ``--preds`` kept predictions per image, about
3 true boxes each), or read from an evaluation folder's ``ap_records.jsonl`` with ``--eval``.

Usage: python benchmarks/bench_report.py [--images 106] [--preds 100] [--boot 200] [--eval runs/.../eval]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from blendaug.detection.metrics import RECALL_POINTS, APRecord, map_scores
from blendaug.study.bootstrap import bootstrap_indices, metric_replicates
from blendaug.study.results import MapMetric


def textbook_map(records: list[APRecord], key: str) -> float:
    """COCO's 101-point mAP from precision and recall at every rank (the computation before the packed one)."""
    n_true = np.sum([r.n_true for r in records], axis=0)
    cls, conf = np.concatenate([r.cls for r in records]), np.concatenate([r.conf for r in records])
    tp = np.concatenate([r.tp for r in records])
    order = np.argsort(-conf, kind="stable")
    cls, tp = cls[order], tp[order]
    ap = np.full((len(n_true), tp.shape[1]), np.nan)
    for c in np.flatnonzero(n_true > 0):
        hits = tp[cls == c]
        if len(hits) == 0:
            ap[c] = 0.0
            continue
        tpc = np.cumsum(hits, axis=0)
        recall, precision = tpc / n_true[c], tpc / np.arange(1, len(hits) + 1)[:, None]
        envelope = np.maximum.accumulate(precision[::-1], axis=0)[::-1]
        for k in range(tp.shape[1]):
            first = np.searchsorted(recall[:, k], RECALL_POINTS, side="left")
            ap[c, k] = envelope[first[first < len(hits)], k].sum() / len(RECALL_POINTS)
    present = ~np.isnan(ap[:, 0])
    return float(ap[present, 0].mean() if key == "map50" else ap[present].mean()) if present.any() else np.nan


def synthetic(n_images: int, n_preds: int, rng: np.random.Generator) -> list[dict]:
    rows = []
    for _ in range(n_images):
        k = int(rng.integers(n_preds // 2, n_preds + 1))
        conf = np.round(np.sort(rng.random(k) ** 3)[::-1], 6)  # mostly low confidences, as at conf >= 0.001
        tp = (rng.random((k, 10)) < np.linspace(0.9, 0.1, 10)) & (np.arange(k) < 3)[:, None]
        rows.append({"ap": APRecord(n_true=np.array([3]), cls=np.zeros(k, dtype=np.int64), conf=conf, tp=tp)})
    return rows


def from_eval(folder: Path) -> list[dict]:
    lines = (folder / "ap_records.jsonl").read_text(encoding="utf-8").splitlines()
    return [{"ap": APRecord.from_json(json.loads(line))} for line in lines]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=106)
    ap.add_argument("--preds", type=int, default=100)
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--eval", type=Path, help="an evaluation folder with ap_records.jsonl, instead of synthetic")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = from_eval(args.eval) if args.eval else synthetic(args.images, args.preds, rng)
    n_pred = sum(len(r["ap"].cls) for r in rows)
    idx = bootstrap_indices(len(rows), args.boot, rng)
    print(f"{len(rows)} test images, {n_pred} predictions, {args.boot} resamples (one seed and side of a contrast)")
    for key in ("map50", "map50_95"):
        t0 = time.perf_counter()
        textbook = np.array([textbook_map([rows[i]["ap"] for i in row], key) for row in idx])
        t1 = time.perf_counter()
        per_call = np.array([map_scores([rows[i]["ap"] for i in row])[key] for row in idx])
        t2 = time.perf_counter()
        packed = metric_replicates(rows, MapMetric(key), idx)
        t3 = time.perf_counter()
        same = np.array_equal(packed, textbook, equal_nan=True) and np.array_equal(per_call, textbook, equal_nan=True)
        ms = [(b - a) / args.boot * 1e3 for a, b in ((t2, t3), (t1, t2), (t0, t1))]
        print(f"{key:9s} packed: {ms[0]:6.2f} ms a resample   references: per-resample call {ms[1]:6.2f} ms, "
              f"textbook per-resample call {ms[2]:6.2f} ms   speed-up {ms[2] / ms[0]:4.1f}x   identical: {same}")
        if not same:
            raise SystemExit("the bootstrap's mAP differs from the textbook computation")


if __name__ == "__main__":
    main()
