"""Result files of a classifier run: metrics JSON, confusion matrix and learning curves as CSV + PNG.

All writers take a folder that the caller made with :func:`data.atomic.atomic_dir`, so a run's
folder appears complete or not at all. Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

CURVE_COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def confusion_csv_text(cm: np.ndarray, classes: list[str]) -> str:
    """Rows are true classes, columns predicted: ``true\\pred,car,truck`` then one row per true class."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["true\\pred", *classes])
    for name, row in zip(classes, cm, strict=True):
        w.writerow([name, *map(int, row)])
    return buf.getvalue()


def read_confusion_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """Inverse of :func:`confusion_csv_text`."""
    rows = list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    return rows[0][1:], np.array([[int(v) for v in r[1:]] for r in rows[1:]], dtype=np.int64)


def write_confusion(out: Path, cm: np.ndarray, classes: list[str], title: str, stem: str = "confusion_matrix") -> None:
    """``stem.csv`` (counts) and ``stem.png`` (row-normalized colours, counts written in the cells)."""
    (out / f"{stem}.csv").write_text(confusion_csv_text(cm, classes), encoding="utf-8")
    plt = _plt()
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)
    side = 2.2 + 0.7 * len(classes)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for t in range(len(classes)):
        for p in range(len(classes)):
            ax.text(p, t, str(int(cm[t, p])), ha="center", va="center", color="white" if frac[t, p] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out / f"{stem}.png", dpi=110)
    plt.close(fig)


def write_curves(out: Path, curves: list[dict], best_epoch: int) -> None:
    """``curves.csv`` (one row per epoch) and ``curves.png`` (loss and accuracy, train vs val)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CURVE_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in curves:
        w.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in CURVE_COLUMNS})
    (out / "curves.csv").write_text(buf.getvalue(), encoding="utf-8")
    plt = _plt()
    epochs = [r["epoch"] for r in curves]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, ("loss", "acc"), strict=True):
        ax.plot(epochs, [r[f"train_{metric}"] for r in curves], marker=".", label="train")
        ax.plot(epochs, [r[f"val_{metric}"] for r in curves], marker=".", label="val")
        ax.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"best (epoch {best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy" if metric == "acc" else "cross-entropy")
        ax.grid(alpha=0.3)
    axes[1].set_ylim(0, 1.02)
    axes[1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)
    plt.close(fig)


SWEEP_COLUMNS = ("run", "value", "n_real", "n_classical", "n_synthetic", "best_epoch", "epochs_run",
                 "test_accuracy", "test_balanced_accuracy", "test_macro_precision", "test_macro_recall",
                 "test_macro_f1", "train_accuracy", "generalization_gap", "wall_s")


def sweep_row(run: str, value: float, metrics: dict, wall_s: float) -> dict:
    """One line of ``sweep.csv`` from a run's metrics.json content."""
    test = metrics["test"]
    return {
        "run": run, "value": value, **{k: metrics["train_set"][k] for k in ("n_real", "n_classical", "n_synthetic")},
        "best_epoch": metrics["best_epoch"], "epochs_run": metrics["epochs_run"],
        **{f"test_{k}": round(test[k], 6) for k in ("accuracy", "balanced_accuracy", "macro_precision",
                                                     "macro_recall", "macro_f1")},
        "train_accuracy": round(metrics["train"]["accuracy"], 6),
        "generalization_gap": round(metrics["generalization_gap"], 6), "wall_s": round(wall_s, 1),
    }


def write_sweep(out: Path, rows: list[dict], label: str) -> None:
    """``sweep.csv`` and ``sweep.png`` (test accuracy / balanced accuracy / macro F1 against the swept value)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SWEEP_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (out / "sweep.csv").write_text(buf.getvalue(), encoding="utf-8")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    xs = [r["value"] for r in rows]
    for key in ("test_accuracy", "test_balanced_accuracy", "test_macro_f1", "train_accuracy"):
        ax.plot(xs, [r[key] for r in rows], marker="o", label=key)
    ax.set_xlabel(label)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=110)
    plt.close(fig)
