"""One orientation for training, every orientation at sampling (``gan.orient``), for any family.

Top-down crops have no "up": a vehicle is as often seen along y as along x. A generator trained on
both learns a cross-shaped average of the two for many steps (measured on toyworld: after 600 steps
of a cDCGAN most samples were a horizontal and a vertical vehicle on top of each other; with the tall
crops turned, the same 600 steps gave horizontal vehicles with windows and cabs). With ``orient``,
crops whose source box is taller than wide are turned a quarter turn (counter-clockwise) before
training, the share of turned crops per class is recorded in ``run.json`` (``orientation``), and
:class:`OrientedSnapshot` turns each sampled crop back (clockwise) with that probability, drawn
crop by crop from the sampling seed, so the samples keep the data's mix of orientations and crop
``k`` still does not depend on ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blendaug.gan.data import Crops


def canonical(crops: Crops) -> tuple[Crops, dict[str, float]]:
    """Tall crops turned a quarter turn counter-clockwise, and the share turned per class."""
    tall = crops.tall if crops.tall is not None else np.zeros(len(crops.images), dtype=bool)
    images = crops.images.copy()
    images[tall] = np.rot90(crops.images[tall], 1, axes=(1, 2))
    share = {c: float(tall[crops.labels == i].mean()) if (crops.labels == i).any() else 0.0
             for i, c in enumerate(crops.class_names)}  # fmt: skip
    turned = Crops(images, crops.labels, crops.class_names, crops.files, crops.sources, np.zeros_like(tall))
    return turned, share


def turn_back(images: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Turn each crop (N, S, S, 3) clockwise with probability ``share``; crop k's draw depends on (seed, k) only."""
    turn = np.random.default_rng([int(seed), 0x07]).random(len(images)) < share
    out = images.copy()
    out[turn] = np.rot90(images[turn], -1, axes=(1, 2))
    return out


@dataclass
class OrientedSnapshot:
    """A family's snapshot whose samples are turned back to the data's orientations."""

    inner: object
    share: dict[str, float]

    @property
    def step(self) -> int:
        return self.inner.step

    @property
    def classes(self) -> list[str]:
        return self.inner.classes

    def sample(self, class_name: str, n: int, seed: int, device: str = "cpu") -> np.ndarray:
        return turn_back(self.inner.sample(class_name, n, seed, device), self.share.get(class_name, 0.0), seed)
