"""Tiles: cut large frames into overlapping windows at full resolution, with each box clipped to its window.

Detectors see a fixed input size; a 1920 px frame shrunk to 512 px turns a 35 px car into 9 px, near the
smallest that YOLOv8n's stride-8 head finds. Training and testing on tiles keeps the objects' own size
(what ultralytics' and SAHI's slicing utilities do for small objects). A frame is tiled within its split
(the split and the train subsample choose frames, never tiles, so tiles of one frame never cross splits),
and every split is tiled the same way, so the test metrics are per tile.

Windows are ``size`` square and cover the frame with at least ``overlap * size`` pixels shared between
neighbours, spread evenly from edge to edge; a side shorter than ``size`` is one window as long as the side
(no padding). ``tiles.csv`` beside ``data.yaml`` names each tile's frame: the report resamples test tiles
frame by frame, because tiles of one frame (and the objects in their overlaps) are not independent. A box
is kept, clipped to the window, when at least ``min_visible`` of its area lies inside; a box cut smaller
than that is dropped (it is mostly outside: a detector should not be taught it as a whole vehicle).
Cut-off parts below the threshold stay in the tile unlabelled, as in those tools.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from blendaug.data.atomic import atomic_dir
from blendaug.data.errors import DataError
from blendaug.data.imageio import encode_image, load_image_rgb
from blendaug.data.model import Dataset, ImageRecord
from blendaug.data.yolo import data_yaml_text, write_record

# Beside data.yaml: which frame each tile was cut from (split, tile, frame: paths under images/<split>/).
TILE_INDEX = "tiles.csv"


class TileConfig(BaseModel):
    """How frames are cut into tiles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(512, ge=32, description="tile side in pixels, at the frame's own resolution")
    overlap: float = Field(0.1, ge=0, lt=1, description="least share of a tile's side shared with its neighbour")
    min_visible: float = Field(0.5, gt=0, le=1, description="keep a box when this share of its area is in the tile")


def tile_starts(length: int, size: int, overlap: float) -> list[int]:
    """Left (or top) edges of the windows along one side of ``length`` pixels.

    As few windows as cover the side with neighbours sharing at least ``overlap * size`` pixels, spaced
    evenly so that the first starts at 0 and the last ends at ``length``.
    """
    if length <= size:
        return [0]
    stride = size - math.ceil(overlap * size)
    if stride < 1:
        raise ValueError(f"overlap {overlap} leaves no stride for tiles of {size} px")
    n = math.ceil((length - size) / stride) + 1
    return [round(i * (length - size) / (n - 1)) for i in range(n)]


def tile_windows(width: int, height: int, cfg: TileConfig) -> list[tuple[int, int, int, int]]:
    """Every window of a ``width x height`` frame as pixel ``(x1, y1, x2, y2)``, row by row."""
    tw, th = min(cfg.size, width), min(cfg.size, height)
    return [(x, y, x + tw, y + th) for y in tile_starts(height, cfg.size, cfg.overlap)
            for x in tile_starts(width, cfg.size, cfg.overlap)]  # fmt: skip


def clip_to_window(
    boxes_xyxy_px: np.ndarray, class_ids: np.ndarray, window: tuple[int, int, int, int], min_visible: float
) -> tuple[np.ndarray, np.ndarray]:
    """The boxes that keep at least ``min_visible`` of their area in ``window``, clipped to it, in the window's
    pixel coordinates, with their class ids."""
    b = np.asarray(boxes_xyxy_px, dtype=np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = window
    clipped = np.stack([b[:, 0].clip(x1, x2), b[:, 1].clip(y1, y2), b[:, 2].clip(x1, x2), b[:, 3].clip(y1, y2)],
                       axis=1)  # fmt: skip
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = (inside > 0) & (inside >= min_visible * area - 1e-9)
    return clipped[keep] - np.array([x1, y1, x1, y1], dtype=np.float64), np.asarray(class_ids)[keep]


def tiles_of(rec: ImageRecord, cfg: TileConfig) -> Iterator[tuple[ImageRecord, bytes]]:
    """The tiles of one frame as records (named ``<stem>_x<X>_y<Y><suffix>`` beside the frame's name) and
    their encoded images (JPEG frames give JPEG tiles, anything else PNG)."""
    image = load_image_rgb(rec.read_bytes(), str(rec.path))
    if image.shape[:2] != (rec.height, rec.width):
        raise DataError(f"{rec.path}: image is {image.shape[1]}x{image.shape[0]} but its record says "
                        f"{rec.width}x{rec.height}")  # fmt: skip
    rel = Path(rec.rel_path or rec.path.name)
    suffix = ".jpg" if rel.suffix.lower() in (".jpg", ".jpeg") else ".png"
    for window in tile_windows(rec.width, rec.height, cfg):
        x1, y1, x2, y2 = window
        boxes, ids = clip_to_window(rec.boxes_xyxy_px, rec.class_ids, window, cfg.min_visible)
        name = rel.with_name(f"{rel.stem}_x{x1}_y{y1}{suffix}")
        tile = ImageRecord(path=rec.path.with_name(name.name), width=x2 - x1, height=y2 - y1, boxes_xyxy_px=boxes,
                           class_ids=ids, split=rec.split, rel_path=name)  # fmt: skip
        yield tile, encode_image(np.ascontiguousarray(image[y1:y2, x1:x2]), suffix)


def write_tiled(ds: Dataset, out: str | os.PathLike, cfg: TileConfig, overwrite: bool = False) -> Path:
    """Write the tiles of every frame of ``ds`` as a YOLO folder (same layout as ``write_yolo``).

    Returns:
        the path of the written ``data.yaml``; the folder appears only when complete.
    """
    out = Path(out).absolute()
    if not ds.images:
        raise DataError(f"{ds.root or out}: nothing to tile, the dataset has no images")
    rows = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for rec in ds.images:
            for tile, payload in tiles_of(rec, cfg):
                write_record(tmp, tile, image_bytes=payload)
                rows.append((rec.split, tile.rel_path.as_posix(), Path(rec.rel_path).as_posix()))
        (tmp / "data.yaml").write_text(data_yaml_text(out, ds.names, ds.splits_present()), encoding="utf-8")
        with open(tmp / TILE_INDEX, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([("split", "tile", "frame"), *rows])
    return out / "data.yaml"


def read_tile_frames(folder: str | os.PathLike) -> dict[tuple[str, str], str]:
    """``{(split, tile path): frame path}`` from a tiled folder's index; empty for a folder of whole frames."""
    path = Path(folder) / TILE_INDEX
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {(r["split"], r["tile"]): r["frame"] for r in csv.DictReader(f)}
