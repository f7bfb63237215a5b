"""Score every snapshot of a generator run against held-out real crops and write ``RUN/quality.csv``.

The feature network (FID/KID/PRDC space) and the TSTR anchor train on the run's *training* crops;
every measurement is against *held-out* crops the generator never saw. Per class, two anchors
(:mod:`~blendaug.gan.quality.measure`) put each snapshot on a normalised scale, and the tier rule
(:mod:`~blendaug.gan.quality.tiers`) reads that scale and TSTR. :func:`score_snapshot` and
:func:`measure_anchors` work on arrays; :func:`score_run` reads the run and the crops and writes the files.

Sampling uses the same seed for a class at every snapshot (common random numbers), so differences
between snapshots come from the generators, not from the noise draw.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from blendaug.data.atomic import atomic_write_text
from blendaug.data.errors import ConfigError, DataError
from blendaug.gan.quality import metrics
from blendaug.gan.quality.classifier import ClassifierConfig
from blendaug.gan.quality.crops import real_crops, resize_square
from blendaug.gan.quality.features import FeatureRequest, FeatureSpace, build_feature_space
from blendaug.gan.quality.measure import (
    SET_METRICS,
    MeasureConfig,
    Reference,
    balanced,
    measure_set,
    real_anchor_sets,
    tstr,
)
from blendaug.gan.quality.memorisation import copy_z
from blendaug.gan.quality.references import NOISE_REFERENCES
from blendaug.gan.quality.tiers import (
    TierRule,
    assign_tiers,
    has_scale,
    normalised_quality,
    normalised_tstr,
    normalised_tstr_se,
)

COLUMNS = (
    "snapshot", "class", "n_fake", "n_real", *SET_METRICS[:-1], "fid_real", "fid_noise", "quality",
    "tstr_acc", "tstr_balanced_accuracy", "tstr_real", "tstr_norm", "copy_z", "copying", "tier",
)  # fmt: skip
ALL = "all"


@dataclass(frozen=True)
class ScoreConfig:
    """Scoring settings (written to ``RUN/quality.json``)."""

    n: int = 200  # (int) generated crops per class and snapshot (capped at the class's train crops)
    seed: int = 0  # (int) seeds sampling, subsets, the feature network, the anchors and TSTR
    measure: MeasureConfig = field(default_factory=MeasureConfig)  # k-NN, KID and SSIM settings
    tstr: bool = True  # (bool) run "train on synthetic, test on real"
    image_size: int | None = None  # (int) side all crops are resized to; None = the run's image size
    noise: tuple[str, ...] = tuple(NOISE_REFERENCES)  # (str) noise references; the best-scoring is the anchor
    anchor_draws: int = 5  # (int) random draws of train crops whose mean FID is the real anchor
    features: str = "pixels"  # (str) feature space of FID/KID/PRDC/copying, a key of FEATURE_SPACES
    pixel_side: int = 8  # (int) side of the "pixels" feature space
    # The crops-classifier space sees crops at 32 x 32 (antialiased): at 64 x 64 its features reacted so strongly to
    # the high-frequency noise of young GANs that a flat grey snapshot beat a structured but noisy one.
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    rule: TierRule = field(default_factory=TierRule)  # tier thresholds


@dataclass(frozen=True)
class Anchors:
    """Per class: the real and noise anchors' FID, the noise reference that scored best; TSTR of real crops."""

    fid_real: list[float]
    fid_noise: list[float]
    noise_name: list[str]
    noise_fids: list[dict[str, float]]
    tstr_real: float
    tstr_real_per_class: list[float]
    tstr_classes: list[int]  # the classes TSTR tells apart: those with a quality scale
    tstr_norm_se: float  # the normalised TSTR's worst-case standard error on these held-out crops


def class_seed(seed: int, class_index: int) -> int:
    """Sampling seed of one class, the same at every snapshot."""
    return int(np.random.SeedSequence([seed, class_index]).generate_state(1)[0])


