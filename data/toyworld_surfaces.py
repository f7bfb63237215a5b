"""toyworld's surface masks: where in each image a vehicle may stand, written beside the image.

``generate_toyworld`` writes ``OUT/surfaces/<split>/<name>.png`` for ``OUT/images/<split>/<name>.jpg``:
a single-channel PNG of the image's size holding one code per pixel,

- ``SURFACE_DRIVABLE`` (1): roads (their driving lanes);
- ``SURFACE_PARKING`` (2): parking lots and the parking lanes along roads;
- ``SURFACE_OTHER`` (0): grass, sidewalks, roofs.

``surfaces/`` sits beside ``images/`` and ``labels/``: YOLO readers (blendaug's, which list
``images/`` or what ``data.yaml`` names, and ultralytics', which map ``images`` to ``labels``)
never see it. Every real toyworld vehicle has its box centre on a drivable or parking pixel, so
the masks measure how realistically a compositor places pasted ones.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from blendaug.data.errors import DataError
from blendaug.data.toyworld_layout import SURFACE_DRIVABLE, SURFACE_OTHER, SURFACE_PARKING

__all__ = ["SURFACES_DIR", "SURFACE_DRIVABLE", "SURFACE_OTHER", "SURFACE_PARKING", "centres_on_surface",
           "read_surface", "surface_path_for"]

SURFACES_DIR = "surfaces"


def surface_path_for(image_path: str | os.PathLike) -> Path:
    """Where an image's surface mask is: the last ``images`` folder becomes ``surfaces``, the suffix ``.png``.

    ``OUT/images/train/scene0000_00.jpg`` -> ``OUT/surfaces/train/scene0000_00.png``.

    Raises:
        ValueError: the path has no ``images`` folder.
    """
    parts = list(Path(image_path).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = SURFACES_DIR
            return Path(*parts).with_suffix(".png")
    raise ValueError(f"{image_path}: not under an 'images' folder")


def read_surface(path: str | os.PathLike) -> np.ndarray:
    """A surface mask: (H, W) uint8 codes ``SURFACE_*``.

    Raises:
        DataError: the file is missing or not a single-channel image.
    """
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.ndim != 2:
        raise DataError(f"{path}: not a toyworld surface mask (a single-channel PNG)")
    return mask


def centres_on_surface(boxes_xyxy_px: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """Whether each box's centre pixel (N, 4 -> N bool) is drivable or parking; centres outside the image are not."""
    boxes = np.asarray(boxes_xyxy_px, np.float64).reshape(-1, 4)
    h, w = surface.shape
    cx = np.floor((boxes[:, 0] + boxes[:, 2]) / 2.0).astype(np.int64)
    cy = np.floor((boxes[:, 1] + boxes[:, 3]) / 2.0).astype(np.int64)
    inside = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
    on = np.zeros(len(boxes), bool)
    on[inside] = surface[cy[inside], cx[inside]] != SURFACE_OTHER
    return on
