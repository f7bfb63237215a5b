"""Sample-quality metrics on feature vectors and images: pure functions on arrays.

- FID and KID: torchmetrics, fed precomputed features through a pass-through "feature extractor",
  so the real features are computed once and reused for every snapshot and for the k-NN metrics.
- Precision, recall, density and coverage: k-NN balls (Kynkaenniemi et al. 2019; Naeem et al. 2020),
  written here because torchmetrics has none; it follows the authors' reference code (``prdc``):
  a point is inside a ball only if its distance is strictly smaller than the radius.
- SSIM to the nearest real crop: see :mod:`blendaug.gan.quality.ssim`.
- TSTR: see :func:`tstr_accuracy`.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from blendaug.gan.quality.classifier import ClassifierConfig, predict, train_classifier

# TSTR trains one classifier per snapshot, so it is small; 16 x 16 inputs, quarter-turn augmentation and at least
# 300 steps: trained on 100 real train crops per class of toyworld, it reached 0.79-0.88 balanced accuracy on
# held-out scenes over 4 seeds (the old 32 x 32, 100-step recipe without quarter turns: 0.71).
TSTR_CONFIG = ClassifierConfig(
    image_size=16, width=16, num_features=64, epochs=10, batch=64, rotation_head=False, min_steps=300,
    rot90_augment=True,
)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one CPU thread: on these small matrices, thread hand-offs cost more than the maths
    (measured 10x slower KID with 2 threads on a busy 2-core machine). The old setting is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Precomputed(nn.Module):
    """A torchmetrics "feature extractor" that returns its input: the features are already computed."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _check_pair(real: np.ndarray, fake: np.ndarray) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature arrays must be (N, D) with the same D, got {real.shape} and {fake.shape}")


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D) and (M, D); NaN if N or M < 2."""
    _check_pair(real, fake)
    if len(real) < 2 or len(fake) < 2:
        return math.nan
    from torchmetrics.image.fid import FrechetInceptionDistance

    with one_thread():
        metric = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]))
        metric.update(torch.from_numpy(np.asarray(real, dtype=np.float64)), real=True)
        metric.update(torch.from_numpy(np.asarray(fake, dtype=np.float64)), real=False)
        value = float(metric.compute())
    # Rounding in the matrix square root can give a tiny negative distance for identical sets.
    return max(value, 0.0)


def kid(
    real: np.ndarray, fake: np.ndarray, subset_size: int = 100, subsets: int = 100, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception Distance (mean, std over random subsets) of two feature sets; NaN if a set has < 2 rows.

    ``subset_size`` is capped at the smaller set size. torchmetrics draws the subsets from torch's
    global generator, so it runs inside ``fork_rng`` seeded with ``seed`` (global state is restored).
    """
    _check_pair(real, fake)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        return math.nan, math.nan
    from torchmetrics.image.kid import KernelInceptionDistance

    with warnings.catch_warnings():  # "will save all extracted features": a few hundred rows here
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=_Precomputed(real.shape[1]), subsets=subsets, subset_size=size)
    metric.update(torch.from_numpy(np.asarray(real, dtype=np.float64)), real=True)
    metric.update(torch.from_numpy(np.asarray(fake, dtype=np.float64)), real=False)
    with torch.random.fork_rng(devices=[]), one_thread():
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def _kth_neighbour_distance(points: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point. (N, D) -> (N,)"""
    d = torch.cdist(points, points)  # N x N, zero diagonal
    return d.kthvalue(k + 1, dim=1).values  # the +1 skips the point itself


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage of fake features against real features.

    With r_i the distance of real point X_i to its k-th nearest real neighbour and s_j the same
    for fake point Y_j among the fakes (N reals, M fakes):

    - precision = share of fakes inside at least one real ball B(X_i, r_i);
    - recall = share of reals inside at least one fake ball B(Y_j, s_j);
    - density = (1 / kM) * sum over fakes of the number of real balls containing it;
    - coverage = share of reals whose ball contains at least one fake.

    Returns:
        ``{"precision", "recall", "density", "coverage"}``; all NaN when N or M <= k.
    """
    _check_pair(real, fake)
    keys = ("precision", "recall", "density", "coverage")
    if len(real) <= k or len(fake) <= k or k < 1:
        return dict.fromkeys(keys, math.nan)
    x = torch.from_numpy(np.asarray(real, dtype=np.float64))  # N x D
    y = torch.from_numpy(np.asarray(fake, dtype=np.float64))  # M x D
    with one_thread():
        r_real = _kth_neighbour_distance(x, k)  # N
        r_fake = _kth_neighbour_distance(y, k)  # M
        d = torch.cdist(x, y)  # N x M
    in_real_ball = d < r_real[:, None]  # N x M: fake j inside real ball i
    return {
        "precision": in_real_ball.any(dim=0).double().mean().item(),
        "recall": (d < r_fake[None, :]).any(dim=1).double().mean().item(),
        "density": in_real_ball.sum(dim=0).double().mean().item() / k,
        "coverage": (d.min(dim=1).values < r_real).double().mean().item(),
    }


def tstr_accuracy(
    fake_images: np.ndarray,
    fake_labels: np.ndarray,
    real_images: np.ndarray,
    real_labels: np.ndarray,
    n_classes: int,
    seed: int = 0,
    cfg: ClassifierConfig = TSTR_CONFIG,
    device: str = "cpu",
) -> np.ndarray:
    """Train on synthetic, test on real (TSTR): per-class accuracy of a classifier trained on generated crops.

    Args:
        fake_images, fake_labels: generated crops (N, H, W, 3) uint8 and the class each was generated for.
        real_images, real_labels: real crops and their classes (the test set).
        n_classes: number of classes.

    Returns:
        (n_classes,) float: for each class, the share of its real crops classified as that class
        (NaN for a class with no real crops). All NaN when ``n_classes < 2``: with one class there
        is nothing to tell apart.
    """
    acc = np.full(n_classes, np.nan)
    if n_classes < 2 or len(fake_images) < 2:
        return acc
    net = train_classifier(fake_images, fake_labels, n_classes, cfg, seed=seed, device=device)
    pred = predict(net, real_images, cfg.image_size, device=device)
    real_labels = np.asarray(real_labels)
    for c in range(n_classes):
        mask = real_labels == c
        if mask.any():
            acc[c] = float((pred[mask] == c).mean())
    return acc
