"""Report figures (matplotlib, Agg): results with CIs, GAN quality, training curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    # A fixed date in the metadata keeps the PNG bytes stable across reruns.
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def results_bars(results: pd.DataFrame, summary: pd.DataFrame, task: str, metrics: list[str], path: Path) -> Path:
    """Per metric: the mean over seeds per arm (bar), ± sd (whisker), and each seed (dots)."""
    metrics = [m for m in metrics if ((results.task == task) & (results.metric == m)).any()]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        s = summary[(summary.task == task) & (summary.metric == metric)]
        arms = list(s.arm)
        x = np.arange(len(arms))
        ax.bar(x, s["mean"], yerr=s["sd"], capsize=4, color=["#999"] + ["#4c72b0"] * (len(arms) - 1))
        r = results[(results.task == task) & (results.metric == metric)]
        for i, arm in enumerate(arms):
            vals = r[r.arm == arm]["value"].to_numpy()
            ax.plot(np.full(len(vals), i), vals, "k.", ms=5)
        ax.set_xticks(x, arms, rotation=30, ha="right", fontsize=8)
        ax.set_title(metric, fontsize=9)
    return _save(fig, path)


def paired_forest(summary: pd.DataFrame, task: str, path: Path) -> Path | None:
    """Difference from the baseline with its 95 % bootstrap CI over test images, per arm and metric."""
    if "ci_low" not in summary:
        return None
    s = summary[(summary.task == task) & summary.ci_low.notna()]
    if s.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(s) + 1))
    y = np.arange(len(s))
    ax.errorbar(s["diff_images"], y, xerr=[s["diff_images"] - s["ci_low"], s["ci_high"] - s["diff_images"]],
                fmt="o", capsize=3)
    ax.axvline(0, color="#999", lw=1)
    ax.set_yticks(y, [f"{a}: {m}" for a, m in zip(s.arm, s.metric, strict=True)], fontsize=8)
    ax.set_xlabel("arm - baseline (95% bootstrap CI over test images)")
    return _save(fig, path)


def gan_quality(quality: pd.DataFrame, title: str, path: Path) -> Path:
    """FID and KID per snapshot epoch, one line per class, with each point's tier."""
    q = quality[quality["class"] != "all"] if (quality["class"] != "all").any() else quality
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, col in zip(axes, ("fid", "kid_mean"), strict=True):
        for cls, g in q.groupby("class"):
            g = g.sort_values("snapshot")
            ax.plot(g["snapshot"], g[col], "o-", label=str(cls))
            for _, row in g.iterrows():
                ax.annotate(str(row["tier"]), (row["snapshot"], row[col]), fontsize=7)
        ax.set_xlabel("epoch")
        ax.set_title(f"{title}: {col}", fontsize=9)
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def detection_curves(curves: dict[str, pd.DataFrame], path: Path) -> Path | None:
    """Val mAP50 per epoch of every detection run (ultralytics' results.csv)."""
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, df in sorted(curves.items()):
        df = df.rename(columns=str.strip)
        col = next((c for c in df.columns if c.startswith("metrics/mAP50(")), None)
        if col is not None:
            ax.plot(df["epoch"], df[col], label=name, lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("val mAP50")
    ax.legend(fontsize=6)
    return _save(fig, path)
