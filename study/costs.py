"""Rough node costs in seconds on a 2-core CPU, from the nodes' sizes, for ``--dry-run`` and the console's ETA.

The constants were measured on this project's 2-core machine (README "A real quick.yaml run"); a GPU is
much faster, and once a node of a kind has finished the console and the plan use its measured rate instead.
They were measured with one torch thread per node; training nodes (detectors, generators, classifiers) given more
threads are divided by :func:`thread_speedup`.
"""

from __future__ import annotations

import functools
from pathlib import Path

from blendaug.gan.families import FAMILIES, family_of
from blendaug.study.config import StudyConfig
from blendaug.study.noderun import job_threads

# Seconds per unit, measured on the 2-core CPU (YOLOv8n at 256 px, batch 4; smallcnn at 32 px; cdcgan width 24).
# A detector run: a training image, a val image each epoch (val runs after every epoch, and its per-epoch
# overhead is folded in here) and a fixed part (model build, the test evaluation); fitted to the drone-view
# study's quiet runs (docs/findings.md: 1000 images seen, 66 val frames, 20-100 epochs, 2.9-4.9 min).
DETECT_S_PER_IMAGE_EPOCH_256 = 0.06
DETECT_S_PER_VAL_IMAGE_256 = 0.033
DETECT_FIXED_S_256 = 15.0
CLASSIFY_S_PER_CROP_EPOCH_32 = 0.002
GAN_S_PER_STEP_BATCH32_WIDTH24_32PX = 0.06
COMPOSITE_S_PER_IMAGE = 0.02
TILE_S_PER_TILE = 0.006  # 908 tiles of 384 px from 63 jekhor frames in 5.0 s
TOYWORLD_S_PER_IMAGE_512 = 0.05
CROPS_PER_IMAGE = 10.0  # vehicles per toyworld frame at 512 px, for the crop counts

# Training on n torch threads is n ** THREAD_EXPONENT times faster than on one: a jekhor YOLOv8n epoch took 62.2 s
# with 1 thread and 35.7 s with 2 on the 2-core CPU (1.74x = 2 ** 0.8), a cDCGAN of 1600 steps about 1.8x.
THREAD_EXPONENT = 0.8

# Every kind's cost is already in seconds: a prior rate of 1 second per unit.
RATES = {k: 1.0 for k in ("data", "subset", "tiles", "crops", "generator", "samples", "arm", "detect", "classify")}


@functools.lru_cache(maxsize=16)
def _folder_images(root: Path) -> int:
    """Image files under ``root``, counted once per process (every detector node of a plan asks)."""
    if not root.is_dir():
        return 0
    return sum(1 for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))


@functools.lru_cache(maxsize=16)
def _folder_sizes(root: Path) -> tuple[tuple[int, int], ...]:
    """``(width, height)`` of every image under ``root`` (headers only), once per process."""
    from blendaug.data.imageio import image_size

    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
    return tuple(image_size(p) for p in files)


def _images(cfg: StudyConfig) -> float:
    d = cfg.dataset
    if d.source == "toyworld":
        return float(d.toyworld.images)
    return float(max(_folder_images(Path(d.path or ".").absolute()), 1))


def node_threads(cfg: StudyConfig) -> int:
    """The torch threads a training node of ``cfg`` gets (the executor's rule, :func:`noderun.job_threads`)."""
    return job_threads(cfg.executor.kind, cfg.executor.threads_per_job)


def thread_speedup(cfg: StudyConfig) -> float:
    return node_threads(cfg) ** THREAD_EXPONENT


def tiles_per_image(cfg: StudyConfig) -> float:
    """Detector images per frame: 1, or with ``dataset.tile`` the mean number of tiles of the dataset's frames."""
    from blendaug.data.tiles import tile_windows

    d = cfg.dataset
    if d.tile is None:
        return 1.0
    if d.source == "toyworld":
        return float(len(tile_windows(d.toyworld.size, d.toyworld.size, d.tile)))
    sizes = _folder_sizes(Path(d.path or ".").absolute())
    return sum(len(tile_windows(w, h, d.tile)) for w, h in sizes) / len(sizes) if sizes else 1.0


