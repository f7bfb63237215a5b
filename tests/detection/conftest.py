"""Fixtures for the detection tests: a tiny, learnable YOLO dataset drawn with numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blendaug.data.imageio import encode_image
from blendaug.data.model import Dataset, ImageRecord
from blendaug.data.yolo import write_yolo

COLOURS = {0: (220, 40, 40), 1: (40, 60, 220)}  # class 0 red, class 1 blue


def make_rect_dataset(out: Path, counts: dict[str, int], size: int = 128, seed: int = 0) -> Path:
    """Write a 2-class YOLO dataset of coloured rectangles on a noisy grey background.

    Args:
        counts: images per split, e.g. ``{"train": 8, "val": 2, "test": 2}``.

    Returns:
        the ``data.yaml`` path.
    """
    rng = np.random.default_rng(seed)
    records = []
    for split, n in counts.items():
        for i in range(n):
            img = rng.integers(90, 140, size=(size, size, 3), dtype=np.uint8)
            boxes, ids = [], []
            for _ in range(int(rng.integers(1, 4))):
                w, h = rng.integers(size // 6, size // 3, size=2)
                x1, y1 = rng.integers(0, size - w), rng.integers(0, size - h)
                c = int(rng.integers(0, 2))
                img[y1:y1 + h, x1:x1 + w] = COLOURS[c]
                boxes.append([x1, y1, x1 + w, y1 + h])
                ids.append(c)
            name = f"{split}_{i:03d}.png"
            records.append(ImageRecord(path=Path(name), width=size, height=size, boxes_xyxy_px=np.array(boxes),
                                       class_ids=np.array(ids), split=split, data=encode_image(img, ".png")))
    return write_yolo(Dataset(names=["red", "blue"], images=records), out)


@pytest.fixture(scope="session")
def rect_data(tmp_path_factory) -> Path:
    """A 12/4/4 image dataset at 128 px (data.yaml path)."""
    return make_rect_dataset(tmp_path_factory.mktemp("rects") / "ds", {"train": 12, "val": 4, "test": 4})


@pytest.fixture
def rect_factory():
    """:func:`make_rect_dataset` itself, for tests that need their own sizes."""
    return make_rect_dataset
