"""Integration on the real aerial datasets under ../shared/data (skipped when absent).

Each one is imported, split with a group regex that keeps sequences together, and cropped; the
regexes are the ones recommended for configs (see the comments on each).
"""

from __future__ import annotations

import csv
import re
from collections import Counter

import numpy as np
import pytest

from blendaug.data.crops import extract_crops
from blendaug.data.errors import Warnings
from blendaug.data.imageio import load_image_rgb
from blendaug.data.split import group_key, split_dataset
from blendaug.data.yolo import read_yolo
from tests.conftest import shared_dataset

# aerial_cars_jekhor, 7 groups: the DJI video ids (DJI_0005, DJI-00760, DJI_0762, DJI_0013); KIT AIS
# MunichStreet02-MOS*; and the two KIT AIS MOS* sequences told apart by the frame number's length
# (MOS74..MOS93 at 684x547 -> "MOS", MOS155..MOS179 at 1764x430 -> "MOS1").
JEKHOR_GROUP = r"^(DJI[-_]\d+|MunichStreet\d+|MOS\d*?(?=\d\d\.))"
# drone_view_vehicles_cats, 18 groups: Drone1 clip ids 0..9 from "<clip>_<frame>.jpg"; the single
# Drone2 flight (262 of 469 images) cut into blocks of 100 frames, "Drone2_(<n>).jpg" -> n // 100,
# so no block is much bigger than a clip (only the two frames at each block edge are near-duplicates).
DRONE_GROUP = r"^(\d+(?=_\d)|Drone2_\(\d*?(?=\d?\d\)))"

CASES = {
    "aerial_cars_jekhor": (JEKHOR_GROUP, None, 114, 7),
    "drone_view_vehicles_cats": (DRONE_GROUP, ["car"], 469, 18),
}


def test_drone_group_regex_cuts_drone2_into_blocks_of_100_frames():
    pattern = re.compile(DRONE_GROUP)
    assert [group_key(pattern, f"Drone2_({n}).jpg") for n in (1, 7, 99, 102, 199, 789)] == [
        "Drone2_(", "Drone2_(", "Drone2_(", "Drone2_(1", "Drone2_(1", "Drone2_(7"]
    assert [group_key(pattern, n) for n in ("0_14.jpg", "9_80.jpg")] == ["0", "9"]


def test_jekhor_group_regex_names_each_sequence():
    pattern = re.compile(JEKHOR_GROUP)
    names = ["DJI_0005-0018.jpg", "DJI-00760-00001.jpg", "DJI_0762-00031.jpg", "MOS74.png", "MOS93.png",
             "MOS155.png", "MunichStreet02-MOS74.png"]
    assert [group_key(pattern, n) for n in names] == [
        "DJI_0005", "DJI-00760", "DJI_0762", "MOS", "MOS", "MOS1", "MunichStreet02"]


@pytest.mark.parametrize("name", list(CASES))
def test_real_dataset_split_keeps_sequences_together_and_crops_count(name, tmp_path):
    group, names, n_images, n_groups = CASES[name]
    ds = read_yolo(shared_dataset(name), names=names)
    assert len(ds.images) == n_images

    warnings = Warnings()
    split = split_dataset(ds, val=0.15, test=0.15, seed=0, group=group, warnings=warnings)
    assert not warnings, warnings.summary()  # every file name matches the regex
    pattern = re.compile(group)
    splits_of_group: dict[str, set[str]] = {}
    for im in split.images:
        splits_of_group.setdefault(group_key(pattern, im.path.name), set()).add(im.split)
    assert len(splits_of_group) == n_groups
    assert all(len(s) == 1 for s in splits_of_group.values())
    sizes = Counter(im.split for im in split.images)
    assert sum(sizes.values()) == n_images
    largest_group = max(Counter(group_key(pattern, im.path.name) for im in ds.images).values())
    for s in ("val", "test"):  # within one group of the 15% target
        assert 0 < sizes[s] <= 0.15 * n_images + largest_group

    train = split.split("train")
    min_px = 8
    expected = Counter()
    for im in train:
        sides = np.minimum(*(im.boxes_xyxy_px[:, 2:] - im.boxes_xyxy_px[:, :2]).T)
        expected.update(split.names[c] for c in im.class_ids[sides >= min_px])
    out = extract_crops(split, tmp_path / "crops", split="train", size=32, min_px=min_px)
    with open(out / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert Counter(r["class"] for r in rows) == expected
    assert {r["split"] for r in rows} == {"train"}
    assert {p.name for p in out.iterdir() if p.is_dir()} == set(expected)
    for cls, n in expected.items():
        assert len(list((out / cls).glob("*.png"))) == n
    assert load_image_rgb(out / rows[-1]["file"]).shape == (32, 32, 3)
