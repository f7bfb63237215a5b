"""``blendaug gan compare RUN...``: one table (and one plot) of scored runs across families and snapshots.

Each run must have been scored (``RUN/quality.csv`` from ``gan score``). A row is one snapshot of one run (its
``all`` row: the mean quality over classes and the balanced TSTR), or with ``per_class`` also one row per class.
Columns: the run (folder name), family, generator, snapshot step, class, normalised quality, TSTR (normalised,
and the balanced or per-class accuracy), precision / recall / coverage, the memorisation check (``copy_z`` and
the flag), the tier, the run's training time (``run.json``'s ``train_time``: wall and CPU seconds of the call
that trained it) and ``best``: the run's snapshot with the highest ``all`` quality. Runs compare fairly only
when scored against the same held-out crops with the same settings; the table says which crops each run was
scored against, and :func:`compare_table` refuses runs scored against different held-out crops unless asked.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from blendaug.data.errors import ConfigError, DataError
from blendaug.gan.runs import read_run_info

ALL = "all"
COLUMNS = ["run", "family", "generator", "snapshot", "class", "quality", "tstr_norm", "tstr_acc", "precision",
           "recall", "coverage", "copy_z", "copying", "tier", "train_wall_s", "train_cpu_s", "best"]  # fmt: skip
_SHOWN = {"tstr_norm": "tstr", "train_wall_s": "wall_s", "train_cpu_s": "cpu_s"}


def run_rows(run: Path, label: str | None = None) -> tuple[pd.DataFrame, str]:
    """The quality rows of one scored run with its metadata columns, and the held-out crops it was scored on.

    ``label`` names the run in the ``run`` column (default: its folder name).

    Raises:
        DataError: not a run folder, or not scored, or a quality.csv without the columns of ``gan score``.
    """
    run = Path(run)
    info = read_run_info(run)
    path = run / "quality.csv"
    if not path.is_file():
        raise DataError(f"{run}: not scored (no quality.csv); run `blendaug gan score {run} --real CROPS` first")
    try:
        q = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise DataError(f"{path}: unreadable quality table ({e})") from e
    missing = {"snapshot", "class", "quality", "tstr_norm", "tstr_acc", "precision", "recall", "coverage", "copy_z",
               "copying", "tier"} - set(q.columns)  # fmt: skip
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))} (score the run again)")
    q["class"] = q["class"].astype(str)
    q["copying"] = q["copying"].astype(str).str.lower() == "true"
    t = info.get("train_time") or {}
    q = q.assign(run=label or run.name, family=info["family"], generator=info["generator"],
                 train_wall_s=t.get("wall_s", math.nan), train_cpu_s=t.get("cpu_s", math.nan))  # fmt: skip
    totals = q[q["class"] == ALL]
    scored = totals[totals["quality"].notna()]
    best = scored["snapshot"].iloc[int(np.argmax(scored["quality"]))] if len(scored) else None
    q["best"] = q["snapshot"] == best
    heldout = ""
    meta = run / "quality.json"
    if meta.is_file():
        try:
            heldout = str(json.loads(meta.read_text(encoding="utf-8")).get("real_crops", {}).get("heldout", ""))
        except (OSError, ValueError):
            heldout = ""
    return q, heldout


def compare_table(runs: list[Path], per_class: bool = False, mixed_heldout: bool = False) -> pd.DataFrame:
    """The comparison table of ``runs`` (see the module doc), in the order given, snapshots ascending.

    Raises:
        DataError: a run is missing or not scored (every such run is named).
        ConfigError: no runs, or runs scored against different held-out crops (unless ``mixed_heldout``).
    """
    if not runs:
        raise ConfigError("give at least one scored run folder")
    names = [Path(r).name for r in runs]
    labels = [n if names.count(n) == 1 else str(r) for n, r in zip(names, runs, strict=True)]
    tables, problems, heldouts = [], [], {}
    for run, label in zip(runs, labels, strict=True):
        try:
            table, heldout = run_rows(run, label)
        except DataError as e:
            problems.append(str(e))
            continue
        tables.append(table)
        heldouts[label] = heldout
    if problems:
        raise DataError(problems[0] + (f" (and {len(problems) - 1} more run(s))" if len(problems) > 1 else ""))
    if len(set(heldouts.values())) > 1 and not mixed_heldout:
        shown = "; ".join(f"{r}: {h or '?'}" for r, h in heldouts.items())
        raise ConfigError(f"the runs were scored against different held-out crops ({shown}); their numbers do not "
                          "compare (use --mixed-heldout to list them anyway)")  # fmt: skip
    out = []
    for table in tables:
        order = [c for c in dict.fromkeys(table["class"]) if c != ALL] + [ALL]
        table = table.assign(_c=table["class"].map({c: i for i, c in enumerate(order)}))
        table = table.sort_values(["snapshot", "_c"], kind="stable")
        out.append(table if per_class else table[table["class"] == ALL])
    return pd.concat(out, ignore_index=True)[COLUMNS]


def format_table(table: pd.DataFrame) -> str:
    """The table as fixed-width text; the best snapshot of each run is marked with ``*``."""
    shown = table.rename(columns=_SHOWN).copy()
    shown["best"] = np.where(table["best"], "*", "")
    shown["copying"] = np.where(table["copying"], "COPIES", "-")
    return shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.3f}")


def plot_table(table: pd.DataFrame, path: Path) -> Path:
    """A PNG: quality, normalised TSTR and coverage of each run's ``all`` rows against the snapshot step."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from blendaug.data.atomic import atomic_write_bytes

    rows = table[table["class"] == ALL]
    panels = [("quality", "normalised quality"), ("tstr_norm", "TSTR (normalised)"), ("coverage", "coverage")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    for ax, (col, title) in zip(axes, panels, strict=True):
        for run, part in rows.groupby("run", sort=False):
            label = f"{run} ({part['generator'].iloc[0]})"
            line = ax.plot(part["snapshot"], part[col], marker="o", ms=3, lw=1.2, label=label)[0]
            best = part[part["best"]]
            ax.plot(best["snapshot"], best[col], marker="*", ms=11, color=line.get_color(), ls="none")
            copies = part[part["copying"]]
            ax.plot(copies["snapshot"], copies[col], marker="x", ms=8, color="black", ls="none")
        if col != "coverage":
            ax.axhline(1.0, color="grey", lw=0.6, ls="--")
            ax.axhline(0.0, color="grey", lw=0.6)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("snapshot (step)", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("generator snapshots (star: a run's best quality; x: copying flagged)", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)
