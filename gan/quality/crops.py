"""Real crops for scoring: a ``blendaug data crops`` folder read into arrays, with a content fingerprint.

The folder is ``CROPS/<class>/<id>.png`` plus ``CROPS/index.csv`` (``file,class,...``). Without an
``index.csv``, every class sub-folder holding images is read (ImageFolder layout). All crops are
resized to one square size, so crops of mixed sizes and grayscale crops are accepted.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from data.errors import DataError, where
from data.imageio import is_image_file, load_image_rgb


@dataclass(frozen=True)
class RealCrops:
    """Real crops as arrays.

    Attributes:
        images: uint8 RGB (N, size, size, 3).
        labels: int64 (N,) index into ``class_names``.
        class_names: class names, in the index's ``class_id`` order (or sorted folder names).
        fingerprint: sha256 of the class names, relative paths and bytes of every crop file.
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


def _from_index(root: Path, index: Path) -> list[tuple[str, str, int]]:
    """(class, file, class_id) rows of ``index.csv``."""
    rows = []
    with index.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"file", "class"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{index}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            if not row["file"] or not row["class"]:
                raise DataError(f"{where(index, line)}: empty file or class")
            try:
                cid = int(row.get("class_id") or -1)
            except ValueError as e:
                raise DataError(f"{where(index, line)}: class_id {row['class_id']!r} is not an integer") from e
            rows.append((row["class"], row["file"], cid))
    return rows


def _from_folders(root: Path) -> list[tuple[str, str, int]]:
    rows = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        rows += [(d.name, f"{d.name}/{f.name}", -1) for f in sorted(d.iterdir()) if f.is_file() and is_image_file(f)]
    return rows


def read_real_crops(root: Path, size: int = 64) -> RealCrops:
    """Read a crops folder into arrays of ``size`` x ``size`` RGB crops.

    Raises:
        DataError: the folder is missing or holds no crops, or a listed crop is missing or unreadable.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: crops folder not found")
    index = root / "index.csv"
    rows = _from_index(root, index) if index.is_file() else _from_folders(root)
    if not rows:
        raise DataError(f"{root}: no crops found (expected <class>/*.png and index.csv)")
    # Class order: by class_id where the index gives one, then by first appearance.
    first: dict[str, tuple[int, int]] = {}
    for i, (name, _, cid) in enumerate(rows):
        first.setdefault(name, (cid if cid >= 0 else 1 << 30, i))
    class_names = sorted(first, key=lambda n: first[n])
    digest = hashlib.sha256("\n".join(class_names).encode())
    images, labels = [], []
    for name, rel, _ in sorted(rows, key=lambda r: (class_names.index(r[0]), r[1])):
        path = root / rel
        try:
            payload = path.read_bytes()
        except OSError as e:
            raise DataError(f"{path}: crop listed in {index.name if index.is_file() else root} not readable") from e
        digest.update(f"\n{name}\n{rel}\n".encode())
        digest.update(payload)
        images.append(resize_square(load_image_rgb(payload, name=str(path)), size))
        labels.append(class_names.index(name))
    return RealCrops(np.stack(images), np.asarray(labels, dtype=np.int64), class_names, digest.hexdigest())
