"""Report sections: the verdict, per-arm tables, GAN quality, composite examples, training curves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from blendaug.study import figures
from blendaug.study.config import StudyConfig
from blendaug.study.graph import Plan
from blendaug.study.report import Figure, Section
from blendaug.study.results import LOWER_IS_BETTER

COUNT_COLUMNS = ("epochs", "train_size")
# The metric whose line opens the report, per task.
PRIMARY = {"detection": "map50", "classification": "accuracy"}


def arm_table(summary: pd.DataFrame, cell: str, task: str, metrics: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """One row per arm: mean ± sd over seeds of each metric, and footnotes for undefined values."""
    from blendaug.study.verdict import mean_sd_cell

    s = summary[(summary.cell == cell) & (summary.task == task)]
    rows, notes = [], []
    for arm in dict.fromkeys(s.arm):
        row = {"arm": arm}
        for m in metrics:
            r = s[(s.metric == m) & (s.arm == arm)]
            if r.empty:
                continue
            r = r.iloc[0]
            if m in COUNT_COLUMNS:  # a resolved setting, the same for every seed: no spread to show
                row[m] = f"{r['mean']:.0f}" if pd.notna(r["mean"]) else ""
                continue
            c = mean_sd_cell(float(r["mean"]), float(r["sd"]), int(r["n_seeds"]), int(r["n_undefined"]))
            row[m] = c.text + (f" [{len(notes) + 1}]" if c.footnote else "")
            if c.footnote:
                notes.append(f"[{len(notes) + 1}] {arm} {m}: {c.footnote}")
        rows.append(row)
    return pd.DataFrame(rows), notes


def _rising(results: pd.DataFrame, cell: str, task: str, arm: str) -> tuple[int, int] | None:
    r = results[(results.cell == cell) & (results.task == task) & (results.arm == arm)
                & (results.metric == "val_still_rising")]["value"].dropna()
    return (int(r.sum()), len(r)) if len(r) else None


def _epochs(results: pd.DataFrame, cell: str, task: str, arm: str) -> int | None:
    r = results[(results.cell == cell) & (results.task == task) & (results.arm == arm)
                & (results.metric == "epochs")]["value"].dropna()
    return int(r.iloc[0]) if len(r) else None


def unusable_inputs(plan: Plan) -> dict[tuple[str, str, str], list[str]]:
    """``{(cell, task, arm): problems}`` for arms fed by a generator tier no usable snapshot has."""
    import json

    by_id = {n.id: n for n in plan.nodes}
    out: dict[tuple[str, str, str], list[str]] = {}
    for (cell, task, arm, _), job in plan.jobs.items():
        todo, seen = list(job.deps), set()
        while todo:
            node = by_id[todo.pop()]
            if node.id in seen:
                continue
            seen.add(node.id)
            todo += node.deps
            path = node.folder / "unusable.json"
            if node.kind == "samples" and path.is_file():
                problems = out.setdefault((cell, task, arm), [])
                problems += [p for p in json.loads(path.read_text(encoding="utf-8")) if p not in problems]
    return out


def same_jobs(plan: Plan, seeds: list[int], cell: str, task: str, arm: str, reference: str) -> bool:
    """Whether ``arm`` and ``reference`` train the same model for every seed (equal node fingerprints): e.g. two
    arms that differ only in ``blend`` give the crop classifier the same crops."""
    pairs = [(plan.jobs.get((cell, task, arm, s)), plan.jobs.get((cell, task, reference, s))) for s in seeds]
    return all(a is not None and r is not None and a.fingerprint == r.fingerprint for a, r in pairs)


def verdict_section(cfg: StudyConfig, plan: Plan, contrasts: pd.DataFrame, results: pd.DataFrame) -> Section:
    """One plain line per contrast and task (its primary metric), then the call on every paired metric."""
    from blendaug.study.verdict import verdict

    sec = Section("Verdict")
    if contrasts.empty:
        sec.paragraphs.append("No contrast could be computed (no finished jobs).")
        return sec
    calls = []
    unusable = unusable_inputs(plan)
    for _, row in contrasts.iterrows():
        task, cell = row.task, row.cell
        budget = (cfg.detection if task == "detection" else cfg.classification).budget
        ea, er = _epochs(results, cell, task, row.arm), _epochs(results, cell, task, row.reference)
        v = verdict(row.to_dict(), arm=row.arm, reference=row.reference, metric=f"{task} {row.metric}",
                    lower_is_better=row.metric in LOWER_IS_BETTER, replicate=cfg.replicate, budget=budget,
                    epochs=(ea, er) if ea is not None and er is not None else None,
                    arm_rising=_rising(results, cell, task, row.arm),
                    reference_rising=_rising(results, cell, task, row.reference),
                    curve="val mAP50" if task == "detection" else "val accuracy")
        line, call = (f"[{cell}] " if cell else "") + v.line, v.call
        if same_jobs(plan, cfg.seeds, cell, task, row.arm, row.reference):
            call = "same model"
            line = ((f"[{cell}] " if cell else "") + f"{row.arm} vs {row.reference}, {task}: the same model. Both "
                    f"arms' {task} jobs read exactly the same inputs and settings for every seed (the specs differ "
                    f"only in what {task} does not use), so there is nothing to compare.")
        bad = unusable.get((cell, task, row.arm), []) + unusable.get((cell, task, row.reference), [])
        if bad:  # gan.allow_unusable ran an arm on a tier no usable snapshot has
            call = "invalid"
            line = f"INVALID (generated crops below the usable quality: {'; '.join(bad)}). {line}"
        if row.metric == PRIMARY[task]:
            sec.paragraphs.append(line)
        calls.append({"cell": cell, "task": task, "contrast": f"{row.arm} vs {row.reference}",
                      "metric": row.metric, "call": call})
    table = pd.DataFrame(calls).pivot_table(index=["cell", "task", "contrast"], columns="metric", values="call",
                                            aggfunc="first", sort=False).reset_index()
    if not (table.cell != "").any():
        table = table.drop(columns="cell")
    sec.tables.append(("Every paired metric (helps / hurts / no detectable difference, Holm-corrected per metric)",
                       table.fillna("")))
    return sec


def data_section(plan: Plan) -> Section:
    """The dataset behind the study: images per split, and what ``dataset.skip_bad`` skipped."""
    import json

    from blendaug.data.yolo import read_yolo

    sec = Section("Data")
    rows = []
    for node in plan.nodes:
        if node.kind not in ("data", "subset", "tiles") or not (node.folder / "dataset" / "data.yaml").is_file():
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
    import json

    for node in plan.nodes:
        left_out = node.folder / "left_out.json"
        if node.kind == "samples" and left_out.is_file():
            classes = ", ".join(json.loads(left_out.read_text(encoding="utf-8")))
            sec.paragraphs.append(f"{node.id}: no usable snapshot of this tier for {classes}; arms reading these "
                                  "samples paste the other classes only.")
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


