"""Seeded, grouped train/val/test splits and train subsampling (in-memory datasets, no files)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from blendaug.data.errors import ConfigError, DataError, Warnings
from blendaug.data.model import Dataset, ImageRecord
from blendaug.data.split import group_key, split_dataset


def _rec(name: str, classes: list[int] = (0,), split: str = "train") -> ImageRecord:
    boxes = [[10.0 * i, 0.0, 10.0 * i + 8.0, 8.0] for i in range(len(classes))]
    return ImageRecord(path=Path("/data") / name, width=100, height=100, boxes_xyxy_px=boxes,
                       class_ids=list(classes), split=split)


def _flat(n: int) -> Dataset:
    return Dataset(names=["car"], images=[_rec(f"img{i:03d}.jpg") for i in range(n)])


def _clips(sizes: list[int]) -> Dataset:
    """Clip k has sizes[k] frames named ``clip{k}_{frame}.jpg``."""
    return Dataset(names=["car"], images=[_rec(f"clip{k}_{f:03d}.jpg") for k, n in enumerate(sizes) for f in range(n)])


def _assignment(ds: Dataset) -> dict[str, str]:
    return {im.rel_path.as_posix(): im.split for im in ds.images}


def test_same_seed_same_split_different_seed_different():
    ds = _flat(100)
    a = _assignment(split_dataset(ds, seed=3))
    assert a == _assignment(split_dataset(ds, seed=3))
    assert a != _assignment(split_dataset(ds, seed=4))


def test_split_ignores_input_order_and_previous_splits():
    ds = _flat(60)
    shuffled = list(ds.images)
    random.Random(1).shuffle(shuffled)
    for i, im in enumerate(shuffled):
        im.split = ("train", "val", "test")[i % 3]
    assert _assignment(split_dataset(ds, seed=0)) == _assignment(split_dataset(ds.with_images(shuffled), seed=0))


def test_split_is_pure():
    ds = _flat(20)
    split_dataset(ds, val=0.5, test=0.2, seed=0)
    assert {im.split for im in ds.images} == {"train"}


def test_fractions_are_honoured_with_singleton_groups():
    out = split_dataset(_flat(200), val=0.15, test=0.1, seed=0)
    assert (len(out.split("train")), len(out.split("val")), len(out.split("test"))) == (150, 30, 20)
    assert len(out.images) == 200


def test_zero_fraction_gives_no_split():
    out = split_dataset(_flat(10), val=0.2, test=0.0, seed=0)
    assert out.splits_present() == ["train", "val"] and len(out.split("val")) == 2


def test_groups_never_span_splits_and_fractions_are_approximate():
    sizes = [7, 3, 12, 5, 9, 4, 6, 8, 10, 5, 6, 7, 3, 9, 6]  # 100 images in 15 clips
    for seed in range(5):
        out = split_dataset(_clips(sizes), val=0.2, test=0.2, seed=seed, group=r"^(clip\d+)_")
        split_of_clip: dict[str, set[str]] = {}
        for im in out.images:
            split_of_clip.setdefault(im.path.name.split("_")[0], set()).add(im.split)
        assert all(len(s) == 1 for s in split_of_clip.values())
        assert len(split_of_clip) == 15
        for name in ("val", "test"):
            assert 20 - 12 <= len(out.split(name)) <= 20 + 12  # within one (largest) clip of the target


def test_group_regex_uses_first_participating_group_and_counts_unmatched():
    pattern = re.compile(r"^(\d+)_|^(Drone2)_")
    assert group_key(pattern, "3_17.jpg") == "3"
    assert group_key(pattern, "Drone2_(5).jpg") == "Drone2"
    assert group_key(pattern, "other.jpg") is None
    ds = Dataset(names=["car"], images=[_rec(f"{k}_{f}.jpg") for k in range(6) for f in range(3)]
                 + [_rec("odd1.jpg"), _rec("odd2.jpg")])
    warnings = Warnings()
    out = split_dataset(ds, val=0.2, test=0.2, seed=0, group=r"^(\d+)_", warnings=warnings)
    assert warnings.counts == {"file name does not match --group (kept as its own group)": 2}
    by_clip: dict[str, set[str]] = {}
    for im in out.images:
        by_clip.setdefault(im.path.name.split("_")[0], set()).add(im.split)
    assert all(len(s) == 1 for s in by_clip.values())


@pytest.mark.parametrize("regex", ["(unclosed", r"clip\d+_"])
def test_bad_group_regex_is_a_config_error_naming_the_flag(regex):
    with pytest.raises(ConfigError, match="--group"):
        split_dataset(_clips([3, 3, 3]), group=regex)


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.5, 0.5), (0.2, float("nan")), (1.0, 0.0)])
def test_bad_fractions_are_config_errors(val, test):
    with pytest.raises(ConfigError):
        split_dataset(_flat(10), val=val, test=test)


def test_too_few_groups_is_a_data_error():
    with pytest.raises(DataError, match="'val' would be empty.*too few"):
        split_dataset(_clips([10]), val=0.2, test=0.2, group=r"^(clip\d+)_")
    with pytest.raises(DataError, match="'train' would be empty"):
        split_dataset(_clips([5, 5]), val=0.2, test=0.2, group=r"^(clip\d+)_")


def test_tiny_fraction_still_gets_one_group():
    out = split_dataset(_clips([20, 20, 3, 20]), val=0.0, test=0.01, seed=0, group=r"^(clip\d+)_")
    assert len(out.split("test")) == 3


def test_empty_dataset_is_a_data_error():
    with pytest.raises(DataError, match="no images"):
        split_dataset(Dataset(names=["car"], images=[]))


def test_train_size_subsamples_train_only_and_is_nested():
    ds = _flat(100)
    full = split_dataset(ds, val=0.2, test=0.2, seed=5)
    small = split_dataset(ds, val=0.2, test=0.2, seed=5, train_size=10)
    smaller = split_dataset(ds, val=0.2, test=0.2, seed=5, train_size=4)
    assert len(small.split("train")) == 10 and len(smaller.split("train")) == 4
    for name in ("val", "test"):
        assert _assignment(small.with_images(small.split(name))) == _assignment(full.with_images(full.split(name)))
    def train_names(d: Dataset) -> set[Path]:
        return {im.rel_path for im in d.split("train")}

    assert train_names(smaller) < train_names(small) < train_names(full)


def test_train_size_larger_than_train_is_a_config_error():
    with pytest.raises(ConfigError, match="--train-size 61"):
        split_dataset(_flat(100), val=0.2, test=0.2, train_size=61)


def test_train_per_class_covers_each_class():
    # class 0 in every image, class 1 in every 5th, class 2 in two images only
    images = [_rec(f"im{i:02d}.jpg", [0] + ([1] if i % 5 == 0 else []) + ([2] if i in (3, 7) else []))
              for i in range(50)]
    ds = Dataset(names=["car", "van", "truck"], images=images)
    warnings = Warnings()
    out = split_dataset(ds, val=0.0, test=0.0, seed=1, train_per_class=3, warnings=warnings)
    train = out.split("train")
    per_class = [sum(1 for im in train if c in im.class_ids) for c in range(3)]
    assert per_class[0] >= 3 and per_class[1] >= 3 and per_class[2] == 2
    assert len(train) <= 3 + 3 + 2  # greedy never adds an image that no class still needed
    assert list(warnings.counts.values()) == [1]  # truck has only 2 images


def test_train_size_and_train_per_class_are_exclusive():
    with pytest.raises(ConfigError, match="mutually exclusive"):
        split_dataset(_flat(10), train_size=2, train_per_class=2)


def test_duplicate_rel_paths_from_different_splits_stay_distinct():
    # Two different files (images/train/a.jpg, images/val/a.jpg) with the same rel_path a.jpg.
    twins = [_rec(f"{s}/a.jpg", split=s) for s in ("train", "val")]
    for rec in twins:
        rec.rel_path = Path("a.jpg")
    ds = Dataset(names=["car"], images=twins + [_rec(f"b{i}.jpg") for i in range(8)])
    out = split_dataset(ds, val=0.1, test=0.1, seed=0)
    rels = [im.rel_path.as_posix() for im in out.images]
    assert len(set(rels)) == 10 and "train/a.jpg" in rels and "val/a.jpg" in rels


def test_a_file_listed_under_two_source_splits_lands_in_one_split(tmp_path):
    # A data.yaml whose val is its train folder (and test its val): every file is listed two or three times.
    import numpy as np

    from blendaug.data.imageio import save_image
    from blendaug.data.yolo import read_yolo

    for i in range(12):
        save_image(tmp_path / "images" / "train" / f"img{i:02d}.png", np.full((8, 8, 3), i, np.uint8))
    (tmp_path / "data.yaml").write_text("train: images/train\nval: images/train\ntest: images/train\nnames: [car]\n")
    ds = read_yolo(tmp_path)
    assert len(ds.images) == 36
    for seed in range(5):
        warnings = Warnings()
        out = split_dataset(ds, val=0.25, test=0.25, seed=seed, warnings=warnings)
        files = [im.path.resolve() for im in out.images]
        assert len(files) == len(set(files)) == 12
        assert {len(out.split(s)) for s in ("train", "val", "test")} == {6, 3}
        assert warnings.counts["file listed in two source splits, pooled once"] == 24
