"""Report figures (matplotlib, Agg): results per arm, contrasts per metric, the sweep, GAN quality, curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    # No date in the metadata keeps the PNG bytes stable across reruns.
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def results_bars(results: pd.DataFrame, summary: pd.DataFrame, task: str, metrics: list[str], path: Path) -> Path:
    """Per metric: the mean over seeds per arm (bar), ± sd (whisker), and each seed (dots); one cell."""
    metrics = [m for m in metrics if ((results.task == task) & (results.metric == m)).any()]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        s = summary[(summary.task == task) & (summary.metric == metric)]
        arms = list(s.arm)
        x = np.arange(len(arms))
        ax.bar(x, s["mean"], yerr=s["sd"], capsize=4, color=["#999" if a == "baseline" else "#4c72b0" for a in arms])
        r = results[(results.task == task) & (results.metric == metric)]
        for i, arm in enumerate(arms):
            vals = r[r.arm == arm]["value"].to_numpy()
            ax.plot(np.full(len(vals), i), vals, "k.", ms=5)
        ax.set_xticks(x, arms, rotation=30, ha="right", fontsize=8)
        ax.set_title(metric, fontsize=9)
    return _save(fig, path)


def contrast_forest(contrasts: pd.DataFrame, task: str, metrics: list[str], path: Path) -> Path | None:
    """One panel per metric (each on its own scale): every contrast's difference with its 95 % interval."""
    c = contrasts[(contrasts.task == task) & contrasts.metric.isin(metrics)] if not contrasts.empty else contrasts
    metrics = [m for m in metrics if not c.empty and (c.metric == m).any()]
    if not metrics:
        return None
    n_rows = max(len(c[c.metric == m]) for m in metrics)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics), 0.35 * n_rows + 1.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        s = c[c.metric == metric]
        y = np.arange(len(s))[::-1]
        ok = s["diff"].notna() & s.ci_low.notna()
        ax.errorbar(s["diff"][ok], y[ok.to_numpy()], xerr=[(s["diff"] - s.ci_low)[ok], (s.ci_high - s["diff"])[ok]],
                    fmt="o", capsize=3, color="#4c72b0")
        ax.axvline(0, color="#999", lw=1)
        labels = [f"{a} - {r}" + (f" @ {cell}" if cell else "") for a, r, cell in zip(s.arm, s.reference, s.cell,
                                                                                      strict=True)]
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle(f"{task}: difference with its 95% interval (seeds and test images)", fontsize=9)
    return _save(fig, path)


def spread_positions(values: np.ndarray, n_series: int, log: bool, width: float = 0.3) -> np.ndarray:
    """``(n_series, len(values))`` x positions: the series side by side around each value, so that none hides
    another; together they span ``width`` of the gap between neighbouring values (in log space on a log axis)."""
    values = np.asarray(values, dtype=float)
    span = np.log(values.max() / values.min()) if log else np.ptp(values)
    gap = span / (len(values) - 1) if len(values) > 1 and span > 0 else 1.0
    offsets = width * gap * (np.arange(n_series) - (n_series - 1) / 2) / max(n_series, 1)
    return values[None, :] * np.exp(offsets)[:, None] if log else values[None, :] + offsets[:, None]


def sweep_plot(contrasts: pd.DataFrame, cell_values: dict[str, dict], task: str, metric: str,
               path: Path) -> Path | None:
    """Each contrast's difference and interval against the swept value (one swept key: its numeric axis)."""
    c = contrasts[(contrasts.task == task) & (contrasts.metric == metric)] if not contrasts.empty else contrasts
    if c.empty or len(cell_values) < 2:
        return None
    keys = list(next(iter(cell_values.values())))
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    numeric = len(keys) == 1 and all(isinstance(v[keys[0]], int | float) for v in cell_values.values())
    names = list(cell_values)
    groups = list(c.groupby(["arm", "reference"], sort=False))
    values = np.array([cell_values[n][keys[0]] for n in names], dtype=float) if numeric else np.arange(len(names))
    log = numeric and keys[0].endswith(("train_size", "ratio")) and bool((values > 0).all())  # ratio 0: linear
    xs = spread_positions(values, len(groups), log)
    for i, ((arm, ref), g) in enumerate(groups):
        g = g.set_index("cell").reindex(names)
        x = xs[i]
        # tab10 repeats after ten contrasts: the next ten are squares with dashed lines.
        ax.errorbar(x, g["diff"], yerr=[g["diff"] - g.ci_low, g.ci_high - g["diff"]], capsize=3,
                    fmt="o-" if i < 10 else "s--", color=plt.cm.tab10(i % 10), label=f"{arm} - {ref}")
    ax.axhline(0, color="#999", lw=1)
    if numeric:
        ax.set_xlabel(keys[0])
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks(values, [str(cell_values[n][keys[0]]) for n in names])
    else:
        ax.set_xticks(values, names, rotation=20, ha="right", fontsize=7)
    ax.set_ylabel(f"{metric} difference")
    ax.set_title(f"{task} {metric}: gain across the sweep (95% intervals)", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, path)


def gan_quality(quality: pd.DataFrame, title: str, path: Path, x: str = "snapshot") -> Path:
    """The quality columns per snapshot, one line per class, with each point's tier."""
    q = quality[quality["class"] != "all"] if (quality["class"] != "all").any() else quality
    cols = [c for c in ("quality", "fid", "tstr_balanced_accuracy", "kid_mean") if c in q][:2]
    fig, axes = plt.subplots(1, len(cols), figsize=(4 * len(cols), 3), squeeze=False)
    for ax, col in zip(axes[0], cols, strict=True):
        for cls, g in q.groupby("class"):
            g = g.sort_values(x)
            ax.plot(g[x], g[col], "o-", label=str(cls))
            for _, row in g.iterrows():
                ax.annotate(str(row.get("tier", "")), (row[x], row[col]), fontsize=7)
        ax.set_xlabel(x)
        ax.set_title(f"{title}: {col}", fontsize=9)
    axes[0][0].legend(fontsize=7)
    return _save(fig, path)


def training_curves(curves: dict[str, pd.Series], ylabel: str, path: Path) -> Path | None:
    """One line per job: a val metric per epoch."""
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, series in sorted(curves.items()):
        ax.plot(series.index, series.to_numpy(), label=name, lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=6)
    return _save(fig, path)