def measure_anchors(ref: Reference, space: FeatureSpace, cfg: ScoreConfig, device: str = "cpu") -> Anchors:
    """The two ends of each class's quality scale, measured like a snapshot (see the module doc)."""
    draws = [real_anchor_sets(ref, cfg.n, cfg.seed, k) for k in range(max(1, cfg.anchor_draws))]
    picks = draws[0]
    mcfg = cfg.measure
    fid_real, fid_noise, names, all_noise = [], [], [], []
    for c, train in enumerate(ref.train):
        fids = [metrics.fid(ref.heldout_feats[c], space.embed(train[d[c]])) for d in draws]
        fid_real.append(float(np.mean(fids)))
        fids = {}
        for name in cfg.noise:
            images = NOISE_REFERENCES[name](train, ref.n_for(c, cfg.n), np.random.default_rng([cfg.seed, c, 2]))
            fids[name] = measure_set(images, space.embed(images), ref, c, mcfg)["fid"]
        best = min(fids, key=lambda k: fids[k] if math.isfinite(fids[k]) else math.inf)
        fid_noise.append(fids[best])
        names.append(best)
        all_noise.append(fids)
    scaled = [c for c in range(len(ref.train)) if has_scale(fid_real[c], fid_noise[c])]
    acc = tstr([t[p] for t, p in zip(ref.train, picks, strict=True)], ref, cfg.seed, device, scaled) \
        if cfg.tstr else np.full(len(ref.train), math.nan)  # fmt: skip
    real = balanced(acc)
    noise = normalised_tstr_se([len(ref.heldout[c]) for c in scaled], real)
    return Anchors(fid_real, fid_noise, names, all_noise, real, [float(a) for a in acc], scaled, noise)


def score_snapshot(
    snapshot: int,
    fakes: dict[str, np.ndarray],
    ref: Reference,
    space: FeatureSpace,
    anchors: Anchors,
    cfg: ScoreConfig,
    device: str = "cpu",
) -> list[dict]:
    """Rows (one per class of ``fakes``, then ``all``) for one snapshot; ``fakes``: class -> uint8 crops."""
    size = ref.train[0].shape[1]
    fakes = {c: np.stack([resize_square(im, size) for im in f]) if len(f) else f for c, f in fakes.items()}
    rows, near, held_near = [], [], []
    k = len(ref.class_names)
    for name, fake in fakes.items():
        c = ref.class_names.index(name)
        m = measure_set(fake, space.embed(fake), ref, c, cfg.measure)
        near.append(m.pop("_nn"))
        held_near.append(ref.copy_nn[c])
        q = normalised_quality(m["fid"], anchors.fid_real[c], anchors.fid_noise[c])
        rows.append({"snapshot": snapshot, "class": name, "n_fake": len(fake), "n_real": len(ref.heldout[c]), **m,
                     "fid_real": anchors.fid_real[c], "fid_noise": anchors.fid_noise[c], "quality": q,
                     "tstr_real": anchors.tstr_real_per_class[c]})  # fmt: skip
    acc = np.full(k, math.nan)
    if cfg.tstr and k > 1 and set(fakes) == set(ref.class_names):
        acc = tstr([fakes[n] for n in ref.class_names], ref, cfg.seed, device, anchors.tstr_classes)
    bal = balanced(acc)
    t_norm = normalised_tstr(bal, anchors.tstr_real, len(anchors.tstr_classes)) \
        if anchors.tstr_norm_se <= cfg.rule.tstr_max_se else math.nan  # too noisy to tell tiers apart
    for row in rows:
        row.update(tstr_acc=float(acc[ref.class_names.index(row["class"])]), tstr_balanced_accuracy=bal,
                   tstr_norm=t_norm, copying=bool(row["copy_z"] < -cfg.rule.copy_z))  # fmt: skip
    if not rows:
        return rows
    total = {"snapshot": snapshot, "class": ALL, "n_fake": sum(r["n_fake"] for r in rows),
             "n_real": sum(r["n_real"] for r in rows)}  # fmt: skip
    for col in (*SET_METRICS[:-1], "fid_real", "fid_noise", "quality"):
        values = [r[col] for r in rows if math.isfinite(r[col])]
        total[col] = float(np.mean(values)) if len(values) == len(rows) else math.nan
    z = copy_z(np.concatenate(near), np.concatenate(held_near))  # pooled over classes
    total.update(tstr_acc=bal, tstr_balanced_accuracy=bal, tstr_real=anchors.tstr_real, tstr_norm=t_norm,
                 copy_z=z, copying=bool(z < -cfg.rule.copy_z))  # fmt: skip
    return rows + [total]


