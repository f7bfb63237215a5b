"""The internal dataset model every stage shares.

Conventions (the names say them): boxes are ``boxes_xyxy_px``, float pixel corners
``(x1, y1, x2, y2)`` with ``x1 < x2`` and ``y1 < y2`` inside ``[0, width] x [0, height]``;
``class_ids`` index ``Dataset.names``. Each image belongs to one split (``train``, ``val``, ``test``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")


def empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), dtype=np.float64)


@dataclass
class ImageRecord:
    """One labeled image.

    Attributes:
        path: where the image file is (or would be, for labelme's embedded ``imageData``).
        width, height: pixel size after EXIF rotation.
        boxes_xyxy_px: ``(N, 4)`` float64 pixel corners.
        class_ids: ``(N,)`` int64 indices into ``Dataset.names``.
        split: ``train``, ``val`` or ``test``.
        rel_path: path relative to the dataset's image root; writers keep it, so names stay unique.
        data: encoded image bytes when the file does not exist (labelme ``imageData``).
    """

    path: Path
    width: int
    height: int
    boxes_xyxy_px: np.ndarray = field(default_factory=empty_boxes)
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.int64))
    split: str = "train"
    rel_path: Path | None = None
    data: bytes | None = None

    def __post_init__(self) -> None:
        self.boxes_xyxy_px = np.asarray(self.boxes_xyxy_px, dtype=np.float64).reshape(-1, 4)
        self.class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        if len(self.boxes_xyxy_px) != len(self.class_ids):
            raise ValueError(f"{self.path}: {len(self.boxes_xyxy_px)} boxes but {len(self.class_ids)} class ids")
        if self.rel_path is None:
            self.rel_path = Path(self.path.name)

    @property
    def n_boxes(self) -> int:
        return len(self.class_ids)

    def read_bytes(self) -> bytes:
        """The encoded image: the embedded data if there is any, otherwise the file's bytes."""
        return self.data if self.data is not None else self.path.read_bytes()


@dataclass
class Dataset:
    """Class names plus labeled images; ``root`` is where it was read from (for messages)."""

    names: list[str]
    images: list[ImageRecord] = field(default_factory=list)
    root: Path | None = None

    def split(self, name: str) -> list[ImageRecord]:
        return [im for im in self.images if im.split == name]

    def splits_present(self) -> list[str]:
        present = {im.split for im in self.images}
        return [s for s in SPLITS if s in present]

    def with_images(self, images: Iterable[ImageRecord]) -> Dataset:
        return Dataset(names=list(self.names), images=list(images), root=self.root)

    def only_classes(self, names: list[str]) -> Dataset:
        """The same images with only the boxes of ``names`` (ids renumbered in that order); every image is kept.

        Raises:
            ValueError: a name the dataset does not have.
        """
        unknown = [n for n in names if n not in self.names]
        if unknown or not names:
            raise ValueError(f"unknown class(es) {', '.join(unknown) or '(none given)'}; the dataset has "
                             f"{', '.join(self.names)}")  # fmt: skip
        new_id = np.full(len(self.names), -1, dtype=np.int64)
        new_id[[self.names.index(n) for n in names]] = np.arange(len(names))
        images = []
        for im in self.images:
            keep = new_id[im.class_ids] >= 0
            images.append(ImageRecord(path=im.path, width=im.width, height=im.height,
                                      boxes_xyxy_px=im.boxes_xyxy_px[keep], class_ids=new_id[im.class_ids[keep]],
                                      split=im.split, rel_path=im.rel_path, data=im.data))  # fmt: skip
        return Dataset(names=list(names), images=images, root=self.root)

    def box_counts(self) -> dict[str, np.ndarray]:
        """Boxes per class for each split present: ``{split: (n_classes,) int}``."""
        out: dict[str, np.ndarray] = {}
        for s in self.splits_present():
            counts = np.zeros(len(self.names), dtype=np.int64)
            for im in self.split(s):
                counts += np.bincount(im.class_ids, minlength=len(self.names))[: len(self.names)]
            out[s] = counts
        return out


def xyxy_to_cxcywh_norm(boxes_xyxy_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel corners to YOLO's normalised ``(cx, cy, w, h)``."""
    b = np.asarray(boxes_xyxy_px, dtype=np.float64).reshape(-1, 4)
    out = np.empty_like(b)
    out[:, 0] = (b[:, 0] + b[:, 2]) / 2.0 / width
    out[:, 1] = (b[:, 1] + b[:, 3]) / 2.0 / height
    out[:, 2] = (b[:, 2] - b[:, 0]) / width
    out[:, 3] = (b[:, 3] - b[:, 1]) / height
    return out


def cxcywh_norm_to_xyxy(boxes_cxcywh_norm: np.ndarray, width: int, height: int) -> np.ndarray:
    """YOLO's normalised ``(cx, cy, w, h)`` to pixel corners."""
    b = np.asarray(boxes_cxcywh_norm, dtype=np.float64).reshape(-1, 4)
    out = np.empty_like(b)
    out[:, 0] = (b[:, 0] - b[:, 2] / 2.0) * width
    out[:, 1] = (b[:, 1] - b[:, 3] / 2.0) * height
    out[:, 2] = (b[:, 0] + b[:, 2] / 2.0) * width
    out[:, 3] = (b[:, 1] + b[:, 3] / 2.0) * height
    return out


def clip_boxes(boxes_xyxy_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip pixel corners to the image."""
    b = np.asarray(boxes_xyxy_px, dtype=np.float64).reshape(-1, 4).copy()
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, width)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, height)
    return b


def rotated_rect_corners(x: float, y: float, w: float, h: float, angle_deg: float, pivot: str) -> np.ndarray:
    """The four corners ``(4, 2)`` of a ``w x h`` rectangle whose unrotated top-left corner is ``(x, y)``,
    turned ``angle_deg`` clockwise on screen (image y points down).

    Args:
        pivot: ``"center"`` (CVAT turns a box about its centre) or ``"top-left"`` (Label Studio turns it
            about its ``(x, y)`` corner).
    """
    theta = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    if pivot == "center":
        origin, offsets = np.array([x + w / 2, y + h / 2]), np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    elif pivot == "top-left":
        origin, offsets = np.array([x, y]), np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    else:
        raise ValueError(f"pivot must be 'center' or 'top-left', got {pivot!r}")
    return origin + offsets @ rot.T


def points_bbox(points: np.ndarray) -> np.ndarray:
    """The axis-aligned ``xyxy`` box around ``(N, 2)`` points."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return np.concatenate([p.min(axis=0), p.max(axis=0)])
