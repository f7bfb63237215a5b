"""Training crops for the GANs: a ``blendaug data crops`` folder read into one array per run.

Layout: ``CROPS/<class>/*.png`` (ImageFolder) plus an optional ``CROPS/index.csv`` with at least
``file,class`` (and ``class_id``, ``split``, as ``data crops`` writes it). Handling of odd input:

- every crop is resized to ``image_size`` x ``image_size`` (INTER_AREA down, INTER_LINEAR up), so
  crops of mixed sizes are accepted; non-square crops are stretched;
- grayscale, palette, RGBA and 16-bit crops are converted to 8-bit RGB (``data.imageio``);
- with an index that has a ``split`` column, only the ``split`` rows are used (default ``train``:
  generated crops must not be made from the crops of validation or test images);
- an empty folder (or no crop of the split) is a ``DataError``;
- a class with a single crop trains (the GAN can only learn to reproduce that crop) with a warning.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from blendaug.data.errors import DataError, Warnings, where
from blendaug.data.imageio import is_image_file, load_image_rgb
from blendaug.gan.quality.crops import resize_square


@dataclass(frozen=True)
class Crops:
    """Crops as arrays: ``images`` uint8 (N, S, S, 3), ``labels`` int64 (N,) into ``class_names``."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]

    def counts(self) -> dict[str, int]:
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.class_names)}


def _index_rows(index: Path, split: str) -> list[tuple[str, str, int]]:
    """``(class, file, class_id)`` rows of ``index.csv`` in ``split`` (all rows for ``all`` or no split column)."""
    with index.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"file", "class"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{index}: missing column(s) {', '.join(sorted(missing))}")
        rows, splits = [], set()
        for line, row in enumerate(reader, start=2):
            if not row["file"] or not row["class"]:
                raise DataError(f"{where(index, line)}: empty file or class")
            splits.add(row.get("split") or "")
            if split != "all" and row.get("split") not in (None, "", split):
                continue
            try:
                cid = int(row.get("class_id") or -1)
            except ValueError as e:
                raise DataError(f"{where(index, line)}: class_id {row['class_id']!r} is not an integer") from e
            rows.append((row["class"], row["file"], cid))
    if not rows and splits - {""}:
        raise DataError(f"{index}: no crops of split {split!r} (has: {', '.join(sorted(splits))}); try --split all")
    return rows


def load_crops(root: Path, image_size: int, split: str = "train", warnings: Warnings | None = None) -> Crops:
    """Read every crop of ``root`` (see the module doc) resized to ``image_size``.

    Class order: by ``class_id`` where the index gives one, else sorted folder names.

    Raises:
        DataError: missing or empty folder, unreadable crop (the message names the file).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: crops folder not found")
    index = root / "index.csv"
    if index.is_file():
        rows = _index_rows(index, split)
    else:
        rows = [(d.name, f"{d.name}/{f.name}", -1)
                for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
                for f in sorted(d.iterdir()) if f.is_file() and is_image_file(f)]  # fmt: skip
    if not rows:
        raise DataError(f"{root}: no crops found (expected <class>/*.png, as `blendaug data crops` writes)")
    first: dict[str, tuple[int, str]] = {}
    for name, _, cid in rows:
        first.setdefault(name, (cid if cid >= 0 else 1 << 30, name))
    class_names = sorted(first, key=lambda n: first[n])
    images = [resize_square(load_image_rgb(root / rel), image_size) for _, rel, _ in rows]
    labels = np.asarray([class_names.index(name) for name, _, _ in rows], dtype=np.int64)
    crops = Crops(np.stack(images), labels, class_names)
    for name, count in crops.counts().items():
        if count == 1 and warnings is not None:
            warnings.add("class with one crop", f"class {name!r} has 1 crop: its generator can only copy it")
    return crops


def to_tensor(images: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 (N, S, S, 3) -> float32 (N, 3, S, S) in [-1, 1] on ``device``."""
    x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float()
    return (x / 127.5 - 1.0).contiguous()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (N, 3, S, S) in [-1, 1] -> uint8 (N, S, S, 3)."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
