"""Crop folders: the ``data crops`` index (real crops, tier ``real``) and the ``gan sample`` index.

Both are ``OUT/<class>/<id>.png`` plus ``OUT/index.csv``; the columns tell them apart:

- ``data crops``: ``file,class,class_id,split,source_image,x1,y1,x2,y2`` -> tier ``real``;
- ``gan sample``: ``file,class,arch,snapshot,tier,seed,score``.

Class names are matched to the background dataset's names; ``class_id`` in the index is ignored
(the crops may come from another dataset with another class order).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from blendaug.compositing.masks import MASKS, object_extent
from blendaug.data.errors import ConfigError, DataError, Warnings, where
from blendaug.data.imageio import image_size, load_image_rgb

REAL_COLUMNS = ("file", "class", "class_id", "split", "source_image", "x1", "y1", "x2", "y2")
GAN_COLUMNS = ("file", "class", "arch", "snapshot", "tier", "seed", "score")
REAL_TIER = "real"


@dataclass(frozen=True)
class CropRecord:
    """One crop: its file, the background class id it maps to, and its tier."""

    path: Path
    file: str
    class_name: str
    class_id: int
    tier: str


@dataclass(frozen=True)
class LoadedCrop:
    """A decoded crop with its mask: rgb (H, W, 3) uint8, mask (H, W) float32, sub-pixel object region xyxy."""

    rgb: np.ndarray
    mask: np.ndarray
    region: tuple[float, float, float, float]

    @property
    def aspect(self) -> float:
        x1, y1, x2, y2 = self.region
        return (x2 - x1) / (y2 - y1)


def read_crop_index(
    folder: str | Path,
    names: list[str],
    tiers: list[str] | None = None,
    skip_bad: bool = False,
    warnings: Warnings | None = None,
) -> list[CropRecord]:
    """Read and check a crops folder's ``index.csv``.

    Args:
        names: the background dataset's class names.
        tiers: keep only these tiers (``real`` for ``data crops`` folders); None keeps all.
        skip_bad: skip unreadable crop files with a counted warning instead of failing.

    Raises:
        DataError: no index, unknown columns, an unknown class (naming the index and line), a
            missing or unreadable crop (naming it).
        ConfigError: no crop left after the tier filter.
    """
    folder = Path(folder)
    index = folder / "index.csv"
    if not index.is_file():
        raise DataError(f"{folder}: no index.csv (expected the output of 'blendaug data crops' or 'gan sample')")
    warnings = warnings if warnings is not None else Warnings()
    with index.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
        header = rows[0].keys() if rows else []
    if not rows:
        raise DataError(f"{index}: no crops listed")
    is_gan = set(GAN_COLUMNS) <= set(header)
    if not is_gan and not set(REAL_COLUMNS) <= set(header):
        raise DataError(f"{index}: expected columns {','.join(REAL_COLUMNS)} or {','.join(GAN_COLUMNS)}, "
                        f"got {','.join(header)}")
    class_ids = {n: i for i, n in enumerate(names)}
    records = []
    for line_no, row in enumerate(rows, start=2):
        cls = (row["class"] or "").strip()
        if cls not in class_ids:
            raise DataError(f"{where(index, line_no)}: unknown class {cls!r} "
                            f"(background classes: {', '.join(names)})")
        tier = (row["tier"] or "").strip() if is_gan else REAL_TIER
        if tiers is not None and tier not in tiers:
            continue
        path = folder / (row["file"] or "").strip()
        try:
            image_size(path)
        except DataError as e:
            if not skip_bad:
                raise DataError(f"unreadable crop listed at {where(index, line_no)}: {e}") from None
            warnings.add("unreadable crop skipped", str(e))
            continue
        records.append(CropRecord(path=path, file=row["file"].strip(), class_name=cls, class_id=class_ids[cls],
                                  tier=tier))
    if not records:
        wanted = f" with tier in {','.join(tiers)}" if tiers is not None else ""
        raise ConfigError(f"{index}: no usable crop{wanted}")
    return records


def load_crop_rgba(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode a crop as ``(rgb (H, W, 3) uint8, alpha (H, W) uint8 or None)``.

    Raises:
        DataError: the file is not a readable image, naming it.
    """
    rgb = load_image_rgb(path)
    try:
        with Image.open(path) as img:
            has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            alpha = np.asarray(img.convert("RGBA"), dtype=np.uint8)[:, :, 3].copy() if has_alpha else None
    except OSError as e:
        raise DataError(f"{path}: not a readable image ({e})") from None
    if alpha is not None and alpha.shape != rgb.shape[:2]:
        alpha = None  # EXIF-rotated crops: the alpha would not line up; crops never carry EXIF in practice
    return rgb, alpha


class CropPool:
    """The crops to paste, decoded and masked lazily (once per process) and cached."""

    def __init__(self, records: list[CropRecord], mask: str) -> None:
        if mask not in MASKS:
            raise ConfigError(f"--mask: unknown mask {mask!r} (choose from {', '.join(MASKS)})")
        self.records = records
        self.mask = mask
        self._cache: dict[int, LoadedCrop] = {}

    def __len__(self) -> int:
        return len(self.records)

    def load(self, i: int) -> LoadedCrop:
        if i not in self._cache:
            rec = self.records[i]
            rgb, alpha = load_crop_rgba(rec.path)
            try:
                mask = MASKS[self.mask](rgb, alpha)
            except DataError as e:
                raise DataError(f"{rec.path}: {e}") from None
            region = object_extent(mask)
            if region is None:
                raise DataError(f"{rec.path}: the {self.mask} mask is empty (no pixel above 0.5)")
            self._cache[i] = LoadedCrop(rgb=rgb, mask=mask, region=region)
        return self._cache[i]
