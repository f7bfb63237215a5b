"""Paired image-level statistics from real evaluation files: mAP is bootstrapped over test images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from blendaug.detection.metrics import ap_record
from blendaug.study.results import detection_rows, paired_image_stats

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


def test_map_difference_gets_an_image_bootstrap_ci(tmp_path):
    rng = np.random.default_rng(0)
    base_hits = (rng.random(30) < 0.4).tolist()
    arm_hits = [True] * 30
    _, arm = detection_rows(_eval_dir(tmp_path / "arm", arm_hits))
    _, base = detection_rows(_eval_dir(tmp_path / "base", base_hits))
    per_image = {("detection", "blended", 0): arm, ("detection", "baseline", 0): base}
    stats = paired_image_stats(per_image, ["baseline", "blended"], [0], seed=1, n_boot=300)
    row = stats[stats.metric == "map50"].iloc[0]
    assert row.diff_images > 0.3 and 0.0 < row.ci_low < row.diff_images < row.ci_high <= 1.0
    assert row.p_images < 0.01
    same = paired_image_stats({("detection", "blended", 0): base, ("detection", "baseline", 0): base},
                              ["baseline", "blended"], [0], seed=1, n_boot=100)
    row = same[same.metric == "map50_95"].iloc[0]
    assert row.diff_images == row.ci_low == row.ci_high == 0.0 and row.p_images == 1.0


def test_evaluations_without_ap_records_are_compared_without_map(tmp_path):
    _, arm = detection_rows(_eval_dir(tmp_path / "arm", [True] * 5, with_ap=False))
    _, base = detection_rows(_eval_dir(tmp_path / "base", [False] * 5, with_ap=False))
    stats = paired_image_stats({("detection", "blended", 0): arm, ("detection", "baseline", 0): base},
                               ["baseline", "blended"], [0], seed=1, n_boot=50)
    assert "map50" not in set(stats.metric) and "recall_at_conf" in set(stats.metric)
