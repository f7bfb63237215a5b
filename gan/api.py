"""The generator stage as the study (and the CLI) calls it: train, score, check tiers, sample.

    info = train_generator("cdcgan", crops/train, run, cfg, seed=0, device="cpu")
    table = score_generator(run, crops/train, crops/val, cfg, seed=0)       # RUN/quality.csv with tiers
    tier_availability(run).missing("high")                                  # classes without a usable high
    sample_tier(run, out, "mixed", n=200, seed=0)                           # OUT/<class>/*.png + index.csv

All paths may be absolute; every function works on one run folder of any family
(:mod:`blendaug.gan.families`), and writes its outputs atomically.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from blendaug.data.errors import ConfigError, Warnings
from blendaug.gan.config import GanConfig
from blendaug.gan.families import FAMILIES, TrainJob, family_of
from blendaug.gan.runs import read_run_info, write_run_info
from blendaug.gan.sample import TierAvailability, UnusableTierError, sample_run, tier_availability

__all__ = ["GanConfig", "TierAvailability", "UnusableTierError", "require_tiers", "sample_tier", "score_generator",
           "tier_availability", "train_generator"]  # fmt: skip


def train_generator(
    name: str,
    crops_dir: Path,
    run_dir: Path,
    cfg: GanConfig,
    seed: int = 0,
    device: str = "cpu",
    split: str = "train",
    progress: bool = False,
    log: Callable[[str], None] = print,
    on_checkpoint: Callable[[str, int], None] | None = None,
) -> dict:
    """Train (or resume, or leave alone when finished) generator ``name`` on a crops folder into ``run_dir``.

    The crops are the ``split`` rows of ``crops_dir`` (a ``blendaug data crops`` folder); with
    ``cfg.holdout > 0`` a seeded part of them (whole groups, see ``cfg.holdout_group``) is held out
    from training and recorded in ``run.json`` for :func:`score_generator`.

    Returns:
        The run info (``run.json``).

    Raises:
        ConfigError: an unknown generator or bad settings, or ``run_dir`` holds another run.
        DataError: unreadable crops or checkpoints.
    """
    from blendaug.gan.data import crop_side, group_keys, holdout_split, load_crops

    family = family_of(name)
    crops_dir, run_dir = Path(crops_dir), Path(run_dir)
    size = cfg.image_size or crop_side(crops_dir)
    warnings = Warnings()
    crops = load_crops(crops_dir, size, split, warnings)
    holdout = None
    if cfg.holdout > 0:
        held = holdout_split(group_keys(crops.sources, cfg.holdout_group), cfg.holdout, seed)
        if held.all() or not held.any():
            raise ConfigError(f"holdout {cfg.holdout}: {crops_dir} has too few groups to hold some out")
        holdout = {"fraction": cfg.holdout, "group": cfg.holdout_group, "seed": seed,
                   "files": [f for f, h in zip(crops.files, held, strict=True) if h]}  # fmt: skip
        crops = crops.subset(~held)
        gone = [c for c, k in crops.counts().items() if k == 0]
        if gone:
            raise ConfigError(f"holdout {cfg.holdout}: no training crops of class(es) {', '.join(gone)} would be "
                              "left; hold out less or give a held-out folder")  # fmt: skip
    orientation = None
    if cfg.orient:
        from blendaug.gan.orientation import canonical

        crops, share = canonical(crops)
        orientation = {"turned_share": share}
    for line in warnings.summary():
        log(line)
    units = FAMILIES[family].units(name, len(crops.class_names))
    budget = cfg.budget(len(crops.images) / units)
    info = {
        "family": family, "generator": name, "classes": crops.class_names, "image_size": size, "seed": seed,
        "steps": budget.steps, "snapshots": list(budget.snapshots), "budget": budget.stated, "batch": cfg.batch,
        "crops": {"path": str(crops_dir.absolute()), "split": split, "per_class": crops.counts(), "holdout": holdout},
        "orientation": orientation, "finished": False,
    }  # fmt: skip
    info["settings"] = {"family": family, "generator": name, "classes": crops.class_names, "image_size": size,
                        "seed": seed, "steps": budget.steps, "snapshots": list(budget.snapshots),
                        "batch": cfg.batch, "split": split, "per_class": crops.counts(), "orient": cfg.orient,
                        "holdout": None if holdout is None else {k: v for k, v in holdout.items() if k != "files"}}
    job = TrainJob(name, crops, run_dir, cfg, budget, info, seed, device, progress, log, on_checkpoint)
    resumed = (run_dir / "run.json").is_file()
    finished_before = resumed and read_run_info(run_dir).get("finished") is True
    wall, cpu = time.perf_counter(), time.process_time()
    result = FAMILIES[family].train(job)
    if not finished_before:
        # The wall and CPU (user + sys, whole process) time of this call; a resumed run's earlier calls are not in it.
        result["train_time"] = {"wall_s": round(time.perf_counter() - wall, 2),
                                "cpu_s": round(time.process_time() - cpu, 2), "complete": not resumed}  # fmt: skip
        write_run_info(run_dir, result)
    return result


def score_generator(
    run_dir: Path,
    crops_dir: Path,
    heldout_dir: Path | None,
    cfg: GanConfig,
    seed: int = 0,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Score every snapshot of ``run_dir`` against held-out real crops; writes ``quality.csv`` (with tiers).

    Args:
        crops_dir: the crops the generator trained on (as given to :func:`train_generator`).
        heldout_dir: real crops it never saw (the study passes the val split's crops); None = the
            part of ``crops_dir`` the run held out (``cfg.holdout`` at training).

    Returns:
        The quality table (``RUN/quality.csv``), one row per snapshot and class plus ``all``.
    """
    from blendaug.gan.quality.classifier import ClassifierConfig
    from blendaug.gan.quality.score import ScoreConfig, score_run

    score_cfg = ScoreConfig(n=cfg.score_n, seed=seed, rule=cfg.tiers,
                            classifier=ClassifierConfig(epochs=cfg.feature_epochs))  # fmt: skip
    return score_run(run_dir, crops_dir, heldout_dir, score_cfg, device=device, log=log)


