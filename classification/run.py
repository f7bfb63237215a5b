"""``blendaug classify train``: one run, or one run per swept synthetic ratio/count, into an atomic OUT folder.

A run folder holds ``metrics.json`` (train/val/test metrics, generalization gap, train-set make-up),
``confusion_matrix.csv/.png`` (test), ``curves.csv/.png``, ``best.pt`` (best-val state_dict), ``split.csv``
and ``run.json`` (versions, seeds, device, threads, arguments, wall time). A sweep writes one such folder
per value (``ratio_0.5/``, ``count_250/``) plus ``sweep.csv/.png``, ``split.csv`` and ``run.json`` at the top.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from blendaug.classification.data import load_images, make_splits, split_file_text
from blendaug.classification.evaluate import score, versions
from blendaug.classification.metrics import generalization_gap
from blendaug.classification.models import build_model, load_weights
from blendaug.classification.report import sweep_row, write_confusion, write_curves, write_json, write_sweep
from blendaug.classification.synthetic import classical_augment, parse_tiers, read_synthetic_pool, select_synthetic
from blendaug.classification.train import (
    FitConfig,
    Normalizer,
    channel_stats,
    fit,
    predict,
    resolve_device,
    to_tensor_u8,
)
from blendaug.data.atomic import atomic_dir
from blendaug.data.cores import usable_cores
from blendaug.data.errors import ConfigError, DataError, Warnings


@dataclass
class TrainArgs:
    """Everything ``classify train`` takes; recorded verbatim in run.json."""

    data: Path
    out: Path
    model: str = "resnet18"
    size: int = 64
    epochs: int = 30
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    patience: int = 0
    balanced: bool = False
    seed: int = 0
    split_seed: int = 0
    device: str = "auto"
    classes: list[str] | None = None
    val: float = 0.15
    test: float = 0.15
    train_per_class: int | None = None
    split_file: Path | None = None
    skip_bad: bool = False
    weights: Path | None = None
    classical_factor: int = 0
    classical_policy: str = "ground"
    synthetic: Path | None = None
    tier: str = "high"
    synthetic_ratio: list[float] | None = None
    synthetic_count: list[int] | None = None
    overwrite: bool = False


def _sweep_values(a: TrainArgs) -> tuple[str | None, list]:
    """``(kind, values)``: kind is ``ratio``, ``count`` or None (no GAN crops)."""
    if a.synthetic_ratio is not None and a.synthetic_count is not None:
        raise ConfigError("give --synthetic-ratio or --synthetic-count, not both")
    kind, values = ("ratio", a.synthetic_ratio) if a.synthetic_ratio is not None else ("count", a.synthetic_count)
    if values is not None:
        if not values or any(v < 0 for v in values) or len(set(values)) != len(values):
            raise ConfigError(f"--synthetic-{kind}: give distinct values >= 0, comma-separated")
        if a.synthetic is None and any(v > 0 for v in values):
            raise ConfigError(f"--synthetic-{kind} > 0 needs --synthetic DIR (a gan sample folder)")
        return kind, list(values)
    if a.synthetic is not None:
        return "ratio", [1.0]
    return None, [None]


def _build_train_set(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.concatenate([p[0] for p in parts])  # N x S x S x 3
    y = np.concatenate([p[1] for p in parts])
    return to_tensor_u8(x), torch.from_numpy(y.astype(np.int64))


def _one_run(out: Path, a: TrainArgs, ctx: dict, parts: dict, value, log) -> dict:
    """Train and score one arm; write its files into ``out``. Returns its metrics.json content."""
    t0 = time.perf_counter()
    classes = ctx["classes"]
    train_x, train_y = _build_train_set([p for p in parts.values() if len(p[0])])
    torch.manual_seed(a.seed)  # model initialization; the sampler has its own generator
    model = build_model(a.model, len(classes), a.size)
    weights_info = None
    if a.weights is not None:
        loaded, skipped = load_weights(model, a.weights)
        weights_info = {"path": str(a.weights), "loaded": loaded, "skipped": skipped}
        log(f"weights: {loaded} tensors from {a.weights}, {len(skipped)} left at random init")
    norm = Normalizer(ctx["mean"], ctx["std"], ctx["device"])
    val_x, val_y = ctx["val"]
    cfg = FitConfig(epochs=a.epochs, batch=a.batch, lr=a.lr, weight_decay=a.weight_decay, patience=a.patience,
                    balanced=a.balanced, seed=a.seed)
    res = fit(model, train_x, train_y, to_tensor_u8(val_x), torch.from_numpy(val_y), norm, cfg, log)
    model.load_state_dict(res.best_state)
    scores = {s: score(model, *ctx[s], norm, classes) for s in ("train", "val", "test")}
    counts = {k: int(len(p[1])) for k, p in parts.items()}
    metrics = {
        "classes": classes,
        "best_epoch": res.best_epoch,
        "epochs_run": res.epochs_run,
        "stopped_early": res.stopped_early,
        "train_set": {"n_real": counts["real"], "n_classical": counts["classical"], "n_synthetic": counts["synthetic"],
                      "per_class": {c: int((train_y == i).sum()) for i, c in enumerate(classes)}},
        # "train" is scored on the real train images only (not the augmented/synthetic ones), best weights.
        "train": scores["train"][1],
        "val": scores["val"][1],
        "test": scores["test"][1],
        "generalization_gap": generalization_gap(scores["train"][1]["accuracy"], scores["test"][1]["accuracy"]),
    }
    wall = time.perf_counter() - t0
    write_json(out / "metrics.json", metrics)
    write_confusion(out, scores["test"][0], classes, f"{a.model} test (n={metrics['test']['n']})")
    write_curves(out, res.curves, res.best_epoch)
    # Per-image test predictions: the study's paired bootstrap and permutation tests resample these.
    test_pred = predict(model, to_tensor_u8(ctx["test"][0]), norm).argmax(1).numpy()
    (out / "test_predictions.csv").write_text(
        "file,true,pred\n" + "".join(f"{f},{t},{p}\n" for f, t, p in
                                     zip(ctx["test_files"], ctx["test"][1], test_pred, strict=True)),
        encoding="utf-8")
    torch.save(res.best_state, out / "best.pt")
    (out / "split.csv").write_text(ctx["split_csv"], encoding="utf-8")
    dev = ctx["device"]
    write_json(out / "run.json", {
        "command": "blendaug classify train",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(a).items()},
        "seed": a.seed, "split_seed": a.split_seed, "classes": classes,
        "model": {"name": a.model, "size": a.size, "num_classes": len(classes)},
        "normalization": {"mean": ctx["mean"], "std": ctx["std"]},
        "synthetic": {"dir": str(a.synthetic) if a.synthetic else None, "tier": a.tier, "kind": ctx["kind"],
                      "value": value},
        "weights": weights_info,
        "split": ctx["split_info"],
        "device": str(dev), "amp": dev.type == "cuda", "channels_last": dev.type == "cuda",
        "torch_threads": res.threads, "cpu_cores": usable_cores(),
        "versions": versions(), "warnings": ctx["warnings"].summary(),
        "wall_s": round(wall, 2),
    })
    log(f"test acc {metrics['test']['accuracy']:.3f}  balanced {metrics['test']['balanced_accuracy']:.3f}  "
        f"macro F1 {metrics['test']['macro_f1']:.3f}  train acc {metrics['train']['accuracy']:.3f}  "
        f"gap {metrics['generalization_gap']:+.3f}  best epoch {res.best_epoch}  ({wall:.0f} s)")
    metrics["_wall_s"] = wall
    return metrics


def train_run(a: TrainArgs, log=print, warnings: Warnings | None = None) -> Path:
    """Run ``classify train``; returns OUT. See the module docstring for what OUT holds."""
    t0 = time.perf_counter()
    warnings = warnings if warnings is not None else Warnings()
    kind, values = _sweep_values(a)
    tiers = parse_tiers(a.tier)
    if a.classical_factor < 0:
        raise ConfigError("--classical-factor must be >= 0")
    if a.epochs < 1 or a.batch < 2:
        raise ConfigError("--epochs must be >= 1 and --batch >= 2")
    device = resolve_device(a.device)
    build_model(a.model, 2, a.size)  # fail on a bad --model/--size before reading any image
    cs = make_splits(a.data, a.classes, a.val, a.test, a.split_seed, a.train_per_class, a.split_file, warnings)
    ctx = {"classes": cs.classes, "device": device, "warnings": warnings, "kind": kind,
           "split_csv": split_file_text(cs), "split_info": {"source": cs.source, "counts": cs.counts()}}
    for s in ("train", "val", "test"):
        x, y, kept = load_images(cs.root, cs.files[s], cs.labels[s], a.size, a.skip_bad, warnings)
        if s != "val" and not len(y):
            raise DataError(f"{a.data}: no readable images in the {s} split")
        ctx[s] = (x, y)
        ctx[f"{s}_files"] = kept
    ctx["mean"], ctx["std"] = channel_stats(ctx["train"][0])
    real = ctx["train"]
    classical = classical_augment(*real, a.classical_factor, a.seed, a.classical_policy)
    pool, cache = {}, {}
    if a.synthetic is not None:
        pool = read_synthetic_pool(a.synthetic, cs.classes, tiers, warnings)
    log(f"classes {', '.join(cs.classes)}; split ({cs.source}) "
        + ", ".join(f"{s} {len(ctx[s][1])}" for s in ("train", "val", "test"))
        + f"; classical +{len(classical[1])}; device {device}")
    real_counts = np.bincount(real[1], minlength=len(cs.classes)).tolist()
    rows = []
    with atomic_dir(a.out, overwrite=a.overwrite) as tmp:
        for value in values:
            synth = (real[0][:0], real[1][:0])
            if value:
                files, labels = select_synthetic(pool, real_counts, cs.classes, a.seed,
                                                 **{kind: value}, warnings=warnings)
                todo = [f for f in files if f not in cache]
                imgs, _, kept = load_images(Path(a.synthetic), todo, [0] * len(todo), a.size, a.skip_bad, warnings)
                cache.update(zip(kept, imgs, strict=True))
                ok = [(f, y) for f, y in zip(files, labels, strict=True) if f in cache]
                synth = (np.stack([cache[f] for f, _ in ok]) if ok else synth[0],
                         np.asarray([y for _, y in ok], dtype=np.int64))
            name = None if len(values) == 1 else (f"ratio_{value:g}" if kind == "ratio" else f"count_{value}")
            run_dir = tmp if name is None else tmp / name
            run_dir.mkdir(exist_ok=True)
            if name:
                log(f"--- {name}: +{len(synth[1])} GAN crops")
            m = _one_run(run_dir, a, ctx, {"real": real, "classical": classical, "synthetic": synth}, value, log)
            rows.append(sweep_row(name or "run", value, m, m["_wall_s"]))
        if len(values) > 1:
            write_sweep(tmp, rows, f"synthetic {kind}")
            (tmp / "split.csv").write_text(ctx["split_csv"], encoding="utf-8")
            write_json(tmp / "run.json", {"command": "blendaug classify train (sweep)", "kind": kind,
                                          "values": values, "runs": [r["run"] for r in rows],
                                          "args": {k: (str(v) if isinstance(v, Path) else v)
                                                   for k, v in asdict(a).items()},
                                          "versions": versions(), "warnings": warnings.summary(),
                                          "wall_s": round(time.perf_counter() - t0, 2)})
    return Path(a.out)
