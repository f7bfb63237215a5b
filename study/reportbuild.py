"""Turn a finished run folder into ``results.csv``, ``contrasts.csv``, ``summary.csv`` and the report.

The report opens with the verdict (one line per contrast), then one forest plot per task with a panel
per metric, the sweep plots, the per-arm tables, the contrast details, and the evidence behind them
(GAN quality, composite examples, training curves, environment, config).
"""

from __future__ import annotations

import json
from pathlib import Path

from blendaug.data.atomic import atomic_write_text
from blendaug.study import figures
from blendaug.study.config import StudyConfig
from blendaug.study.graph import Plan, build_plan
from blendaug.study.report import Figure, Section, write_report
from blendaug.study.reportparts import (
    arm_table,
    data_section,
    examples_section,
    gan_section,
    training_section,
    verdict_section,
)
from blendaug.study.results import classification_rows, contrast_table, detection_rows, summarize, tidy

HEADLINE = {"detection": ["map50", "map50_95", "avg_iou_darknet", "count_mape"],
            "classification": ["accuracy", "balanced_accuracy", "macro_f1", "generalization_gap"]}
PAIRED_HEADLINE = {"detection": ["map50", "map50_95", "avg_iou_darknet", "count_mape"],
                   "classification": ["accuracy", "balanced_accuracy"]}


def _job_extras(folder: Path, task: str) -> dict[str, float]:
    """The resolved budget (epochs, training-set size) and the convergence check of a job, for results.csv."""
    from blendaug.study.convergence import check_convergence

    out: dict[str, float] = {}
    path = folder / "budget.json"
    if path.is_file():
        b = json.loads(path.read_text(encoding="utf-8"))
        out.update({"epochs": b.get("epochs"), "train_size": b.get("n_train")})
    if task == "detection":
        from blendaug.detection.budget import val_curve

        epochs, values = val_curve(folder / "train")
    else:
        from blendaug.classification.budget import val_curve

        epochs, values = val_curve(folder / "run")
    if len(values):
        check = check_convergence(values, epochs)
        out["val_still_rising"] = float(check.rising)
    return out


def unfinished_jobs(plan: Plan, read: dict) -> list[str]:
    """The ids of the job nodes :func:`collect` could not read (in plan order; a node shared by cells once)."""
    return list(dict.fromkeys(n.id for key, n in plan.jobs.items() if key not in read))


def _group_tiles(rows: list[dict], frames: dict[tuple[str, str], str]) -> None:
    """Name each test tile's frame as its ``group``, so that the statistics resample frames, not tiles."""
    for row in rows if frames else ():
        row["group"] = frames[("test", str(row["image"]))]


def collect(plan: Plan):
    """Read every finished job: ``(tidy results, per-image rows by (cell, task, arm, seed))``.

    A job counts only when its folder holds its own fingerprint: a folder left from a run with other settings
    (a changed budget, say, before the job reran) is not read, so a report of a part-finished run never mixes
    the two.
    """
    from blendaug.data.tiles import read_tile_frames
    from blendaug.study.steps import is_done

    values, per_image, tile_frames = {}, {}, {}
    for (cell, task, arm, seed), node in plan.jobs.items():
        folder = node.folder
        if not is_done(folder, node.fingerprint):
            continue
        if task == "detection" and (folder / "eval" / "metrics.json").is_file():
            v, rows = detection_rows(folder / "eval")
            data = Path(node.kwargs["inputs"]["data"]) / "dataset"
            if data not in tile_frames:  # one index per tiled dataset, read once
                tile_frames[data] = read_tile_frames(data)
            _group_tiles(rows, tile_frames[data])
        elif task == "classification" and (folder / "run" / "metrics.json").is_file():
            v, rows = classification_rows(folder / "run")
        else:
            continue
        v.update(_job_extras(folder, task))
        values[(cell, task, arm, seed)], per_image[(cell, task, arm, seed)] = v, rows
    return tidy(values), per_image


