"""The shared stages of a study, each a resumable step: data, crops, GANs, samples, arm datasets.

Every function takes the resolved config and the run folder, runs (or skips) its step through
:func:`study.steps.run_step`, and returns the fingerprint that downstream steps put into their keys.
So changing one arm's settings reruns that arm's dataset and jobs, and nothing upstream.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from blendaug.data.errors import Warnings
from blendaug.study.config import StudyConfig
from blendaug.study.steps import StepResult, run_step

GAN_ARMS = {"blended_high": "high", "blended_low": "low", "blended_mixed": "mixed"}


def dataset_yaml(run: Path) -> Path:
    return run / "data" / "dataset" / "data.yaml"


def gan_run_dir(run: Path, arch: str) -> Path:
    return run / "gan" / arch / "run"


def crops_dir(run: Path, split: str) -> Path:
    return run / "crops" / split


def step_data(cfg: StudyConfig, run: Path, log) -> StepResult:
    """Generate or import the images, split them (groups kept together), subsample train."""
    from blendaug.data.io import read_dataset
    from blendaug.data.split import split_dataset
    from blendaug.data.yolo import write_yolo

    d = cfg.dataset

    def build(folder: Path) -> None:
        warnings = Warnings()
        if d.source == "toyworld":
            from blendaug.data.toyworld import ToyworldConfig, generate_toyworld

            src = generate_toyworld(folder / "raw", ToyworldConfig(n_images=d.toyworld.images, seed=d.toyworld.seed,
                                                                   size=d.toyworld.size), overwrite=True)
        else:
            src = Path(d.path)
        ds = read_dataset(src, fmt=d.format, names=d.names, warnings=warnings)
        ds = split_dataset(ds, val=d.split.val, test=d.split.test, seed=d.split.seed, group=d.split.group,
                           train_size=d.train_size, warnings=warnings)
        write_yolo(ds, folder / "dataset", overwrite=True)
        for line in warnings.summary():
            log(f"  {line}")

    return run_step(run / "data", {"dataset": d.model_dump()}, build)


def step_crops(cfg: StudyConfig, run: Path, data_fp: str) -> StepResult:
    """Object crops: train (GAN training data and the classifier's train set), val and test (evaluation only)."""
    from blendaug.data.crops import extract_crops
    from blendaug.data.yolo import read_yolo

    c = cfg.crops

    def build(folder: Path) -> None:
        ds = read_yolo(dataset_yaml(run))
        for split in ("train", "val", "test"):
            # Test crops only ever evaluate the classifier; nothing trains on them.
            extract_crops(ds, folder / split, split=split, size=c.size, pad=c.pad, min_px=c.min_px,
                          allow_test=split == "test", fit=c.fit, overwrite=True)

    return run_step(run / "crops", {"data": data_fp, "crops": c.model_dump()}, build)


def needed_tiers(cfg: StudyConfig) -> list[str]:
    return sorted({GAN_ARMS[a] for a in cfg.arms if a in GAN_ARMS})


def step_gan(cfg: StudyConfig, run: Path, arch: str, crops_fp: str) -> StepResult:
    """Train one GAN architecture on the train crops (resuming a killed run), then score its snapshots."""
    from blendaug.gan.quality.score import ScoreConfig, score_run
    from blendaug.gan.train import TrainConfig, train_run

    g = cfg.gan
    seed = cfg.seeds[0]

    def build(folder: Path) -> None:
        tc = TrainConfig(arch=arch, epochs=g.epochs, snapshots=tuple(s for s in g.snapshots if s <= g.epochs),
                         batch=g.batch, seed=seed, image_size=cfg.crops.size, diffaugment=g.diffaugment)
        train_run(crops_dir(run, "train"), folder / "run", tc, device=_device(cfg), progress=True,
                  log=lambda m: None)
        score_run(folder / "run", crops_dir(run, "train"), ScoreConfig(n=g.score_n, seed=seed), device=_device(cfg),
                  log=lambda m: None)

    return run_step(run / "gan" / arch, {"crops": crops_fp, "gan": g.model_dump(exclude={"archs"}), "arch": arch,
                                          "seed": seed, "size": cfg.crops.size}, build)


def step_samples(cfg: StudyConfig, run: Path, tier: str, gan_fps: dict[str, str]) -> StepResult:
    """Sample GAN crops of one tier from every architecture into one crop folder with one index.csv."""
    from blendaug.gan.sample import sample_run

    n = cfg.synthetic.samples_per_class
    archs = list(gan_fps)

    def build(folder: Path) -> None:
        rows: list[dict] = []
        per_arch = [n // len(archs) + (1 if i < n % len(archs) else 0) for i in range(len(archs))]
        for arch, k in zip(archs, per_arch, strict=True):
            if k == 0:
                continue
            part = folder / "parts" / arch
            sample_run(gan_run_dir(run, arch), part, n=k, tier=tier, seed=cfg.seeds[0], device=_device(cfg),
                       overwrite=True)
            with open(part / "index.csv", newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    src = part / row["file"]
                    row["file"] = f"{row['class']}/{arch}_{src.name}"
                    (folder / "crops" / row["class"]).mkdir(parents=True, exist_ok=True)
                    shutil.move(src, folder / "crops" / row["file"])
                    rows.append(row)
        shutil.rmtree(folder / "parts", ignore_errors=True)
        with open(folder / "crops" / "index.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    return run_step(run / "samples" / tier, {"gans": gan_fps, "tier": tier, "n": n, "seed": cfg.seeds[0]}, build)


def arm_key(cfg: StudyConfig, arm: str) -> dict:
    return {"arm": arm, "synthetic": cfg.synthetic.model_dump(), "seed": cfg.seeds[0]}


def step_arm_dataset(cfg: StudyConfig, run: Path, arm: str, upstream: dict[str, str]) -> StepResult | None:
    """The arm's detection training set: the real data plus composites (or classical copies). None for baseline."""
    if arm == "baseline":
        return None
    s = cfg.synthetic

    def build(folder: Path) -> None:
        if arm == "classical":
            from blendaug.data.yolo import read_yolo
            from blendaug.study.classical import write_classical_dataset

            write_classical_dataset(read_yolo(dataset_yaml(run)), folder / "dataset", s.copies, cfg.seeds[0])
            return
        from blendaug.compositing.compose import CompositeConfig
        from blendaug.compositing.run import run_composite

        lo, hi = (int(v) for v in s.per_image.split("-"))
        crops = crops_dir(run, "train") if arm == "paste_real" else run / "samples" / GAN_ARMS[arm] / "crops"
        run_composite(dataset_yaml(run), crops, folder / "dataset",
                      CompositeConfig(per_image=(lo, hi), blend=s.blend, mask=s.mask), seed=cfg.seeds[0],
                      copies=s.copies, overwrite=True, progress=False)

    return run_step(run / "arms" / arm, {**arm_key(cfg, arm), **upstream}, build)


def arm_data_yaml(run: Path, arm: str) -> Path:
    return dataset_yaml(run) if arm == "baseline" else run / "arms" / arm / "dataset" / "data.yaml"


def _device(cfg: StudyConfig) -> str:
    if cfg.device != "auto":
        return cfg.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