def require_tiers(run_dir: Path, tiers: list[str], allow_unusable: bool = False) -> list[str]:
    """Check that every class of a scored run has a usable snapshot of each tier (``mixed``: of any tier).

    Returns:
        One line per (tier, class) without one: empty when all are there. With ``allow_unusable`` these
        are the warnings to put into the report (the arm's verdict is invalid); without it, the first
        problem raises.

    Raises:
        UnusableTierError: a tier is missing for some class and ``allow_unusable`` is off.
    """
    avail = tier_availability(run_dir)
    problems = [avail.message(t) for t in tiers if avail.missing(t)]
    if problems and not allow_unusable:
        raise UnusableTierError(f"{run_dir}: {problems[0]}; snapshots between those steps (gan.snapshots) may land "
                                "in the tier, or set gan.allow_unusable: true to run anyway (the arm's verdict is "
                                "then marked invalid)")  # fmt: skip
    return problems


def sample_tier(
    run_dir: Path,
    out: Path,
    tier: str,
    n: int,
    seed: int = 0,
    device: str = "cpu",
    class_name: str | None = None,
    allow_unusable: bool = False,
    overwrite: bool = False,
) -> Path:
    """``n`` crops per class of ``tier`` (high, mid, low or mixed) into ``out`` (``<class>/*.png`` + index.csv).

    With ``allow_unusable``, a class without a usable snapshot of the tier draws from its best-quality
    snapshot instead, and those rows say ``unusable`` in index.csv's ``tier`` column.
    """
    return sample_run(run_dir, out, n, tier, class_name, seed, device, overwrite, allow_unusable)