def write_results_and_report(cfg: StudyConfig, run: Path, env: dict | None = None, plan: Plan | None = None) -> Path:
    """Write results.csv, contrasts.csv, summary.csv, environment.json, figures and the report; returns
    report.html."""
    run = Path(run).absolute()
    plan = plan or build_plan(cfg, run)
    results, per_image = collect(plan)
    atomic_write_text(run / "results.csv", results.to_csv(index=False))
    pairs = {c.name: c.cfg.contrast_pairs() for c in plan.cells}
    contrasts = contrast_table(per_image, pairs, study_seed=cfg.seeds[0])
    atomic_write_text(run / "contrasts.csv", contrasts.to_csv(index=False))
    summary = summarize(results)
    atomic_write_text(run / "summary.csv", summary.to_csv(index=False))
    env_path = run / "environment.json"
    if env is not None:
        atomic_write_text(env_path, json.dumps(env, indent=2))
    env = env or (json.loads(env_path.read_text()) if env_path.is_file() else {})
    fig_dir = run / "figures"
    sections = [verdict_section(cfg, plan, contrasts, results)]
    waiting, n_jobs = unfinished_jobs(plan, per_image), len({n.id for n in plan.jobs.values()})
    if waiting:
        sections[0].paragraphs.insert(0, f"**Part-finished run: {len(waiting)} of {n_jobs} jobs have no result "
                                         f"yet** ({', '.join(waiting[:6])}{', ...' if len(waiting) > 6 else ''}"
                                         "); every contrast below uses only the seeds both of its arms have.")
    plots = Section("Contrasts", ["Each panel is one metric on its own scale: the difference arm - reference with "
                                  "its 95% interval over both training runs (seeds) and test images "
                                  "(docs/statistics.md)."])
    for task, metrics in PAIRED_HEADLINE.items():
        path = figures.contrast_forest(contrasts, task, metrics, fig_dir / f"contrasts_{task}.png")
        if path:
            plots.figures.append(Figure(path, f"{task}: contrasts"))
    cell_values = {c.name: c.values for c in plan.cells}
    for task, metrics in PAIRED_HEADLINE.items():
        path = figures.sweep_plot(contrasts, cell_values, task, metrics[0], fig_dir / f"sweep_{task}.png")
        if path:
            plots.figures.append(Figure(path, f"{task}: {metrics[0]} gain across the sweep"))
    sections.append(plots)
    tables = Section("Results per arm", [f"Arms: {', '.join(cfg.arm_specs())}. Seeds: {cfg.seeds} (replicate: "
                                         f"{cfg.replicate}). Mean ± sd over seeds; every model is evaluated on the "
                                         "real test split, which no stage trained on. epochs: the resolved training "
                                         f"epochs (budget: detection {cfg.detection.budget}, classification "
                                         f"{cfg.classification.budget})."])
    for cell in plan.cells:
        for task in ("detection", "classification"):
            df, notes = arm_table(summary, cell.name, task, HEADLINE[task] + ["epochs", "train_size"])
            if not df.empty:
                tables.tables.append((f"{task}{' @ ' + cell.name if cell.name else ''}", df))
                tables.paragraphs += notes
        s_cell = summary[summary.cell == cell.name]
        r_cell = results[results.cell == cell.name]
        for task in ("detection", "classification"):
            if (r_cell.task == task).any():
                tag = f"{task}_{cell.name}" if cell.name else task
                safe = "".join(ch if ch.isalnum() or ch in "_-=" else "_" for ch in tag)
                tables.figures.append(Figure(figures.results_bars(r_cell, s_cell, task, HEADLINE[task],
                                                                  fig_dir / f"results_{safe}.png"),
                                             f"{task}{' @ ' + cell.name if cell.name else ''}: mean ± sd over "
                                             "seeds (dots: seeds)"))
    sections.append(tables)
    if not contrasts.empty:
        cols = ["cell", "task", "metric", "arm", "reference", "diff", "ci_low", "ci_high", "p", "p_holm", "mde",
                "n_seeds", "n_images", "covers"]
        detail = contrasts[[c for c in cols if c in contrasts]]
        if not (detail.cell != "").any():
            detail = detail.drop(columns="cell")
        sections.append(Section("Contrast details", ["diff: arm minus reference, averaged over paired seeds; "
                                                     "CI and p: two-level (seeds and test images), t-based; "
                                                     "p_holm: Holm-corrected over the contrasts of one metric; "
                                                     "mde: the smallest difference these seeds and images would "
                                                     "detect with 80% power."],
                                tables=[("", detail)]))
    gan = gan_section(cfg, plan, fig_dir)
    if gan is not None:
        sections.append(gan)
    sections += [data_section(plan), examples_section(plan, fig_dir, cfg.seeds[0]),
                 training_section(cfg, plan, fig_dir),
                 Section("Environment", preformatted=json.dumps(env, indent=2)),
                 Section("Config", preformatted=(run / "config.yaml").read_text(encoding="utf-8")
                         if (run / "config.yaml").is_file() else "")]
    _, html = write_report(f"blendaug study: {cfg.name}", sections, run)
    return html

