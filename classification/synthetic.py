"""Extra training images: GAN crops (by tier, ratio or count) and classical offline augmentation.

GAN crops come from a ``blendaug gan sample`` folder: ``<class>/*.png`` + ``index.csv`` with columns
``file,class,arch,snapshot,tier,seed,score``. Without an index.csv the folder is read as an ImageFolder
tree, which only works with ``tier="all"``.

Selection is nested: each class's pool is shuffled once (seeded by class), and a run takes the first n
of that order, so the images of ratio 0.5 are a subset of those of ratio 1 in a sweep.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import albumentations as A
import cv2
import numpy as np

from blendaug.classification.data import scan_image_folder
from blendaug.data.errors import ConfigError, DataError, Warnings, where

GAN_COLUMNS = ("file", "class", "arch", "snapshot", "tier", "seed", "score")
TIERS = ("low", "mid", "high")


def parse_tiers(value: str) -> tuple[str, ...]:
    """``"high"`` / ``"mid,high"`` / ``"all"`` -> tiers to keep."""
    tiers = tuple(t.strip() for t in value.split(",") if t.strip())
    if tiers == ("all",):
        return TIERS
    bad = [t for t in tiers if t not in TIERS]
    if not tiers or bad:
        raise ConfigError(f"--tier: unknown tier {', '.join(bad) or repr(value)} (choose from {', '.join(TIERS)}, all)")
    return tiers


def read_synthetic_pool(root: Path, classes: list[str], tiers: tuple[str, ...],
                        warnings: Warnings) -> dict[str, list[str]]:
    """``{class: sorted rel paths}`` of the GAN crops to draw from, for the run's classes only.

    Classes the real data lacks are skipped with one counted warning per class.

    Raises:
        DataError: missing folder, bad index.csv (naming the line), a listed file that does not exist.
        ConfigError: a tier filter without an index.csv.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: synthetic folder not found")
    index = root / "index.csv"
    pool: dict[str, list[str]] = {}
    if index.is_file():
        rows = list(csv.DictReader(io.StringIO(index.read_text(encoding="utf-8"))))
        missing = [c for c in GAN_COLUMNS if rows and c not in rows[0]] if rows else list(GAN_COLUMNS)
        if missing:
            raise DataError(f"{index}: missing column(s) {', '.join(missing)} (need {','.join(GAN_COLUMNS)})")
        for line, r in enumerate(rows, start=2):
            if r["tier"] not in tiers:
                continue
            if not (root / r["file"]).is_file():
                raise DataError(f"{where(index, line)}: {r['file']} not found under {root}")
            pool.setdefault(r["class"], []).append(r["file"])
    else:
        if set(tiers) != set(TIERS):
            raise ConfigError(f"{root}: no index.csv, so the tier is unknown; pass --tier all to use every image")
        pool = {c: [p.relative_to(root).as_posix() for p in ps]
                for c, ps in scan_image_folder(root, warnings).items()}
    for name in sorted(set(pool) - set(classes)):
        warnings.add("synthetic class not in real data", f"{root}: class {name!r} ({len(pool[name])} images) skipped")
    return {c: sorted(pool.get(c, [])) for c in classes}


def select_synthetic(pool: dict[str, list[str]], real_counts: list[int], classes: list[str], seed: int,
                     ratio: float | None = None, count: int | None = None,
                     warnings: Warnings | None = None) -> tuple[list[str], list[int]]:
    """Pick GAN crops per class: ``round(ratio * real train count)`` or ``count`` per class.

    Returns:
        ``(rel paths, class ids)``. A class whose pool is short gives all it has (counted warning).
    """
    if (ratio is None) == (count is None):
        raise ValueError("give exactly one of ratio and count")
    warnings = warnings if warnings is not None else Warnings()
    files: list[str] = []
    labels: list[int] = []
    for i, c in enumerate(classes):
        want = count if count is not None else int(round(ratio * real_counts[i]))
        if want <= 0:
            continue
        order = np.random.default_rng([seed, 2, i]).permutation(len(pool[c]))
        if len(order) < want:
            warnings.add("synthetic pool short", f"{c}: wanted {want} GAN crops, the pool has {len(order)}")
        chosen = [pool[c][k] for k in order[:want]]
        files += chosen
        labels += [i] * len(chosen)
    return files, labels


def _ground(size: int) -> list:
    # Road-side views: vehicles are never upside down, so no vertical flip and small rotations.
    return [
        A.Rotate(limit=15, border_mode=cv2.BORDER_REFLECT_101, p=0.7),
        A.HorizontalFlip(p=0.5),
        A.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25, hue=0.04, p=0.8),
        A.Perspective(scale=(0.02, 0.08), border_mode=cv2.BORDER_REFLECT_101, p=0.5),
        A.GaussNoise(std_range=(0.02, 0.08), p=0.5),
    ]


def _aerial(size: int) -> list:
    # Top-down views: any rotation and both flips keep the label.
    return [
        A.Rotate(limit=180, border_mode=cv2.BORDER_REFLECT_101, p=0.7),
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
        A.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25, hue=0.04, p=0.8),
        A.Perspective(scale=(0.02, 0.08), border_mode=cv2.BORDER_REFLECT_101, p=0.5),
        A.GaussNoise(std_range=(0.02, 0.08), p=0.5),
    ]


CLASSICAL_POLICIES: dict[str, Callable[[int], list]] = {"ground": _ground, "aerial": _aerial}


def classical_augment(images: np.ndarray, labels: np.ndarray, factor: int, seed: int,
                      policy: str = "ground") -> tuple[np.ndarray, np.ndarray]:
    """Label-preserving augmented copies, generated offline: ``factor`` copies of every image.

    Args:
        images: (N, S, S, 3) uint8 real train images.
        labels: (N,) class ids.
        factor: augmented copies per real image (the train set grows to (1 + factor) * N).
        seed: albumentations' Compose seed; the same seed gives the same images.
        policy: a key of ``CLASSICAL_POLICIES``.

    Returns:
        ``(augmented (factor*N, S, S, 3) uint8, labels (factor*N,))``, copy-major order.
    """
    if policy not in CLASSICAL_POLICIES:
        raise ConfigError(f"--classical-policy: unknown {policy!r} (choose from {', '.join(CLASSICAL_POLICIES)})")
    if factor <= 0 or len(images) == 0:
        return images[:0].copy(), labels[:0].copy()
    pipeline = A.Compose(CLASSICAL_POLICIES[policy](images.shape[1]), seed=seed)
    out = np.empty((factor * len(images), *images.shape[1:]), dtype=np.uint8)
    for k in range(factor):
        for i, img in enumerate(images):
            out[k * len(images) + i] = pipeline(image=img)["image"]
    return out, np.tile(labels, factor)
