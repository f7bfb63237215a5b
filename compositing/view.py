"""Contact sheets: a grid of images with their boxes and class names, for reports and for eyeballing data.

Drawn with OpenCV's built-in Hershey font (``cv2.putText``): no font file, nothing to download.
"""

from __future__ import annotations

import colorsys
import math
import os
from pathlib import Path

import cv2
import numpy as np

from blendaug.data.atomic import atomic_write_bytes
from blendaug.data.errors import ConfigError
from blendaug.data.imageio import encode_image, load_image_rgb
from blendaug.data.model import ImageRecord
from blendaug.data.yolo import read_yolo


def class_color(class_id: int) -> tuple[int, int, int]:
    """A bright RGB colour per class, spread around the hue circle by the golden ratio."""
    r, g, b = colorsys.hsv_to_rgb((class_id * 0.618033988749895) % 1.0, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_boxes(image_rgb: np.ndarray, boxes_xyxy_px: np.ndarray, labels: list[str], class_ids: np.ndarray,
               thickness: int = 2, font_scale: float = 0.5) -> np.ndarray:
    """A copy of ``image_rgb`` (H, W, 3) uint8 with each box outlined and captioned by its label."""
    out = np.ascontiguousarray(image_rgb.copy())
    h, w = out.shape[:2]
    for box, text, cid in zip(np.asarray(boxes_xyxy_px).reshape(-1, 4), labels, class_ids, strict=True):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        color = class_color(int(cid))
        cv2.rectangle(out, (x1, y1), (max(x1, x2 - 1), max(y1, y2 - 1)), color, thickness)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else min(h - base, y2 + th + 2)
        tx = min(max(0, x1), max(0, w - tw))
        cv2.rectangle(out, (tx, ty - th - 1), (tx + tw, ty + base - 1), color, -1)
        cv2.putText(out, text, (tx, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def _tile(rec: ImageRecord, names: list[str], tile_px: int) -> np.ndarray:
    """One image fitted into a ``tile_px`` square (letterboxed), boxes drawn at tile scale so text stays legible."""
    image = load_image_rgb(rec.read_bytes(), name=str(rec.path))
    scale = tile_px / max(rec.width, rec.height)
    size = (max(1, int(round(rec.width * scale))), max(1, int(round(rec.height * scale))))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    labels = [names[c] if 0 <= c < len(names) else str(c) for c in rec.class_ids]
    small = draw_boxes(small, rec.boxes_xyxy_px * scale, labels, rec.class_ids, thickness=1, font_scale=0.4)
    tile = np.full((tile_px, tile_px, 3), 32, np.uint8)
    tile[: small.shape[0], : small.shape[1]] = small
    caption = str(rec.rel_path)[-40:]
    cv2.putText(tile, caption, (3, tile_px - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def contact_sheet(images: list[ImageRecord], names: list[str], tile_px: int = 320, pad: int = 4) -> np.ndarray:
    """A grid (about square) of tiles; returns (H, W, 3) uint8 RGB."""
    cols = max(1, math.ceil(math.sqrt(len(images))))
    rows = max(1, math.ceil(len(images) / cols))
    sheet = np.full((rows * (tile_px + pad) + pad, cols * (tile_px + pad) + pad, 3), 255, np.uint8)
    for i, rec in enumerate(images):
        r, c = divmod(i, cols)
        y, x = pad + r * (tile_px + pad), pad + c * (tile_px + pad)
        sheet[y:y + tile_px, x:x + tile_px] = _tile(rec, names, tile_px)
    return sheet


def write_contact_sheet(dataset: str | os.PathLike, out: str | os.PathLike, n: int = 16, split: str | None = "train",
                        seed: int = 0, names: list[str] | None = None, tile_px: int = 320) -> tuple[Path, int]:
    """Draw ``n`` images (drawn with ``seed``, shown in dataset order) of ``split`` into ``out`` (PNG or JPEG).

    Args:
        split: the split to show; None for all splits.

    Returns:
        the written path and the number of images shown.
    """
    if n < 1 or tile_px < 32:
        raise ConfigError("--n must be >= 1 and --tile >= 32")
    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ConfigError(f"{out}: the contact sheet must be a .png or .jpg file")
    ds = read_yolo(dataset, names=names)
    pool = ds.images if split is None else ds.split(split)
    if not pool:
        raise ConfigError(f"--split {split}: {dataset} has no images in it ({', '.join(ds.splits_present())})")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False).tolist())
    sheet = contact_sheet([pool[i] for i in chosen], ds.names, tile_px)
    atomic_write_bytes(out, encode_image(sheet, out.suffix))
    return out, len(chosen)
