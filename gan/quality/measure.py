"""Measuring one set of crops per class against held-out real crops: the array core of ``gan score``.

:class:`Reference` holds the real crops (train and held-out, as images and features). Everything
measured about a snapshot is measured the same way about the class's anchors, so the two ends of the
quality scale are comparable with the snapshot:

- the real anchor: ``n_c`` real *train* crops of the class (what a perfect generator, drawing from the
  distribution the GAN learned, would score against held-out crops), its FID averaged over a few
  random draws of them (one draw moved a class's scale by a third on toyworld);
- the noise anchors: ``n_c`` crops of each noise reference (:mod:`~blendaug.gan.quality.references`).

``n_c = min(n, train crops of the class)`` for the snapshot and the anchors alike, because FID depends
on the sample size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from blendaug.gan.quality import metrics
from blendaug.gan.quality.memorisation import copy_z, nearest_distances
from blendaug.gan.quality.ssim import nearest_real_ssim

SET_METRICS = ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage", "ssim_nn", "copy_z")


@dataclass(frozen=True)
class MeasureConfig:
    """How a set is measured (part of ``ScoreConfig``)."""

    k: int = 5  # neighbours for precision/recall/density/coverage
    kid_subset_size: int = 100  # KID subset size (capped at the smaller set)
    kid_subsets: int = 50  # KID subsets
    ssim_fakes: int = 64  # generated crops per class checked for their nearest held-out crop by SSIM
    ssim_reals: int = 64  # held-out crops per class they are compared with (random subset)
    seed: int = 0


@dataclass(frozen=True)
class Reference:
    """The real crops a scorer compares with, per class index ``c``.

    Attributes:
        class_names: classes in id order.
        train, heldout: uint8 crops per class (N_c, S, S, 3) and (H_c, S, S, 3).
        train_feats, heldout_feats: their features per class.
        copy_nn: per class, the copy check's reference: each reference crop's distance to its nearest train
            crop of the class. The reference is the held-out crops, or ``copy`` given to :meth:`build`: crops
            of train frames held out from training, when the held-out crops come from other scenes (a split
            by sequence), where new frames of the train scenes would be closer to the train crops than they are.
    """

    class_names: list[str]
    train: list[np.ndarray]
    heldout: list[np.ndarray]
    train_feats: list[np.ndarray]
    heldout_feats: list[np.ndarray]
    copy_nn: list[np.ndarray]

    @classmethod
    def build(cls, names: list[str], train: list[np.ndarray], heldout: list[np.ndarray], embed,
              copy: list[np.ndarray] | None = None) -> Reference:
        tf = [embed(x) for x in train]
        hf = [embed(x) for x in heldout]
        cf = hf if copy is None else [embed(x) for x in copy]
        return cls(names, train, heldout, tf, hf, [nearest_distances(r, t) for r, t in zip(cf, tf, strict=True)])

    def n_for(self, c: int, n: int) -> int:
        """Crops drawn per set for class ``c``: ``min(n, train crops of c)``."""
        return min(n, len(self.train[c]))


def measure_set(images: np.ndarray, feats: np.ndarray, ref: Reference, c: int, cfg: MeasureConfig) -> dict:
    """FID, KID, PRDC, SSIM and the copy z-score of one class's crops ``images`` (features ``feats``).

    Everything against the held-out crops of class ``c``, except the memorisation z-score, which
    compares nearest-train distances with the reference's (``ref.copy_nn``, see
    :mod:`~blendaug.gan.quality.memorisation`). Also returns the
    nearest-train distances themselves (``_nn``) for pooling over classes.
    """
    held, held_feats = ref.heldout[c], ref.heldout_feats[c]
    kid_mean, kid_std = metrics.kid(held_feats, feats, cfg.kid_subset_size, cfg.kid_subsets, cfg.seed)
    rng = np.random.default_rng([cfg.seed, c])  # the same held-out subset for every set of this class
    pick = np.sort(rng.permutation(len(held))[: cfg.ssim_reals])
    ssim = nearest_real_ssim(images[: cfg.ssim_fakes], held[pick]) if len(held) and len(images) else np.zeros(0)
    nn = nearest_distances(feats, ref.train_feats[c])
    return {
        "fid": metrics.fid(held_feats, feats),
        "kid_mean": kid_mean,
        "kid_std": kid_std,
        **metrics.prdc(held_feats, feats, cfg.k),
        "ssim_nn": float(ssim.mean()) if len(ssim) else math.nan,
        "copy_z": copy_z(nn, ref.copy_nn[c]),
        "_nn": nn,
    }


def tstr(fakes: list[np.ndarray], ref: Reference, seed: int, device: str = "cpu",
         classes: Sequence[int] | None = None) -> np.ndarray:
    """Per-class accuracy on the held-out crops of a classifier trained on ``fakes`` (one array per class).

    Args:
        classes: the class indices the classifier tells apart (default: all); the others get NaN.

    NaN everywhere for fewer than two classes (nothing to tell apart).
    """
    k = len(ref.class_names)
    use = list(range(k)) if classes is None else list(classes)
    acc = np.full(k, math.nan)
    if len(use) < 2:
        return acc
    labels = np.concatenate([np.full(len(fakes[c]), j) for j, c in enumerate(use)])
    test_labels = np.concatenate([np.full(len(ref.heldout[c]), j) for j, c in enumerate(use)])
    acc[use] = metrics.tstr_accuracy(np.concatenate([fakes[c] for c in use]), labels,
                                     np.concatenate([ref.heldout[c] for c in use]), test_labels, len(use),
                                     seed=seed, device=device)  # fmt: skip
    return acc


def balanced(acc: np.ndarray) -> float:
    """Mean of the finite per-class accuracies (= balanced accuracy); NaN if none."""
    finite = acc[np.isfinite(acc)]
    return float(finite.mean()) if len(finite) else math.nan


def real_anchor_sets(ref: Reference, n: int, seed: int, draw: int = 0) -> list[np.ndarray]:
    """Indices of the real-anchor train crops per class: ``n_c`` of them, seeded by ``(seed, draw)``, no repeats."""
    return [np.sort(np.random.default_rng([seed, c, 1, draw]).permutation(len(t))[: ref.n_for(c, n)])
            for c, t in enumerate(ref.train)]  # fmt: skip