def finish_table(rows: list[dict], rule: TierRule) -> pd.DataFrame:
    """Rows -> the quality table with its ``tier`` column, in :data:`COLUMNS` order."""
    table = pd.DataFrame(rows, columns=list(COLUMNS[:-1]))
    table["tier"] = assign_tiers(table, rule)
    return table[list(COLUMNS)]


def _split_real(run_dir: Path, info: dict, crops_dir: Path, heldout_dir: Path | None, size: int, split: str):
    """(train crops, held-out crops, where they came from, the copy check's reference or None) as the run
    trained on them. With a held-out folder *and* crops held out at training, the quality is measured on the
    folder and the copy check on the crops held out at training (new frames of the train scenes)."""
    from blendaug.gan.data import load_crops

    crops = load_crops(crops_dir, size, split)
    holdout = (info.get("crops") or {}).get("holdout")
    held_files = set(holdout["files"]) if holdout else set()
    in_held = np.array([f in held_files for f in crops.files], dtype=bool)
    train = crops.subset(~in_held)
    at_training = crops.subset(in_held) if in_held.any() else None
    if heldout_dir is not None:
        if Path(heldout_dir).resolve() == Path(crops_dir).resolve():
            raise ConfigError(f"{heldout_dir}: the held-out crops are the training crops; give the val crops")
        return train, load_crops(heldout_dir, size, "all"), str(Path(heldout_dir).absolute()), at_training
    if at_training is None:
        raise ConfigError(f"{run_dir}: no held-out crops: pass --heldout VAL_CROPS, or train with --holdout 0.2")
    return train, at_training, f"{Path(crops_dir).absolute()} (held out at training)", None


