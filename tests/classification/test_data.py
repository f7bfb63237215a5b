"""Splits, class handling, bad input, GAN-crop selection and classical augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from blendaug.classification.data import (
    load_images,
    make_splits,
    read_split_file,
    split_file_text,
    stratified_split,
)
from blendaug.classification.synthetic import classical_augment, parse_tiers, read_synthetic_pool, select_synthetic
from blendaug.data.errors import ConfigError, DataError, Warnings


def test_seeded_split_is_stratified_disjoint_and_deterministic(crops):
    a = make_splits(crops, val=0.25, test=0.25, seed=3)
    b = make_splits(crops, val=0.25, test=0.25, seed=3)
    c = make_splits(crops, val=0.25, test=0.25, seed=4)
    assert a.classes == ["car", "truck", "van"]
    assert a.files == b.files and a.files != c.files
    # 12 per class: round(3) to val, round(3) to test, 6 to train
    assert a.counts() == {"train": dict.fromkeys(a.classes, 6), "val": dict.fromkeys(a.classes, 3),
                          "test": dict.fromkeys(a.classes, 3)}
    sets = [set(a.files[s]) for s in ("train", "val", "test")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert len(set().union(*sets)) == 36
    for s in ("train", "val", "test"):  # labels follow the folder
        assert all(f.split("/")[0] == a.classes[y] for f, y in zip(a.files[s], a.labels[s], strict=True))


def test_stratified_split_needs_enough_images():
    codes = stratified_split([3], 0.15, 0.15, np.random.default_rng(0))
    assert sorted(codes[0].tolist()) == [0, 1, 2]  # at least one of each
    with pytest.raises(DataError, match="too few"):
        stratified_split([2], 0.15, 0.15, np.random.default_rng(0))


def test_train_per_class_keeps_val_and_test_untouched(crops):
    full = make_splits(crops, val=0.25, test=0.25, seed=0)
    few = make_splits(crops, val=0.25, test=0.25, seed=0, train_per_class=2)
    assert few.files["val"] == full.files["val"] and few.files["test"] == full.files["test"]
    assert few.counts()["train"] == dict.fromkeys(few.classes, 2)
    assert set(few.files["train"]) | set(few.files["unused"]) == set(full.files["train"])
    w = Warnings()
    make_splits(crops, val=0.25, test=0.25, train_per_class=10, warnings=w)
    assert w.counts == {"train class below --train-per-class": 3}


def test_classes_restrict_and_unknown_class_suggests(crops):
    cs = make_splits(crops, classes=["van", "car"])
    assert cs.classes == ["van", "car"]
    assert {f.split("/")[0] for f in cs.files["train"]} == {"van", "car"}
    with pytest.raises(ConfigError, match="did you mean truck"):
        make_splits(crops, classes=["car", "truk"])


def test_split_folders_are_used_and_val_is_carved_from_train(tmp_path, crop_writer):
    crop_writer(tmp_path / "d" / "train", {"car": 10, "van": 10})
    crop_writer(tmp_path / "d" / "test", {"car": 3, "van": 3}, seed=1)
    cs = make_splits(tmp_path / "d", val=0.2)
    assert cs.source == "folders"
    assert all(f.startswith("test/") for f in cs.files["test"]) and len(cs.files["test"]) == 6
    assert cs.counts()["val"] == {"car": 2, "van": 2} and cs.counts()["train"] == {"car": 8, "van": 8}
    assert all(f.startswith("train/") for f in cs.files["val"])
    crop_writer(tmp_path / "d" / "val", {"car": 1, "van": 1}, seed=2)
    assert make_splits(tmp_path / "d").counts()["val"] == {"car": 1, "van": 1}
    crop_writer(tmp_path / "e" / "train", {"car": 4, "van": 4})
    with pytest.raises(DataError, match="test"):
        make_splits(tmp_path / "e")


def test_split_file_round_trip(crops, tmp_path):
    cs = make_splits(crops, seed=5, train_per_class=4)
    path = tmp_path / "split.csv"
    path.write_text(split_file_text(cs))
    back = read_split_file(path, crops, None)
    for s in ("train", "val", "test"):
        assert back.files[s] == cs.files[s] and back.labels[s] == cs.labels[s]
    assert make_splits(crops, split_file=path).files["test"] == cs.files["test"]


def test_empty_class_folder_is_a_counted_warning(crops):
    (crops / "bus").mkdir()
    w = Warnings()
    cs = make_splits(crops, warnings=w)
    assert "bus" not in cs.classes and w.counts == {"empty class folder": 1}


def test_a_single_class_is_an_error(tmp_path, crop_writer):
    crop_writer(tmp_path / "one", {"car": 6})
    (tmp_path / "one" / "truck").mkdir()  # empty: does not count
    with pytest.raises(DataError, match="at least 2"):
        make_splits(tmp_path / "one")


def test_corrupt_image_names_the_file_or_is_skipped(crops):
    bad = crops / "car" / "car_000.png"
    bad.write_bytes(b"not a png")
    cs = make_splits(crops, val=0.25, test=0.25, seed=0)
    split = next(s for s in ("train", "val", "test") if "car/car_000.png" in cs.files[s])
    with pytest.raises(DataError, match="car_000.png"):
        load_images(crops, cs.files[split], cs.labels[split], 32)
    w = Warnings()
    x, y, kept = load_images(crops, cs.files[split], cs.labels[split], 16, skip_bad=True, warnings=w)
    assert w.counts == {"unreadable image skipped": 1}
    assert x.shape == (len(cs.files[split]) - 1, 16, 16, 3) and len(y) == len(kept) == len(x)
    assert "car/car_000.png" not in kept


def test_synthetic_pool_filters_tier_and_warns_about_unknown_classes(tmp_path, gan_writer):
    root = gan_writer(tmp_path / "gan", {"car": {"high": 4, "low": 2}, "van": {"high": 3}, "tank": {"high": 2}})
    w = Warnings()
    pool = read_synthetic_pool(root, ["car", "truck", "van"], parse_tiers("high"), w)
    assert {c: len(v) for c, v in pool.items()} == {"car": 4, "truck": 0, "van": 3}
    assert all("/high_" in f for f in pool["car"])
    assert w.counts == {"synthetic class not in real data": 1} and "tank" in w.examples[
        "synthetic class not in real data"]
    assert len(read_synthetic_pool(root, ["car", "van"], parse_tiers("all"), Warnings())["car"]) == 6
    with pytest.raises(ConfigError):
        parse_tiers("best")
    (root / "index.csv").unlink()
    with pytest.raises(ConfigError, match="--tier all"):
        read_synthetic_pool(root, ["car", "van"], parse_tiers("high"), Warnings())
    assert len(read_synthetic_pool(root, ["car", "van"], parse_tiers("all"), Warnings())["car"]) == 6


def test_synthetic_index_errors_name_the_file(tmp_path, gan_writer):
    root = gan_writer(tmp_path / "gan", {"car": {"high": 2}})
    (root / "car" / "high_001.png").unlink()
    with pytest.raises(DataError, match=r"index.csv:3"):
        read_synthetic_pool(root, ["car"], ("high",), Warnings())
    (root / "index.csv").write_text("file,class\ncar/high_000.png,car\n")
    with pytest.raises(DataError, match="missing column"):
        read_synthetic_pool(root, ["car"], ("high",), Warnings())


def test_select_synthetic_ratio_count_nesting_and_shortage():
    pool = {"car": [f"car/{i}.png" for i in range(10)], "van": [f"van/{i}.png" for i in range(3)]}
    half, _ = select_synthetic(pool, [4, 4], ["car", "van"], seed=0, ratio=0.5)
    one, labels = select_synthetic(pool, [4, 4], ["car", "van"], seed=0, ratio=1.0)
    assert len(half) == 4 and set(half) <= set(one)  # nested: ratio 0.5 is a subset of ratio 1
    w = Warnings()
    files, labels = select_synthetic(pool, [4, 4], ["car", "van"], seed=0, count=5, warnings=w)
    assert labels.count(0) == 5 and labels.count(1) == 3  # van's pool is short
    assert w.counts == {"synthetic pool short": 1}
    assert select_synthetic(pool, [4, 4], ["car", "van"], seed=0, ratio=0.0)[0] == []
    assert select_synthetic(pool, [4, 4], ["car", "van"], seed=1, ratio=1.0)[0] != one


def test_classical_augment_is_seeded_and_label_preserving():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (5, 32, 32, 3)).astype(np.uint8)
    labels = np.array([0, 1, 2, 0, 1])
    a, ya = classical_augment(images, labels, 3, seed=7)
    b, _ = classical_augment(images, labels, 3, seed=7)
    c, _ = classical_augment(images, labels, 3, seed=8)
    assert a.shape == (15, 32, 32, 3) and a.dtype == np.uint8
    assert ya.tolist() == labels.tolist() * 3
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a[:5], images)
    assert classical_augment(images, labels, 0, seed=7)[0].shape == (0, 32, 32, 3)
    with pytest.raises(ConfigError):
        classical_augment(images, labels, 1, seed=0, policy="underwater")
