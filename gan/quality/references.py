"""Noise references: what a useless generator of one class draws, built from the class's train crops.

The scorer measures these exactly like a snapshot and takes the better-scoring one as the "noise"
anchor of the class (the hardest useless baseline): a snapshot must beat every one of them clearly
before its crops feed any tier. Pure functions: uint8 crops in, uint8 crops out, randomness from ``rng``.

- ``flat``: each crop one flat colour, the mean colour of a random train crop of the class.
- ``blur``: per-pixel Gaussian noise with the class's per-pixel mean and standard deviation, blurred
  (sigma = side / 8): soft blobs with the class's average layout (grey letterbox bars included).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

NoiseFn = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def flat_colour(train: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` flat crops (n, S, S, 3), each the mean colour of a random crop of ``train`` (N, S, S, 3)."""
    pick = rng.integers(0, len(train), n)
    colours = train.reshape(len(train), -1, 3).mean(axis=1)[pick]  # n x 3
    return np.broadcast_to(np.rint(colours)[:, None, None, :], (n, *train.shape[1:])).astype(np.uint8)


def blurred_noise(train: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` crops of blurred per-pixel Gaussian noise with the mean and std of ``train`` (N, S, S, 3)."""
    x = train.astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)  # S x S x 3
    sigma = train.shape[1] / 8
    out = np.empty((n, *train.shape[1:]), dtype=np.uint8)
    for i in range(n):
        noise = rng.standard_normal(mean.shape).astype(np.float32)
        smooth = cv2.GaussianBlur(noise, (0, 0), sigma)
        smooth /= max(float(smooth.std()), 1e-6)  # back to unit spread after the blur
        out[i] = np.clip(np.rint(mean + std * smooth), 0, 255).astype(np.uint8)
    return out


NOISE_REFERENCES: dict[str, NoiseFn] = {"flat": flat_colour, "blur": blurred_noise}
