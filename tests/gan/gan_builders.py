"""Tiny inputs for the GAN tests: crops folders of coloured squares and quality tables."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from blendaug.data.imageio import save_image

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 30)}
INDEX_HEADER = ["file", "class", "class_id", "split", "source_image", "x1", "y1", "x2", "y2"]


def square(colour, size: int, x: int, y: int) -> np.ndarray:
    """A grey (size, size, 3) uint8 crop with a coloured square of side size // 3 at (x, y)."""
    im = np.full((size, size, 3), 128, dtype=np.uint8)
    im[y : y + size // 3, x : x + size // 3] = colour
    return im


def make_crops(root: Path, classes=("red", "blue"), n: int = 6, size: int = 32, seed: int = 0) -> Path:
    """A ``data crops`` folder: ``n`` coloured-square crops per class plus index.csv."""
    rng = np.random.default_rng(seed)
    rows = []
    for cid, name in enumerate(classes):
        for i in range(n):
            x, y = rng.integers(2, size // 2, 2)
            rel = f"{name}/{cid * n + i:06d}.png"
            save_image(root / rel, square(COLOURS[name], size, x, y))
            rows.append([rel, name, cid, "train", "scene.jpg", 0, 0, 10, 10])
    with (root / "index.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(INDEX_HEADER)
        writer.writerows(rows)
    return root


def squares_batch(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """(n, 3, size, size) red squares on grey in [-1, 1]: the trivial distribution of the step tests."""
    rng = np.random.default_rng(seed)
    images = np.stack([square(COLOURS["red"], size, *rng.integers(2, size // 2, 2)) for _ in range(n)])
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def write_quality(run: Path, rows: list[tuple[int, str, str, float | str]]) -> Path:
    """A hand-made RUN/quality.csv from ``(snapshot, class, tier, quality)`` rows."""
    path = run / "quality.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["snapshot", "class", "quality", "tier"])
        writer.writerows([(s, c, q, t) for s, c, t, q in rows])
    return path
