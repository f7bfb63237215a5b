"""Dataset statistics: exact counts and percentiles, and the text table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blendaug.data.model import Dataset, ImageRecord
from blendaug.data.stats import dataset_stats, format_stats


def _ds() -> Dataset:
    def rec(name, split, boxes, ids):
        return ImageRecord(path=Path(name), width=200, height=200, boxes_xyxy_px=boxes, class_ids=ids, split=split)

    return Dataset(names=["car", "van", "truck"], images=[
        # car widths 10, 20, 30, 40, 50 (heights 5 each); one van 60x30
        rec("a.jpg", "train", [(0, 0, 10, 5), (0, 0, 20, 5), (0, 0, 60, 30)], [0, 0, 1]),
        rec("b.jpg", "train", [(0, 0, 30, 5)], [0]),
        rec("c.jpg", "train", [], []),
        rec("d.jpg", "val", [(0, 0, 40, 5), (10, 10, 60, 15)], [0, 0]),
    ])


def test_counts_per_split_and_class():
    s = dataset_stats(_ds())
    assert s["names"] == ["car", "van", "truck"]
    assert list(s["splits"]) == ["train", "val"]
    assert s["splits"]["train"] == {"images": 3, "images_without_boxes": 1, "boxes": 4,
                                    "boxes_per_class": [3, 1, 0], "images_per_class": [2, 1, 0]}
    assert s["splits"]["val"]["boxes_per_class"] == [2, 0, 0]
    assert s["total"]["images"] == 4 and s["total"]["boxes"] == 6 and s["total"]["images_per_class"] == [3, 1, 0]


def test_box_size_percentiles_in_pixels():
    sizes = dataset_stats(_ds())["box_size_px"]
    # numpy's linear percentiles of 10..50: p5 = 10 + 0.05 * 40 = 12, p25 = 20, p50 = 30, p75 = 40, p95 = 48
    assert sizes["car"]["boxes"] == 5
    assert sizes["car"]["width"] == pytest.approx({"p5": 12, "p25": 20, "p50": 30, "p75": 40, "p95": 48})
    assert sizes["car"]["height"] == pytest.approx({f"p{p}": 5 for p in (5, 25, 50, 75, 95)})
    assert sizes["van"]["width"]["p50"] == 60 and sizes["van"]["height"]["p95"] == 30
    assert sizes["truck"] == {"boxes": 0, "width": None, "height": None}


def test_stats_are_json_ready():
    s = dataset_stats(_ds())
    assert json.loads(json.dumps(s)) == s


def test_format_stats_shows_every_class_and_split():
    text = format_stats(dataset_stats(_ds()))
    lines = text.splitlines()
    assert lines[0] == "4 images, 6 boxes, 3 classes"
    header = next(ln for ln in lines if ln.startswith("class") and "train" in ln)
    assert header.split() == ["class", "train", "val", "total"]
    car = next(ln for ln in lines if ln.startswith("car ") and "/" in ln and "train" not in ln)
    assert car.split() == ["car", "2", "/", "3", "1", "/", "2", "3", "/", "5"]
    sizes = [ln for ln in lines if ln.startswith("car ")][-1]
    assert sizes.split() == ["car", "5", "12", "/", "20", "/", "30", "/", "40", "/", "48"] + ["5", "/"] * 4 + ["5"]
    assert [ln for ln in lines if ln.startswith("truck")][-1].split() == ["truck", "0", "-", "-"]
    assert next(ln for ln in lines if ln.startswith("no boxes")).split() == ["no", "boxes", "1", "0", "1"]


def test_empty_dataset_does_not_crash():
    s = dataset_stats(Dataset(names=["car"], images=[]))
    assert s["total"]["images"] == 0 and s["box_size_px"]["car"]["width"] is None
    assert "0 images" in format_stats(s)