def train_frames(cfg: StudyConfig) -> float:
    """The (expected) number of real train frames: the subsample, toyworld's share, or the folder's images."""
    d = cfg.dataset
    if d.train_size is not None:
        return float(d.train_size)
    return _images(cfg) * (1.0 - d.split.val - d.split.test)


def train_images(cfg: StudyConfig) -> float:
    """The (expected) number of real train images a detector sees per epoch: frames, or their tiles."""
    return train_frames(cfg) * tiles_per_image(cfg)


def val_images(cfg: StudyConfig) -> float:
    """The (expected) number of val images: the split's share of the dataset's frames, or their tiles."""
    return _images(cfg) * cfg.dataset.split.val * tiles_per_image(cfg)


def tile_cost(cfg: StudyConfig) -> float:
    return _images(cfg) * tiles_per_image(cfg) * TILE_S_PER_TILE


def data_cost(cfg: StudyConfig) -> float:
    d = cfg.dataset
    if d.source != "toyworld":
        return 5.0
    return d.toyworld.images * TOYWORLD_S_PER_IMAGE_512 * (d.toyworld.size / 512) ** 2


# A step of each generator relative to a cDCGAN step at the same batch, width and size (measured on the 2-core CPU,
# gan/README.md). A generator family that trains one model per class spends its budget per model (Family.units).
STEP_COST = {"dcgan": 1.0, "cdcgan": 1.0, "wgan-gp": 1.5, "cwgan-gp": 1.5, "fastgan": 5.0, "cfastgan": 5.0,
             "vae": 1.5, "cvae": 1.6, "ddpm": 12.0, "cyclegan": 40.0, "replay": 0.0}


def classes(cfg: StudyConfig) -> int:
    return len(cfg.dataset.names) if cfg.dataset.names else (3 if cfg.dataset.source == "toyworld" else 1)


def generator_cost(cfg: StudyConfig, arch: str) -> float:
    g = cfg.gan
    steps = g.steps or (g.epochs or 1) * train_frames(cfg) * CROPS_PER_IMAGE / g.batch
    steps *= FAMILIES[family_of(arch)].units(arch, classes(cfg))
    size = g.image_size or cfg.crops.size
    per_step = GAN_S_PER_STEP_BATCH32_WIDTH24_32PX * STEP_COST.get(arch, 1.0)
    return steps * per_step * (g.batch / 32) * (g.width / 24) ** 2 * (size / 32) ** 2 / thread_speedup(cfg)


def detect_cost(cfg: StudyConfig, synthetic_per_real: float) -> float:
    """Under ``budget: images`` every arm sees the baseline's images in fewer epochs; under ``epochs`` it sees
    (1 + ratio) x as many in the same epochs. Each epoch also validates on the val split."""
    d = cfg.detection
    n_train = train_images(cfg)
    baseline = d.images_seen if d.images_seen is not None else d.epochs * n_train
    per_epoch = n_train * (1.0 + synthetic_per_real)
    if d.budget == "images":
        seen, epochs = baseline, baseline / per_epoch
    else:
        epochs = baseline / n_train
        seen = epochs * per_epoch
    s = DETECT_FIXED_S_256 + seen * DETECT_S_PER_IMAGE_EPOCH_256 + epochs * val_images(cfg) * DETECT_S_PER_VAL_IMAGE_256
    return s * (d.imgsz / 256) ** 2 / thread_speedup(cfg)


def classify_cost(cfg: StudyConfig, synthetic_per_real: float) -> float:
    c = cfg.classification
    crops = train_frames(cfg) * CROPS_PER_IMAGE * (1.0 if c.budget == "images" else 1.0 + synthetic_per_real)
    return c.epochs * crops * CLASSIFY_S_PER_CROP_EPOCH_32 * (c.size / 32) ** 2 / thread_speedup(cfg)


def arm_cost(cfg: StudyConfig, ratio: float) -> float:
    return train_images(cfg) * ratio * COMPOSITE_S_PER_IMAGE
