"""Report sections: the verdict, per-arm tables, GAN quality, composite examples, training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from blendaug.study import figures
from blendaug.study.config import StudyConfig
from blendaug.study.graph import Plan
from blendaug.study.report import Figure, Section
from blendaug.study.results import LOWER_IS_BETTER

PRIMARY = {"detection": "map50", "classification": "balanced_accuracy"}


def _cell(mean: float, sd: float, n: int) -> str:
    if not np.isfinite(mean):
        return ""
    digits = 3 if abs(mean) < 10 else 1
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if n > 1 and np.isfinite(sd) else "")


def arm_table(summary: pd.DataFrame, cell: str, task: str, metrics: list[str]) -> pd.DataFrame:
    """One row per arm: mean ± sd over seeds of each metric (empty cells where a metric is undefined)."""
    s = summary[(summary.cell == cell) & (summary.task == task)]
    rows = []
    for arm in dict.fromkeys(s.arm):
        row = {"arm": arm}
        for m in metrics:
            r = s[(s.metric == m) & (s.arm == arm)]
            if not r.empty:
                row[m] = _cell(float(r.iloc[0]["mean"]), float(r.iloc[0]["sd"]), int(r.iloc[0]["n_seeds"]))
        rows.append(row)
    return pd.DataFrame(rows)


def verdict_section(cfg: StudyConfig, plan: Plan, contrasts: pd.DataFrame, results: pd.DataFrame) -> Section:
    lines = []
    for _, r in contrasts[contrasts.metric.isin(list(PRIMARY.values()))].iterrows() if not contrasts.empty else []:
        sign = -1 if r.metric in LOWER_IS_BETTER else 1
        word = "no detectable difference"
        if np.isfinite(r.p_holm) and r.p_holm < 0.05:
            word = "helps" if sign * r["diff"] > 0 else "hurts"
        cell = f" @ {r.cell}" if r.cell else ""
        lines.append(f"{r.task} {r.metric}, {r.arm} vs {r.reference}{cell}: {word} ({r['diff']:+.3f}, 95% CI "
                     f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}], p_holm {r.p_holm:.3g})")
    return Section("Verdict", lines or ["No contrast could be computed (no finished jobs)."])


def data_section(plan: Plan) -> Section:
    """The dataset behind the study: images per split, and what ``dataset.skip_bad`` skipped."""
    import json

    from blendaug.data.yolo import read_yolo

    sec = Section("Data")
    rows = []
    for node in plan.nodes:
        if node.kind not in ("data", "subset") or not (node.folder / "dataset" / "data.yaml").is_file():
            continue
        ds = read_yolo(node.folder / "dataset" / "data.yaml")
        row = {"node": node.id}
        for split in ("train", "val", "test"):
            images = ds.split(split)
            row[f"{split} images"] = len(images)
            row[f"{split} boxes"] = int(sum(len(r.class_ids) for r in images))
        rows.append(row)
        warnings = node.folder / "warnings.json"
        if warnings.is_file():
            w = json.loads(warnings.read_text(encoding="utf-8"))
            for kind, n in sorted(w["counts"].items()):
                sec.paragraphs.append(f"{node.id}: skipped or warned {n} x {kind} (first: {w['examples'][kind]})")
    if rows:
        sec.tables.append(("", pd.DataFrame(rows)))
    return sec


def gan_section(cfg: StudyConfig, plan: Plan, fig_dir: Path) -> Section | None:
    gens = [n for n in plan.nodes if n.kind == "generator"]
    if not gens:
        return None
    sec = Section("Generator quality", ["Tiers come from quality measured on held-out real crops (see "
                                        "gan/quality/README.md), not from training time."])
    for node in gens:
        qpath = node.folder / "run" / "quality.csv"
        if not qpath.is_file():
            continue
        q = pd.read_csv(qpath)
        tag = node.id.replace("/", "_")
        sec.figures.append(Figure(figures.gan_quality(q, node.id, fig_dir / f"{tag}.png"), f"{node.id}: quality"))
        cols = [c for c in q.columns if c in ("snapshot", "step", "class", "quality", "fid", "tstr_balanced_accuracy",
                                             "precision", "recall", "coverage", "copying", "tier")]
        sec.tables.append((f"{node.id} quality per snapshot", q[cols]))
        for png in sorted((node.folder / "run" / "snapshots").glob("*/*.png")):
            sec.figures.append(Figure(png, f"{node.id} {png.parent.name}: {png.stem}"))
    return sec


def examples_section(plan: Plan, fig_dir: Path, seed: int) -> Section:
    """Contact sheets of every arm dataset (the first seed's, where arms repeat per seed)."""
    from blendaug.compositing.view import write_contact_sheet

    sec = Section("Composite examples")
    for node in plan.nodes:
        data = node.folder / "dataset" / "data.yaml"
        parts = node.id.split("/")
        first_seed = not any(p.startswith("seed") for p in parts) or f"seed{seed}" in parts
        if node.kind == "arm" and data.is_file() and first_seed:
            tag = node.id.replace("/", "_").replace("=", "-").replace(",", "_")
            path, _ = write_contact_sheet(data, fig_dir / f"examples_{tag}.jpg", n=6, split="train", tile_px=256)
            sec.figures.append(Figure(path, f"{node.id}: train images with their boxes"))
    return sec


def training_section(cfg: StudyConfig, plan: Plan, fig_dir: Path) -> Section:
    sec = Section("Training")
    curves = {}
    for (cell, task, arm, seed), node in plan.jobs.items():
        path = node.folder / "train" / "results.csv"
        if task == "detection" and path.is_file():
            df = pd.read_csv(path).rename(columns=str.strip)
            col = next((c for c in df.columns if c.startswith("metrics/mAP50(")), None)
            if col is not None:
                curves[f"{arm} s{seed}{' ' + cell if cell else ''}"] = df.set_index("epoch")[col]
    path = figures.training_curves(curves, "val mAP50", fig_dir / "detection_curves.png")
    if path:
        sec.figures.append(Figure(path, "detection: val mAP50 per epoch"))
    for (cell, task, arm, seed), node in plan.jobs.items():
        cm = node.folder / "run" / "confusion_matrix.png"
        if task == "classification" and cm.is_file() and seed == cfg.seeds[0] and not cell:
            sec.figures.append(Figure(cm, f"classification confusion matrix: {arm}, seed {seed}"))
    return sec


__all__ = ["LOWER_IS_BETTER", "PRIMARY", "arm_table", "verdict_section", "gan_section", "examples_section",
           "training_section"]