def score_run(
    run_dir: Path,
    crops_dir: Path,
    heldout_dir: Path | None = None,
    cfg: ScoreConfig = ScoreConfig(),
    store: Path | None = None,
    inception: Path | None = None,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Score every snapshot of ``run_dir``; writes ``quality.csv`` and ``quality.json`` there.

    Args:
        crops_dir: the crops the generator trained on (its ``crops.split`` rows, minus held-out ones).
        heldout_dir: real crops it never saw (every crop of the folder); None = the part of
            ``crops_dir`` held out at training. With both, the copy check uses the part held out at
            training (crops of train frames: the right reference when the folder holds other scenes).
        store: where the ``crops-classifier`` feature network's weights live (default ``RUN/quality_features.pt``).
        inception: Inception-v3 weights, for ``features="inception"``.

    Returns:
        The quality table (also in ``RUN/quality.csv``).
    """
    from blendaug.gan.families import list_snapshots
    from blendaug.gan.runs import read_run_info

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: generator run folder not found")
    info = read_run_info(run_dir)
    snapshots = list_snapshots(run_dir)
    if not snapshots:
        raise DataError(f"{run_dir}: no snapshots to score (train first)")
    size = cfg.image_size or int(info["image_size"])
    classes = list(info["classes"])
    train, held, held_from, copy_ref = _split_real(run_dir, info, crops_dir, heldout_dir, size,
                                                   (info.get("crops") or {}).get("split", "train"))  # fmt: skip
    for what, crops, folder in (("training", train, crops_dir), ("held-out", held, heldout_dir or crops_dir)):
        short = [c for c in classes if crops.counts().get(c, 0) < 2]
        if len(short) == len(classes):
            raise DataError(f"{folder}: fewer than 2 {what} crops of class(es) {', '.join(short)}")
        if short:  # those classes cannot be measured: their rows stay empty, hence unusable
            log(f"warning: {folder}: fewer than 2 {what} crops of class(es) {', '.join(short)}: scored unusable")
    empty = np.zeros((0, size, size, 3), np.uint8)
    sets = (("train", train), ("held", held), ("copy", held if copy_ref is None else copy_ref))
    per = {name: [c.images[c.labels == c.class_names.index(n)] if n in c.class_names else empty for n in classes]
           for name, c in sets}  # fmt: skip
    copy_from = held_from if copy_ref is None else f"{Path(crops_dir).absolute()} (held out at training)"
    if copy_ref is not None:
        log(f"copy check against the {len(copy_ref.files)} crops held out at training (quality against {held_from})")
    started = time.perf_counter()
    labels = np.concatenate([np.full(len(x), i) for i, x in enumerate(per["train"])])
    req = FeatureRequest(real_crops(np.concatenate(per["train"]), labels, classes),
                         Path(store or run_dir / "quality_features.pt"), inception, cfg.seed, device, cfg.classifier,
                         log, cfg.pixel_side)  # fmt: skip
    space = build_feature_space(cfg.features, req)
    ref = Reference.build(classes, per["train"], per["held"], space.embed,
                          None if copy_ref is None else per["copy"])  # fmt: skip
    anchors = measure_anchors(ref, space, cfg, device)
    tstr_used = anchors.tstr_norm_se <= cfg.rule.tstr_max_se
    log("anchors: " + "; ".join(f"{c} FID real {r:.2f}, noise {n:.2f} ({nm})" for c, r, n, nm in
                                zip(classes, anchors.fid_real, anchors.fid_noise, anchors.noise_name, strict=True))
        + (f"; TSTR of real crops {anchors.tstr_real:.3f} (normalised standard error up to "
           f"{anchors.tstr_norm_se:.2f}{'' if tstr_used else ': left out of the tiers'})"
           if len(anchors.tstr_classes) > 1 else "; no TSTR (fewer than two classes with a quality scale)"))
    rows: list[dict] = []
    for snap in snapshots:
        t0 = time.perf_counter()
        fakes = {c: snap.sample(c, ref.n_for(i, cfg.n), class_seed(cfg.seed, i), device=device)
                 for i, c in enumerate(classes)}  # fmt: skip
        snap_rows = score_snapshot(snap.step, fakes, ref, space, anchors, cfg, device)
        rows += snap_rows
        last = snap_rows[-1]
        log(f"snapshot {snap.step}: quality {last['quality']:.3f}, TSTR {last['tstr_balanced_accuracy']:.3f}, "
            f"copy z {last['copy_z']:.1f}, {time.perf_counter() - t0:.1f}s")  # fmt: skip
    table = finish_table(rows, cfg.rule)
    atomic_write_text(run_dir / "quality.csv", table.to_csv(index=False, float_format="%.6g"))
    meta = {
        "config": {**asdict(cfg), "rule": cfg.rule.model_dump()},
        "features": {"name": space.name, "num_features": space.num_features, **space.info},
        "generator": info.get("generator"),
        "anchors": {c: {"fid_real": anchors.fid_real[i], "fid_noise": anchors.fid_noise[i],
                        "noise": anchors.noise_name[i], "noise_fids": anchors.noise_fids[i],
                        "tstr_real": anchors.tstr_real_per_class[i]} for i, c in enumerate(classes)},
        "tstr_real_balanced": anchors.tstr_real,
        "tstr_classes": [classes[c] for c in anchors.tstr_classes],
        "tstr_norm_se": anchors.tstr_norm_se,
        "tstr_in_tiers": tstr_used,
        "real_crops": {"train": str(Path(crops_dir).absolute()), "heldout": held_from,
                       "train_per_class": {c: len(x) for c, x in zip(classes, per["train"], strict=True)},
                       "heldout_per_class": {c: len(x) for c, x in zip(classes, per["held"], strict=True)},
                       "copy_reference": copy_from,
                       "copy_reference_per_class": {c: len(x) for c, x in zip(classes, per["copy"], strict=True)}},
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    atomic_write_text(run_dir / "quality.json", json.dumps(meta, indent=2, default=str))
    return table
