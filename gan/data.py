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

Held-out crops (:func:`holdout_split`): a folder with only a train split can give up a seeded part
of its crops for scoring; whole groups (by default a crop's ``source_image``, or the first group of
a regex on it, e.g. a video clip) go to one side, so near-duplicate frames never straddle the line.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from blendaug.data.errors import ConfigError, DataError, Warnings, where
from blendaug.data.imageio import is_image_file, load_image_rgb
from blendaug.gan.quality.crops import resize_square


@dataclass(frozen=True)
class Crops:
    """Crops as arrays: ``images`` uint8 (N, S, S, 3), ``labels`` int64 (N,) into ``class_names``.

    ``files`` are the crops' paths relative to their folder, ``sources`` their source images
    (``index.csv``'s ``source_image``; the file itself without an index) and ``tall`` whether the
    source box was taller than wide (False when the index has no box), all in row order.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    files: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    tall: np.ndarray | None = None

    def counts(self) -> dict[str, int]:
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.class_names)}

    def subset(self, keep: np.ndarray) -> Crops:
        """The crops where the boolean mask ``keep`` is true (same class list)."""
        idx = np.flatnonzero(keep)
        return Crops(self.images[idx], self.labels[idx], self.class_names, [self.files[i] for i in idx],
                     [self.sources[i] for i in idx], None if self.tall is None else self.tall[idx])  # fmt: skip


def _is_tall(row: dict) -> bool:
    """Whether the row's source box (x1, y1, x2, y2) is taller than wide; False without a readable box."""
    try:
        return float(row["y2"]) - float(row["y1"]) > float(row["x2"]) - float(row["x1"])
    except (KeyError, TypeError, ValueError):
        return False


def _index_rows(index: Path, split: str) -> list[tuple[str, str, int, str, bool]]:
    """``(class, file, class_id, source, tall)`` rows of ``index.csv`` in ``split`` (all for ``all`` or no split
    column)."""
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
            rows.append((row["class"], row["file"], cid, row.get("source_image") or row["file"], _is_tall(row)))
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
        rows = [(d.name, f"{d.name}/{f.name}", -1, f"{d.name}/{f.name}", False)
                for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
                for f in sorted(d.iterdir()) if f.is_file() and is_image_file(f)]  # fmt: skip
    if not rows:
        raise DataError(f"{root}: no crops found (expected <class>/*.png, as `blendaug data crops` writes)")
    first: dict[str, tuple[int, str]] = {}
    for name, _, cid, _, _ in rows:
        first.setdefault(name, (cid if cid >= 0 else 1 << 30, name))
    class_names = sorted(first, key=lambda n: first[n])
    images = [resize_square(load_image_rgb(root / r[1]), image_size) for r in rows]
    labels = np.asarray([class_names.index(r[0]) for r in rows], dtype=np.int64)
    crops = Crops(np.stack(images), labels, class_names, [r[1] for r in rows], [r[3] for r in rows],
                  np.array([r[4] for r in rows], dtype=bool))  # fmt: skip
    for name, count in crops.counts().items():
        if count == 1 and warnings is not None:
            warnings.add("class with one crop", f"class {name!r} has 1 crop: its generator can only copy it")
    return crops


def crop_side(root: Path) -> int:
    """The side of a crops folder's first crop (``data crops`` writes one square size per folder)."""
    from blendaug.data.imageio import image_size

    crops = load_index_files(Path(root))
    if not crops:
        raise DataError(f"{root}: no crops found (expected <class>/*.png, as `blendaug data crops` writes)")
    w, h = image_size(Path(root) / crops[0])
    return max(w, h)


def load_index_files(root: Path) -> list[str]:
    """Every crop file of a folder, relative to it (index rows of all splits, else ``<class>/*``)."""
    if not root.is_dir():
        raise DataError(f"{root}: crops folder not found")
    if (root / "index.csv").is_file():
        return [r[1] for r in _index_rows(root / "index.csv", "all")]
    return [f"{d.name}/{f.name}" for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
            for f in sorted(d.iterdir()) if f.is_file() and is_image_file(f)]  # fmt: skip


def group_keys(sources: list[str], pattern: str | None) -> list[str]:
    """Group of each crop: its source image, or the first group of ``pattern`` searched in it (no match: itself).

    Raises:
        ConfigError: ``pattern`` is not a regex with a group.
    """
    if pattern is None:
        return list(sources)
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise ConfigError(f"holdout group {pattern!r}: not a regular expression ({e})") from e
    if rx.groups < 1:
        raise ConfigError(f"holdout group {pattern!r}: needs a capture group, e.g. '^(scene\\d+)_'")
    keys = []
    for s in sources:
        m = rx.search(Path(s).name)
        keys.append(m.group(1) if m else s)
    return keys


def holdout_split(groups: list[str], fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of held-out items: whole groups in a seeded order until ``fraction`` of the items is reached.

    Pure: the same groups, fraction and seed give the same mask. At least one group stays in train;
    with a single group nothing is held out.
    """
    n = len(groups)
    held = np.zeros(n, dtype=bool)
    names = sorted(set(groups))
    if fraction <= 0 or len(names) < 2:
        return held
    order = np.random.default_rng([seed, 7]).permutation(len(names))
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    target = fraction * n
    for k, gi in enumerate(order):
        if held.sum() >= target or k == len(names) - 1:
            break
        held[members[names[gi]]] = True
    return held


def to_tensor(images: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 (N, S, S, 3) -> float32 (N, 3, S, S) in [-1, 1] on ``device``."""
    x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float()
    return (x / 127.5 - 1.0).contiguous()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (N, 3, S, S) in [-1, 1] -> uint8 (N, S, S, 3)."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
