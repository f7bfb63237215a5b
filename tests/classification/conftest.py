"""Tiny crop folders for the classification tests: each class a distinct colour plus noise, so it is learnable."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from blendaug.data.imageio import save_image

COLOURS = {"car": (200, 40, 40), "truck": (40, 200, 40), "van": (40, 40, 200), "bus": (200, 200, 40)}


def write_crops(root: Path, counts: dict[str, int], size: int = 32, seed: int = 0, suffix: str = ".png") -> Path:
    """``root/<class>/<class>_<i>.png``: a coloured square on a noisy grey background."""
    rng = np.random.default_rng(seed)
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = rng.integers(60, 120, (size, size, 3)).astype(np.uint8)
            img[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = COLOURS.get(name, (128, 128, 128))
            save_image(root / name / f"{name}_{i:03d}{suffix}", img)
    return root


def write_gan_samples(root: Path, counts: dict[str, dict[str, int]], size: int = 32, seed: int = 1) -> Path:
    """A ``gan sample`` folder: ``counts[class][tier]`` images plus index.csv."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, tiers in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for tier, n in tiers.items():
            for i in range(n):
                img = rng.integers(0, 255, (size, size, 3)).astype(np.uint8)
                img[8:24, 8:24] = COLOURS.get(name, (128, 128, 128))
                rel = f"{name}/{tier}_{i:03d}.png"
                save_image(root / rel, img)
                rows.append([rel, name, "dcgan", 10, tier, i, 0.5])
    with open(root / "index.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "class", "arch", "snapshot", "tier", "seed", "score"])
        w.writerows(rows)
    return root


@pytest.fixture
def crops(tmp_path) -> Path:
    """Three classes (car, truck, van) x 12 images at 32 px."""
    return write_crops(tmp_path / "crops", {"car": 12, "truck": 12, "van": 12})


@pytest.fixture
def crop_writer():
    """The :func:`write_crops` helper (conftest modules are not importable under importlib mode)."""
    return write_crops


@pytest.fixture
def gan_writer():
    """The :func:`write_gan_samples` helper."""
    return write_gan_samples
