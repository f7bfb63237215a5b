"""Turn a finished run folder into ``results.csv``, ``summary.csv`` and the Markdown + HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from blendaug.data.atomic import atomic_write_text
from blendaug.study import figures
from blendaug.study.config import StudyConfig
from blendaug.study.pipeline import gan_run_dir
from blendaug.study.report import Figure, Section, write_report
from blendaug.study.results import (
    CLASSIFICATION_METRICS,
    build_summary,
    classification_rows,
    detection_rows,
    paired_image_stats,
    tidy,
)

HEADLINE = {"detection": ["map50", "map50_95", "avg_iou_darknet", "count_mape"],
            "classification": ["accuracy", "balanced_accuracy", "macro_f1", "generalization_gap"]}


def collect(cfg: StudyConfig, run: Path):
    """Read every finished job: ``(tidy results, per-image rows by (task, arm, seed))``."""
    from blendaug.study.runner import job_folders

    values, per_image = {}, {}
    for (task, arm, seed), folder in job_folders(cfg, run).items():
        if task == "detection" and (folder / "eval" / "metrics.json").is_file():
            values[(task, arm, seed)], per_image[(task, arm, seed)] = detection_rows(folder / "eval")
        elif task == "classification" and (folder / "run" / "metrics.json").is_file():
            values[(task, arm, seed)], per_image[(task, arm, seed)] = classification_rows(folder / "run")
    return tidy(values), per_image


def _headline_table(summary: pd.DataFrame, task: str) -> pd.DataFrame:
    rows = []
    for arm in dict.fromkeys(summary.arm):
        row = {"arm": arm}
        for m in HEADLINE[task]:
            s = summary[(summary.task == task) & (summary.metric == m) & (summary.arm == arm)]
            if s.empty:
                continue
            r = s.iloc[0]
            cell = f"{r['mean']:.3f} ± {r['sd']:.3f}"
            if arm != "baseline" and pd.notna(r.get("rel_change_pct")):
                cell += f" ({r['rel_change_pct']:+.1f}%)"
            row[m] = cell
        if len(row) > 1:
            rows.append(row)
    return pd.DataFrame(rows)


def _paired_table(summary: pd.DataFrame) -> pd.DataFrame:
    if "ci_low" not in summary:
        return pd.DataFrame()
    s = summary[summary.ci_low.notna()]
    return pd.DataFrame({
        "task": s.task, "metric": s.metric, "arm": s.arm, "diff": s.diff_images.round(4),
        "95% CI": [f"[{lo:.4f}, {hi:.4f}]" for lo, hi in zip(s.ci_low, s.ci_high, strict=True)],
        "p (images)": s.p_images.round(4), "p (seeds)": s.p_seeds.round(4)})


def _gan_section(cfg: StudyConfig, run: Path, fig_dir: Path) -> Section:
    sec = Section("GAN quality", ["Tiers come from measured scores (see gan/quality/README.md), not epochs."])
    for arch in cfg.gan.archs:
        qpath = gan_run_dir(run, arch) / "quality.csv"
        if not qpath.is_file():
            continue
        q = pd.read_csv(qpath)
        sec.figures.append(Figure(figures.gan_quality(q, arch, fig_dir / f"gan_{arch}.png"), f"{arch}: FID/KID"))
        cols = [c for c in ("snapshot", "class", "fid", "kid_mean", "precision", "recall", "coverage", "tstr_acc",
                            "tier") if c in q]
        sec.tables.append((f"{arch} quality per snapshot", q[cols]))
        tiers = q.groupby("snapshot")["tier"].agg(lambda t: "/".join(sorted(set(map(str, t)))))
        for snap, tier in tiers.items():
            grid = gan_run_dir(run, arch) / "snapshots" / f"epoch_{int(snap):04d}"
            for png in sorted(grid.glob("*.png")):
                sec.figures.append(Figure(png, f"{arch} epoch {snap} ({tier}): {png.stem}"))
    return sec


def _examples_section(cfg: StudyConfig, run: Path, fig_dir: Path) -> Section:
    from blendaug.compositing.view import write_contact_sheet

    sec = Section("Composite examples")
    for arm in cfg.arms:
        data = run / "arms" / arm / "dataset" / "data.yaml"
        if data.is_file():
            path, _ = write_contact_sheet(data, fig_dir / f"examples_{arm}.jpg", n=6, split="train", tile_px=256)
            sec.figures.append(Figure(path, f"{arm}: train images with their boxes"))
    return sec


def _training_section(cfg: StudyConfig, run: Path, fig_dir: Path) -> Section:
    from blendaug.study.runner import job_folders

    sec = Section("Training")
    curves = {f"{a} s{s}": pd.read_csv(f / "train" / "results.csv")
              for (t, a, s), f in job_folders(cfg, run).items()
              if t == "detection" and (f / "train" / "results.csv").is_file()}
    path = figures.detection_curves(curves, fig_dir / "detection_curves.png")
    if path:
        sec.figures.append(Figure(path, "detection: val mAP50 per epoch"))
    for (t, a, s), f in job_folders(cfg, run).items():
        cm = f / "run" / "confusion_matrix.png"
        if t == "classification" and cm.is_file() and s == cfg.seeds[0]:
            sec.figures.append(Figure(cm, f"classification confusion matrix: {a}, seed {s}"))
    return sec


def write_results_and_report(cfg: StudyConfig, run: Path, env: dict | None = None) -> Path:
    """Write results.csv, summary.csv, environment.json, figures and the report; returns report.html."""
    run = Path(run)
    results, per_image = collect(cfg, run)
    atomic_write_text(run / "results.csv", results.to_csv(index=False))
    paired = paired_image_stats(per_image, cfg.arms, cfg.seeds, seed=cfg.seeds[0])
    summary = build_summary(results, paired) if not results.empty else pd.DataFrame()
    atomic_write_text(run / "summary.csv", summary.to_csv(index=False))
    env_path = run / "environment.json"
    if env is not None:
        atomic_write_text(env_path, json.dumps(env, indent=2))
    env = env or (json.loads(env_path.read_text()) if env_path.is_file() else {})
    fig_dir = run / "figures"
    main = Section("Results", [f"Arms: {', '.join(cfg.arms)}. Seeds: {cfg.seeds}. Values are mean ± sd over "
                               "seeds, with the relative change from the baseline in brackets. Every model is "
                               "evaluated on the real test split, which no stage trained on."])
    for task in ("detection", "classification"):
        if not summary.empty and (summary.task == task).any():
            main.tables.append((task, _headline_table(summary, task)))
            metrics = HEADLINE[task] if task == "detection" else list(CLASSIFICATION_METRICS[:3])
            main.figures.append(Figure(figures.results_bars(results, summary, task, metrics,
                                                            fig_dir / f"results_{task}.png"),
                                       f"{task}: mean ± sd over seeds (dots: seeds)"))
            forest = figures.paired_forest(summary, task, fig_dir / f"paired_{task}.png")
            if forest:
                main.figures.append(Figure(forest, f"{task}: paired difference from the baseline"))
    paired_tab = _paired_table(summary) if not summary.empty else pd.DataFrame()
    stats = Section("Paired statistics",
                    ["diff: arm minus baseline, averaged over seeds; 95% CI: bootstrap over test images (the "
                     "arm and the baseline of the same seed are resampled together); p (images): paired sign-flip "
                     "permutation over test images; p (seeds): exact sign-flip over the per-seed differences."])
    if not paired_tab.empty:
        stats.tables.append(("", paired_tab))
    sections = [main, stats]
    if any(a in cfg.arms for a in ("blended_high", "blended_low", "blended_mixed")):
        sections.append(_gan_section(cfg, run, fig_dir))
    sections += [_examples_section(cfg, run, fig_dir), _training_section(cfg, run, fig_dir),
                 Section("Environment", preformatted=json.dumps(env, indent=2)),
                 Section("Config", preformatted=(run / "config.yaml").read_text(encoding="utf-8")
                         if (run / "config.yaml").is_file() else "")]
    _, html = write_report(f"blendaug study: {cfg.name}", sections, run)
    return html
