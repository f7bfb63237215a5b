"""Object crops for the GAN and the crop classifier: one square PNG per box, one folder per class.

Output (ImageFolder-compatible): ``OUT/<class_name>/<6-digit id>.png`` plus ``OUT/index.csv`` with
columns ``file,class,class_id,split,source_image,x1,y1,x2,y2`` (``file`` relative to OUT, the source
box in pixels). Ids run over the whole folder in a fixed order: images sorted by split then
``rel_path``, boxes in label order, so the same dataset always gives the same files.

The maths lives in :func:`crop_box` (pure, on arrays); :func:`extract_crops` reads and writes files.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from blendaug.data.atomic import atomic_dir
from blendaug.data.errors import ConfigError, DataError, Warnings
from blendaug.data.imageio import encode_image, load_image_rgb
from blendaug.data.model import SPLITS, Dataset, ImageRecord

# Pad colour of ultralytics' letterbox, so a crop's border looks like what the detector sees.
PAD_VALUE = 114
INDEX_COLUMNS = ("file", "class", "class_id", "split", "source_image", "x1", "y1", "x2", "y2")


def _resize(patch: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with INTER_AREA when shrinking (no aliasing), INTER_LINEAR when enlarging."""
    if patch.shape[1] == width and patch.shape[0] == height:
        return patch
    shrink = width * height < patch.shape[0] * patch.shape[1]
    return cv2.resize(patch, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _fit_letterbox(image_rgb: np.ndarray, box: np.ndarray, size: int, pad: float) -> np.ndarray:
    """Padded box clipped to the image, long side scaled to ``size``, centred on a 114-grey square."""
    img_h, img_w = image_rgb.shape[:2]
    x1, y1, x2, y2 = box
    dx, dy = pad * (x2 - x1), pad * (y2 - y1)
    ix1 = min(max(math.floor(x1 - dx), 0), img_w - 1)
    iy1 = min(max(math.floor(y1 - dy), 0), img_h - 1)
    ix2 = max(min(math.ceil(x2 + dx), img_w), ix1 + 1)
    iy2 = max(min(math.ceil(y2 + dy), img_h), iy1 + 1)
    patch = image_rgb[iy1:iy2, ix1:ix2]  # ch x cw x 3
    ch, cw = patch.shape[:2]
    scale = size / max(cw, ch)
    new_w, new_h = max(1, round(cw * scale)), max(1, round(ch * scale))
    out = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = _resize(patch, new_w, new_h)
    return out


def _fit_square(image_rgb: np.ndarray, box: np.ndarray, size: int, pad: float) -> np.ndarray:
    """A square of side ``max(w, h) * (1 + 2 * pad)`` centred on the box; outside the image is 114 grey."""
    img_h, img_w = image_rgb.shape[:2]
    x1, y1, x2, y2 = box
    side = max(1, round(max(x2 - x1, y2 - y1) * (1 + 2 * pad)))
    sx0 = round((x1 + x2) / 2 - side / 2)
    sy0 = round((y1 + y2) / 2 - side / 2)
    canvas = np.full((side, side, 3), PAD_VALUE, dtype=np.uint8)  # side x side x 3
    ax1, ay1 = max(sx0, 0), max(sy0, 0)
    ax2, ay2 = min(sx0 + side, img_w), min(sy0 + side, img_h)
    if ax2 > ax1 and ay2 > ay1:
        canvas[ay1 - sy0 : ay2 - sy0, ax1 - sx0 : ax2 - sx0] = image_rgb[ay1:ay2, ax1:ax2]
    return _resize(canvas, size, size)


CROP_FITS: dict[str, Callable[[np.ndarray, np.ndarray, int, float], np.ndarray]] = {
    "letterbox": _fit_letterbox,
    "square": _fit_square,
}


def crop_box(
    image_rgb: np.ndarray, box_xyxy_px: np.ndarray, size: int = 64, pad: float = 0.1, fit: str = "letterbox"
) -> np.ndarray:
    """Cut one object out of an image as a ``(size, size, 3)`` uint8 square.

    Args:
        image_rgb: ``(H, W, 3)`` uint8.
        box_xyxy_px: ``(x1, y1, x2, y2)`` pixel corners.
        size: output side in pixels.
        pad: context added on each side, as a fraction of the box width (left/right) and height
            (top/bottom) for ``letterbox``, of the longer side for ``square``.
        fit: ``letterbox`` crops the padded box (clipped to the image), scales its long side to
            ``size`` keeping the aspect ratio and pads to a square with grey 114, as ultralytics'
            letterbox does. ``square`` crops a square around the box centre, so the object keeps
            its aspect ratio with real context instead of bars; parts outside the image are 114.

    Returns:
        ``(size, size, 3)`` uint8 RGB.
    """
    if fit not in CROP_FITS:
        raise ConfigError(f"--fit: unknown crop fit {fit!r} (choose from {', '.join(CROP_FITS)})")
    box = np.asarray(box_xyxy_px, dtype=np.float64).reshape(4)
    return CROP_FITS[fit](image_rgb, box, int(size), float(pad))


def parse_splits(split: str, allow_test: bool) -> list[str]:
    """``"train,val"`` -> ``["train", "val"]``; the test split only with ``allow_test``."""
    splits = [s.strip() for s in split.split(",") if s.strip()]
    if not splits:
        raise ConfigError("--split: give at least one split (train, val or test)")
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise ConfigError(f"--split: unknown split {bad[0]!r} (choose from {', '.join(SPLITS)})")
    if "test" in splits and not allow_test:
        raise ConfigError(
            "--split: crops refuses the test split unless --allow-test is given "
            "(test objects in GAN or classifier training leak into the evaluation)"
        )
    return list(dict.fromkeys(splits))


def _check_options(size: int, pad: float, min_px: float) -> None:
    if size < 1:
        raise ConfigError(f"--size: must be >= 1, got {size}")
    if not (math.isfinite(pad) and pad >= 0):
        raise ConfigError(f"--pad: must be >= 0, got {pad}")
    if min_px < 0:
        raise ConfigError(f"--min-px: must be >= 0, got {min_px}")


def _class_dirs(names: list[str], where_: object) -> list[str]:
    for name in names:
        if not name or name in (".", "..") or "/" in name or "\\" in name or name != name.strip():
            raise DataError(f"{where_}: class name {name!r} cannot be a folder name")
    return names


def _load(rec: ImageRecord) -> np.ndarray:
    source = rec.data if rec.data is not None and not rec.path.is_file() else rec.path
    image = load_image_rgb(source, name=str(rec.path))
    if image.shape[:2] != (rec.height, rec.width):
        raise DataError(
            f"{rec.path}: image is {image.shape[1]}x{image.shape[0]} but its labels were read for "
            f"{rec.width}x{rec.height}"
        )
    return image


def extract_crops(
    ds: Dataset,
    out: str | os.PathLike,
    split: str = "train",
    size: int = 64,
    pad: float = 0.1,
    min_px: float = 8,
    allow_test: bool = False,
    fit: str = "letterbox",
    overwrite: bool = False,
    warnings: Warnings | None = None,
) -> Path:
    """Write a crop per box of the chosen split(s) to ``out`` (see the module docstring for the layout).

    Args:
        split: a split or a comma list (``train,val``); ``test`` needs ``allow_test``.
        size, pad, fit: passed to :func:`crop_box`.
        min_px: boxes whose shorter side is below this (pixels) are skipped with a counted warning.
        overwrite: replace an existing ``out``.

    Returns:
        ``out`` (absolute); it appears only when complete.

    Raises:
        ConfigError: bad options or the test split without ``allow_test``.
        DataError: a missing split, an unreadable image, or no crop at all.
    """
    warnings = warnings if warnings is not None else Warnings()
    splits = parse_splits(split, allow_test)
    _check_options(size, pad, min_px)
    if fit not in CROP_FITS:
        raise ConfigError(f"--fit: unknown crop fit {fit!r} (choose from {', '.join(CROP_FITS)})")
    where_ = ds.root or "dataset"
    present = ds.splits_present()
    missing = [s for s in splits if s not in present]
    if missing:
        raise DataError(f"{where_}: no '{missing[0]}' split to crop (present: {', '.join(present) or 'none'})")
    dirs = _class_dirs(ds.names, where_)
    records = sorted(
        (r for r in ds.images if r.split in splits),
        key=lambda r: (SPLITS.index(r.split), r.rel_path.as_posix(), str(r.path)),
    )

    out = Path(out).absolute()
    rows: list[list[object]] = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for rec in records:
            sides = np.minimum(rec.boxes_xyxy_px[:, 2] - rec.boxes_xyxy_px[:, 0],
                               rec.boxes_xyxy_px[:, 3] - rec.boxes_xyxy_px[:, 1])  # (N,)
            keep = sides >= min_px
            for j in np.flatnonzero(~keep):
                warnings.add(
                    "box smaller than --min-px skipped",
                    f"{rec.path}: box {j} is {sides[j]:.1f} px < {min_px}",
                )
            if not keep.any():
                continue
            image = _load(rec)
            for j in np.flatnonzero(keep):
                cls = int(rec.class_ids[j])
                box = rec.boxes_xyxy_px[j]
                file = f"{dirs[cls]}/{len(rows):06d}.png"
                (tmp / dirs[cls]).mkdir(exist_ok=True)
                (tmp / file).write_bytes(encode_image(crop_box(image, box, size, pad, fit), ".png"))
                rows.append([file, ds.names[cls], cls, rec.split, rec.path.as_posix(),
                             *(f"{v:.3f}" for v in box)])
        if not rows:
            raise DataError(
                f"{where_}: no crops: split(s) {', '.join(splits)} hold no box with both sides >= {min_px} px"
            )
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(INDEX_COLUMNS)
        writer.writerows(rows)
        (tmp / "index.csv").write_text(buf.getvalue(), encoding="utf-8")
    return out
