"""A small crop classifier, trained from scratch on CPU in seconds (a few hundred 32 x 32 crops).

Two jobs in the quality scoring:

- its penultimate layer is the default feature space of FID, KID and precision/recall/density/coverage
  (trained on the real crops; no pretrained weights, nothing downloaded);
- "train on synthetic, test on real" (TSTR) trains a fresh one on generated crops.

Besides the class head there is a rotation head (predict which of 0/90/180/270 degrees the crop was
turned by; Gidaris et al. 2018). It makes the features describe shape and texture even when the
crops have a single class, where a class head alone would learn nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

N_ROTATIONS = 4


@dataclass(frozen=True)
class ClassifierConfig:
    """How the crop classifier is built and trained (recorded next to the stored weights)."""

    image_size: int = 32  # (int) side the crops are resized to (antialiased) before the network
    width: int = 32  # (int) channels of the first conv layer; doubles twice
    num_features: int = 128  # (int) size of the penultimate layer = the feature vector
    epochs: int = 30  # (int) passes over the training crops
    batch: int = 64  # (int) batch size
    lr: float = 2e-3  # (float) Adam learning rate
    rotation_head: bool = True  # (bool) add the rotation-prediction task
    min_steps: int = 0  # (int) train more epochs when ``epochs`` would give fewer optimiser steps than this
    # (bool) turn crops by random quarter turns even without the rotation head (top-down crops have no "up")
    rot90_augment: bool = False


class CropNet(nn.Module):
    """Conv-BN-ReLU stack, global average pool, linear heads.

    Args:
        n_classes: classes of the class head; 0 or 1 drops the head.
        cfg: sizes (``width``, ``num_features``, ``rotation_head``).
    """

    def __init__(self, n_classes: int, cfg: ClassifierConfig) -> None:
        super().__init__()
        w, nf = cfg.width, cfg.num_features

        def block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(
            *block(3, w, 2),  # w x S/2 x S/2
            *block(w, 2 * w, 2),  # 2w x S/4 x S/4
            *block(2 * w, 4 * w, 2),  # 4w x S/8 x S/8
            *block(4 * w, nf, 1),  # nf x S/8 x S/8
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),  # nf
        )
        self.num_features = nf
        self.class_head = nn.Linear(nf, n_classes) if n_classes > 1 else None
        self.rot_head = nn.Linear(nf, N_ROTATIONS) if cfg.rotation_head else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (N, num_features) of images (N, 3, S, S) in [-1, 1]."""
        return self.body(x)


def to_tensor(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 RGB (N, H, W, 3) -> float (N, 3, size, size) in [-1, 1], resized with antialiasing."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images (N, H, W, 3), got {images.dtype} {images.shape}")
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()  # N x 3 x H x W
    if x.shape[-2:] != (size, size) and len(x):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x / 127.5 - 1.0


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    cfg: ClassifierConfig,
    seed: int,
    device: str = "cpu",
) -> CropNet:
    """Train a :class:`CropNet` from scratch; the same inputs and seed give the same weights.

    Args:
        images: uint8 RGB (N, H, W, 3).
        labels: int (N,) class ids in [0, n_classes).
        n_classes: number of classes (1 trains the rotation head only).
        cfg: sizes and schedule.
        seed: seeds the initial weights, the batch order, flips and rotations.
        device: torch device string.

    Returns:
        The trained network, in eval mode, on ``device``.
    """
    if len(images) == 0:
        raise ValueError("no images to train the crop classifier on")
    with torch.random.fork_rng(devices=[]):
        # Layer initialisers draw from the global generator; seed it locally so weights follow ``seed``.
        torch.manual_seed(seed)
        net = CropNet(n_classes, cfg)
    net.to(device).train()
    if net.class_head is None and net.rot_head is None:
        return net.eval()
    gen = torch.Generator().manual_seed(seed)
    x_all = to_tensor(images, cfg.image_size)  # N x 3 x S x S
    y_all = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    n = len(x_all)
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / math.ceil(n / cfg.batch)))
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, cfg.batch):
            idx = order[start : start + cfg.batch]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            x, y = x_all[idx], y_all[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            rot = torch.randint(0, N_ROTATIONS, (len(idx),), generator=gen)
            if net.rot_head is not None or cfg.rot90_augment:
                x = x.clone()
                for k in range(1, N_ROTATIONS):
                    x[rot == k] = torch.rot90(x[rot == k], k, dims=(2, 3))
            x, y, rot = x.to(device), y.to(device), rot.to(device)
            feats = net(x)  # B x nf
            loss = torch.zeros((), device=device)
            if net.class_head is not None:
                loss = loss + F.cross_entropy(net.class_head(feats), y)
            if net.rot_head is not None:
                loss = loss + F.cross_entropy(net.rot_head(feats), rot)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def embed(net: CropNet, images: np.ndarray, image_size: int, device: str = "cpu", batch: int = 256) -> np.ndarray:
    """Penultimate-layer features, float64 (N, num_features)."""
    net.eval()
    out = [
        net(to_tensor(images[i : i + batch], image_size).to(device)).double().cpu()
        for i in range(0, len(images), batch)
    ]
    return torch.cat(out).numpy() if out else np.zeros((0, net.num_features))


@torch.no_grad()
def predict(net: CropNet, images: np.ndarray, image_size: int, device: str = "cpu", batch: int = 256) -> np.ndarray:
    """Predicted class ids (N,) from the class head."""
    if net.class_head is None:
        raise ValueError("this classifier has no class head (it was trained on one class)")
    feats = torch.from_numpy(embed(net, images, image_size, device, batch)).float().to(device)
    return net.class_head(feats).argmax(1).cpu().numpy()
