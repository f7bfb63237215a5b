"""Score every snapshot of a GAN run against the real crops and write ``RUN/quality.csv``.

:func:`score_class` and :func:`score_snapshot` work on arrays; :func:`score_run` reads the run and
the crops, samples the generators and writes the files.

Sampling uses the same seed for a class at every snapshot (common random numbers), so differences
between snapshots come from the generators, not from the noise draw.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from blendaug.data.atomic import atomic_write_text
from blendaug.data.errors import DataError
from blendaug.gan.quality import metrics
from blendaug.gan.quality.classifier import ClassifierConfig
from blendaug.gan.quality.crops import RealCrops, read_real_crops, resize_square
from blendaug.gan.quality.features import FeatureRequest, FeatureSpace, build_feature_space
from blendaug.gan.quality.ssim import nearest_real_ssim
from blendaug.gan.quality.tiers import TierRule, assign_tiers

COLUMNS = (
    "snapshot", "class", "n_fake", "n_real", "fid", "kid_mean", "kid_std",
    "precision", "recall", "density", "coverage", "ssim_nn", "tstr_acc", "tier",
)  # fmt: skip
METRIC_COLUMNS = COLUMNS[4:13]
ALL = "all"


@dataclass(frozen=True)
class ScoreConfig:
    """Scoring settings (written to ``RUN/quality.json``)."""

    n: int = 300  # (int) generated crops per class and snapshot
    seed: int = 0  # (int) seeds sampling, subsets, the feature classifier and TSTR
    k: int = 5  # (int) neighbours for precision/recall/density/coverage
    kid_subset_size: int = 100  # (int) KID subset size (capped at the smaller set)
    kid_subsets: int = 100  # (int) KID subsets
    ssim_fakes: int = 64  # (int) generated crops per class checked for their nearest real crop by SSIM
    ssim_reals: int = 64  # (int) real crops per class they are compared with (random subset)
    tstr: bool = True  # (bool) run "train on synthetic, test on real"
    image_size: int | None = None  # (int) side all crops are resized to for scoring; None = the run's image size
    split: str = "train"  # (str) real crops of this split of index.csv ("all" = every crop), as in training
    # Feature classifier settings. It sees crops at 32 x 32 (antialiased) by default: at 64 x 64 its features react
    # so strongly to the high-frequency noise of young GANs that a flat grey snapshot beat a structured but noisy
    # one (measured on toyworld and vehicle crops; see gan/quality/README.md).
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    rule: TierRule = field(default_factory=TierRule)  # tier guards


def class_seed(seed: int, class_index: int) -> int:
    """Sampling seed of one class, the same at every snapshot."""
    return int(np.random.SeedSequence([seed, class_index]).generate_state(1)[0])


def score_class(
    real_feats: np.ndarray,
    fake_feats: np.ndarray,
    real_ssim: np.ndarray,
    fake_ssim: np.ndarray,
    cfg: ScoreConfig,
) -> dict[str, float]:
    """FID, KID, PRDC and nearest-real SSIM of one class at one snapshot.

    Args:
        real_feats, fake_feats: features (N, D) and (M, D).
        real_ssim, fake_ssim: uint8 crops (R, S, S, 3) and (F, S, S, 3) for the SSIM search.
    """
    kid_mean, kid_std = metrics.kid(real_feats, fake_feats, cfg.kid_subset_size, cfg.kid_subsets, cfg.seed)
    ssim = nearest_real_ssim(fake_ssim, real_ssim)
    return {
        "fid": metrics.fid(real_feats, fake_feats),
        "kid_mean": kid_mean,
        "kid_std": kid_std,
        **metrics.prdc(real_feats, fake_feats, cfg.k),
        "ssim_nn": float(ssim.mean()) if len(ssim) else math.nan,
    }


def aggregate_row(rows: list[dict]) -> dict:
    """The ``all`` row of a snapshot: counts summed, every metric the mean over its classes.

    The mean of per-class TSTR accuracies is the balanced accuracy over the real crops.
    """
    out = {"snapshot": rows[0]["snapshot"], "class": ALL}
    out["n_fake"] = sum(r["n_fake"] for r in rows)
    out["n_real"] = sum(r["n_real"] for r in rows)
    for col in METRIC_COLUMNS:
        values = [r[col] for r in rows if math.isfinite(r[col])]
        out[col] = float(np.mean(values)) if values else math.nan
    return out


def score_snapshot(
    snapshot: int,
    fakes: dict[str, np.ndarray],
    real: RealCrops,
    real_feats: np.ndarray,
    space: FeatureSpace,
    cfg: ScoreConfig,
    device: str = "cpu",
) -> list[dict]:
    """Rows (one per class, then ``all``) for one snapshot.

    Args:
        snapshot: the snapshot's epoch.
        fakes: class name -> generated uint8 crops (M, H, W, 3).
        real: the real crops; ``real_feats`` are their features (same order).
        space: the feature space.
    """
    size = cfg.image_size or real.images.shape[1]
    fakes = {c: np.stack([resize_square(im, size) for im in f]) if len(f) else f for c, f in fakes.items()}
    classes = list(fakes)
    rows = []
    for name in classes:
        ci = real.class_names.index(name)
        mask = real.labels == ci
        fake = fakes[name]
        rng = np.random.default_rng([cfg.seed, ci])  # the same real subset at every snapshot
        real_cls = real.images[mask]
        pick = np.sort(rng.permutation(len(real_cls))[: cfg.ssim_reals])
        row = {"snapshot": snapshot, "class": name, "n_fake": len(fake), "n_real": int(mask.sum())}
        row |= score_class(real_feats[mask], space.embed(fake), real_cls[pick], fake[: cfg.ssim_fakes], cfg)
        rows.append(row)
    acc = np.full(len(classes), math.nan)
    if cfg.tstr and len(classes) > 1:
        fake_images = np.concatenate([fakes[c] for c in classes])
        fake_labels = np.concatenate([np.full(len(fakes[c]), i) for i, c in enumerate(classes)])
        keep = np.isin(real.labels, [real.class_names.index(c) for c in classes])
        remap = {real.class_names.index(c): i for i, c in enumerate(classes)}
        test_labels = np.array([remap[int(lab)] for lab in real.labels[keep]])
        acc = metrics.tstr_accuracy(
            fake_images, fake_labels, real.images[keep], test_labels, len(classes), seed=cfg.seed, device=device
        )
    for row, a in zip(rows, acc, strict=True):
        row["tstr_acc"] = float(a)
    return rows + [aggregate_row(rows)] if rows else rows


def finish_table(rows: list[dict], rule: TierRule) -> pd.DataFrame:
    """Rows -> the quality table with its ``tier`` column, in :data:`COLUMNS` order."""
    table = pd.DataFrame(rows, columns=list(COLUMNS[:-1]))
    table["tier"] = assign_tiers(table, rule)
    return table[list(COLUMNS)]


def score_run(
    run_dir: Path,
    crops_dir: Path,
    cfg: ScoreConfig = ScoreConfig(),
    features: str = "crops-classifier",
    store: Path | None = None,
    inception: Path | None = None,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Score every snapshot of ``run_dir``; writes ``quality.csv`` and ``quality.json`` there.

    Args:
        run_dir: a ``blendaug gan train`` output folder.
        crops_dir: the real crops (``blendaug data crops`` output).
        features: a name in :data:`gan.quality.features.FEATURE_SPACES`.
        store: where the crop classifier's weights live (default ``RUN/quality_features.pt``).
        inception: Inception-v3 weights, for ``features="inception"``.

    Returns:
        The quality table (also in ``RUN/quality.csv``).
    """
    from blendaug.gan.snapshots import list_snapshots, read_run_info

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: GAN run folder not found")
    info = read_run_info(run_dir)
    snapshots = list_snapshots(run_dir)
    if not snapshots:
        raise DataError(f"{run_dir}: no snapshots to score (train first)")
    size = cfg.image_size or int(info["image_size"])
    cfg = replace(cfg, image_size=size)  # the classifiers resize again, to their own input size
    real = read_real_crops(crops_dir, size, cfg.split)
    missing = sorted({c for s in snapshots for c in s.classes} - set(real.class_names))
    if missing:
        have = ", ".join(real.class_names)
        raise DataError(f"{crops_dir}: no real crops of class(es) {', '.join(missing)} (has: {have})")
    started = time.perf_counter()
    req = FeatureRequest(real, Path(store or run_dir / "quality_features.pt"), inception, cfg.seed, device,
                         cfg.classifier, log)  # fmt: skip
    space = build_feature_space(features, req)
    real_feats = space.embed(real.images)
    rows: list[dict] = []
    for snap in snapshots:
        t0 = time.perf_counter()
        fakes = {
            c: snap.sample(c, cfg.n, class_seed(cfg.seed, list(info["classes"]).index(c)), device=device)
            for c in snap.classes
        }
        snap_rows = score_snapshot(snap.epoch, fakes, real, real_feats, space, cfg, device)
        rows += snap_rows
        fid_all = snap_rows[-1]["fid"] if snap_rows else math.nan
        log(f"snapshot {snap.epoch}: FID {fid_all:.3f} (mean over classes), {time.perf_counter() - t0:.1f}s")
    table = finish_table(rows, cfg.rule)
    atomic_write_text(run_dir / "quality.csv", table.to_csv(index=False, float_format="%.6g"))
    counts = np.bincount(real.labels, minlength=len(real.class_names)).tolist()
    per_class = dict(zip(real.class_names, counts, strict=True))
    meta = {
        "config": asdict(cfg),
        "features": {"name": space.name, "num_features": space.num_features, **space.info},
        "arch": info.get("arch"),
        "real_crops": {"path": str(Path(crops_dir).absolute()), "per_class": per_class},
        "seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_text(run_dir / "quality.json", json.dumps(meta, indent=2, default=str))
    return table
