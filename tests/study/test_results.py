"""Paired image-level statistics from real evaluation files: mAP is bootstrapped over test images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blendaug.detection.metrics import ap_record
from blendaug.study.bootstrap import bootstrap_indices, cluster_indices, metric_replicates
from blendaug.study.results import MapMetric, contrast_table, detection_rows

SQUARE = [0.0, 0.0, 10.0, 10.0]


def _eval_dir(root: Path, hits: list[bool], with_ap: bool = True) -> Path:
    """An eval folder: one true box per image, found (conf 0.9) or missed (a far-off box) as ``hits`` says."""
    root.mkdir(parents=True)
    rows, lines = ["image,n_true,n_pred,tp,fp,fn,iou_sum,count_ape"], []
    for i, hit in enumerate(hits):
        pred = np.array([SQUARE if hit else [50.0, 50.0, 60.0, 60.0]])
        rec = ap_record(1, pred, np.array([0]), np.array([0.9 - 0.01 * i]), np.array([SQUARE]), np.array([0]))
        lines.append(json.dumps(rec.to_json(f"im{i:02d}.jpg")))
        rows.append(f"im{i:02d}.jpg,1,1,{int(hit)},{int(not hit)},{int(not hit)},{float(hit)},0.0")
    (root / "per_image.csv").write_text("\n".join(rows) + "\n")
    if with_ap:
        (root / "ap_records.jsonl").write_text("\n".join(lines) + "\n")
    (root / "metrics.json").write_text(json.dumps({"map50": None}))
    return root


def _jobs(arm_rows, base_rows, seeds=(0, 1, 2)):
    out = {}
    for s in seeds:
        out[("", "detection", "blended", s)] = arm_rows[s]
        out[("", "detection", "baseline", s)] = base_rows[s]
    return out


def test_map_difference_gets_a_two_level_interval(tmp_path):
    rng = np.random.default_rng(0)
    arm, base = {}, {}
    for s in range(3):
        base[s] = detection_rows(_eval_dir(tmp_path / f"base{s}", (rng.random(30) < 0.4).tolist()))[1]
        arm[s] = detection_rows(_eval_dir(tmp_path / f"arm{s}", (rng.random(30) < 0.95).tolist()))[1]
    table = contrast_table(_jobs(arm, base), {"": [("blended", "baseline")]}, study_seed=1)
    row = table[table.metric == "map50"].iloc[0]
    assert row.arm == "blended" and row.reference == "baseline" and row.n_seeds == 3 and row.n_images == 30
    assert row["diff"] > 0.3 and row.ci_low > 0 and row.ci_low < row["diff"] < row.ci_high
    assert row.p < 0.05 and row.p_holm >= row.p
    same = contrast_table(_jobs(base, base), {"": [("blended", "baseline")]}, study_seed=1)
    row = same[same.metric == "map50_95"].iloc[0]
    assert row["diff"] == row.ci_low == row.ci_high == 0.0


def test_recomputed_map_is_the_reported_map(tmp_path):
    values, rows = detection_rows(_eval_dir(tmp_path / "e", [True, False, True, True]))
    # Ranked TP, FP, TP, TP over 4 true boxes: COCO's 101-point envelope is 1 up to recall 0.25, 0.75 up to 0.75.
    assert values["map50"] == pytest.approx((26 + 50 * 0.75) / 101)
    assert values["map50_ultralytics"] is None  # kept as the cross-check column


def test_map_replicates_are_the_map_of_each_resample(tmp_path):
    rng = np.random.default_rng(0)
    rows = detection_rows(_eval_dir(tmp_path / "e", (rng.random(20) < 0.6).tolist()))[1]
    groups = [f"frame{i // 3}" for i in range(20)]
    for idx in (bootstrap_indices(20, 40, rng), cluster_indices(groups, 40, rng)):
        for key in ("map50", "map50_95"):
            metric = MapMetric(key)
            fast = metric_replicates(rows, metric, idx)
            assert np.array_equal(fast, [metric([rows[i] for i in row]) for row in idx])
            assert fast.std() > 0  # the resamples differ, so the comparison above means something
    no_ap = detection_rows(_eval_dir(tmp_path / "old", [True, False], with_ap=False))[1]
    assert np.isnan(metric_replicates(no_ap, MapMetric("map50"), bootstrap_indices(2, 5, rng))).all()


def test_evaluations_without_ap_records_are_compared_without_map(tmp_path):
    arm = {s: detection_rows(_eval_dir(tmp_path / f"a{s}", [True] * 5, with_ap=False))[1] for s in (0, 1)}
    base = {s: detection_rows(_eval_dir(tmp_path / f"b{s}", [False] * 5, with_ap=False))[1] for s in (0, 1)}
    table = contrast_table(_jobs(arm, base, (0, 1)), {"": [("blended", "baseline")]}, study_seed=1)
    assert table[table.metric == "map50"]["diff"].isna().all()
    assert table[table.metric == "recall_at_conf"]["diff"].iloc[0] == 1.0
