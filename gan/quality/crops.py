"""Real crops for scoring: a ``blendaug data crops`` folder read into arrays, with a content fingerprint.

Read exactly as ``gan train`` reads them (:func:`blendaug.gan.data.load_crops`: index or ImageFolder layout,
the ``train`` split by default, every crop resized to one square size, grayscale made RGB).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class RealCrops:
    """Real crops as arrays.

    Attributes:
        images: uint8 RGB (N, size, size, 3).
        labels: int64 (N,) index into ``class_names``.
        class_names: class names, in the index's ``class_id`` order (or sorted folder names).
        fingerprint: sha256 of the class names, the labels and the resized pixels.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    fingerprint: str

    def of_class(self, name: str) -> np.ndarray:
        """The crops of one class (K, size, size, 3)."""
        return self.images[self.labels == self.class_names.index(name)]


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an (H, W, 3) crop to (size, size, 3): INTER_AREA when shrinking, INTER_LINEAR when enlarging."""
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    interp = cv2.INTER_AREA if h * w > size * size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def real_crops(images: np.ndarray, labels: np.ndarray, class_names: list[str]) -> RealCrops:
    """Arrays as :class:`RealCrops`, with their fingerprint."""
    digest = hashlib.sha256("\n".join(class_names).encode())
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(images).tobytes())
    return RealCrops(images, np.asarray(labels, dtype=np.int64), list(class_names), digest.hexdigest())


def read_real_crops(root: Path, size: int = 64, split: str = "train") -> RealCrops:
    """Read a crops folder (as ``gan train`` does: :func:`blendaug.gan.data.load_crops`) resized to ``size``.

    Args:
        split: rows of ``index.csv`` to use (``all`` = every crop), as for training.

    Raises:
        DataError: the folder is missing or holds no crops, or a crop is missing or unreadable.
    """
    from blendaug.gan.data import load_crops  # not at the top: gan.data imports resize_square from here

    crops = load_crops(Path(root), size, split)
    return real_crops(crops.images, crops.labels, crops.class_names)
