"""Classifier architectures, built from scratch and adapted to small crops (16-128 px).

- ``resnet18``: torchvision's ResNet-18 with a small-input stem. ImageNet's stem (7x7 stride-2 conv +
  max-pool) shrinks a 64 px crop to 16 px before the first block and throws most of it away. Instead
  the stem is a 3x3 stride-1 conv, and the max-pool is kept only where it brings the first block to
  about 32 px: size < 64 -> no pool (the CIFAR ResNet), 64 <= size < 128 -> pool (64 px -> 32 px),
  size >= 128 -> torchvision's own stem.
- ``vgg16`` / ``vgg16_bn``: torchvision's VGG-16 (without / with batch norm) whose 7x7 average pool and
  4096-wide head (120M parameters, meant for 224 px) are replaced by a global average pool and a
  512-512-C head, as in CIFAR VGGs. Without batch norm VGG-16 trains poorly from scratch; prefer vgg16_bn.
- ``smallcnn``: four conv-BN-ReLU-pool blocks (32-64-128-256 channels) + global pool: the fast CPU model.

Pretrained weights only come from a path the user gives (``load_weights``): nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm

from blendaug.data.errors import ConfigError, DataError


def _resnet18(num_classes: int, size: int) -> nn.Module:
    model = tvm.resnet18(weights=None, num_classes=num_classes)
    if size < 128:
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
        if size < 64:
            model.maxpool = nn.Identity()
    return model


class SmallVGG(nn.Module):
    """torchvision's VGG feature stack (same parameter names, so VGG weights load) with a small-input head."""

    def __init__(self, num_classes: int, batch_norm: bool):
        super().__init__()
        # Built from torchvision's layer config rather than tvm.vgg16(): that one first allocates the
        # 120M-parameter 224 px head only for us to throw it away.
        self.features = tvm.vgg.make_layers(tvm.vgg.cfgs["D"], batch_norm=batch_norm)  # 512 x S/32 x S/32
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # 512 x 1 x 1 whatever the input size
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(512, num_classes)
        )
        for m in self.modules():  # torchvision's VGG initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: B x 3 x S x S
        return self.classifier(self.avgpool(self.features(x)))  # B x C


def _vgg16(num_classes: int, size: int) -> nn.Module:
    return SmallVGG(num_classes, batch_norm=False)


def _vgg16_bn(num_classes: int, size: int) -> nn.Module:
    return SmallVGG(num_classes, batch_norm=True)


class SmallCNN(nn.Module):
    """Four conv blocks and a linear head; about 0.4M parameters."""

    def __init__(self, num_classes: int, width: int = 32):
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        blocks = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            blocks += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks)  # (8w) x S/16 x S/16
        self.pool = nn.AdaptiveAvgPool2d(1)  # (8w) x 1 x 1
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(chans[-1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: B x 3 x S x S
        return self.head(self.pool(self.features(x)))  # B x C


def _smallcnn(num_classes: int, size: int) -> nn.Module:
    return SmallCNN(num_classes)


MODELS: dict[str, Callable[[int, int], nn.Module]] = {
    "resnet18": _resnet18,
    "vgg16": _vgg16,
    "vgg16_bn": _vgg16_bn,
    "smallcnn": _smallcnn,
}
MIN_SIZE = 16


def build_model(name: str, num_classes: int, size: int) -> nn.Module:
    """A freshly initialized classifier (uses torch's global RNG: seed it first).

    Args:
        name: a key of ``MODELS``.
        num_classes: output logits.
        size: input side in pixels (the crops are resized to ``size x size``).
    """
    if name not in MODELS:
        raise ConfigError(f"--model: unknown model {name!r} (choose from {', '.join(MODELS)})")
    if size < MIN_SIZE or size % 16:
        raise ConfigError(f"--size {size}: must be a multiple of 16 and >= {MIN_SIZE}")
    return MODELS[name](num_classes, size)


def load_weights(model: nn.Module, path: Path, strict: bool = False) -> tuple[int, list[str]]:
    """Load a state_dict from a user file (``weights_only=True``: no code runs while loading).

    Tensors whose name and shape match are loaded; the rest (e.g. an ImageNet head or stem that the
    small-input model replaced) keep their fresh initialization and are listed.

    Returns:
        ``(number of tensors loaded, names skipped)``.

    Raises:
        DataError: unreadable file, not a state_dict, or nothing matches (or anything mismatches when ``strict``).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise DataError(f"{path}: weights file not found") from e
    except Exception as e:  # torch raises many types for bad files; the user only needs to know which file
        raise DataError(f"{path}: not a loadable weights file ({type(e).__name__}: {e})") from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"{path}: not a state_dict (a mapping of tensor names to tensors)")
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(own) - set(matched))
    if not matched or (strict and skipped):
        raise DataError(f"{path}: {len(matched)} of {len(own)} tensors match this model "
                        f"(first mismatch: {skipped[0] if skipped else '-'})")
    model.load_state_dict(matched, strict=False)
    return len(matched), skipped
