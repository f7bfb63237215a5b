"""``gan sample``: which snapshots a tier draws from, and the samples folder it writes."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from blendaug.data.errors import BlendaugError, ConfigError, DataError
from blendaug.data.imageio import load_image_rgb
from blendaug.gan.api import train_generator
from blendaug.gan.config import GanConfig
from blendaug.gan.families import list_snapshots
from blendaug.gan.sample import (
    INDEX_COLUMNS,
    UnusableTierError,
    plan_draws,
    read_quality,
    sample_run,
    split_evenly,
    tier_availability,
    tier_shares,
)
from tests.gan.gan_builders import make_crops, write_quality

CLASSES = ["car", "van"]
# Epochs 1..4; car has its own rows, van only the "all" rows.
QUALITY = {
    (1, "car"): ("low", 90.0),
    (2, "car"): ("high", 20.0),
    (3, "car"): ("mid", 40.0),
    (4, "car"): ("high", 25.0),
    (1, "all"): ("low", 95.0),
    (2, "all"): ("mid", 50.0),
    (3, "all"): ("high", 30.0),
    (4, "all"): ("high", None),
}


def test_split_evenly_and_tier_shares():
    assert split_evenly(7, 3) == [3, 2, 2]
    assert split_evenly(2, 3) == [1, 1, 0]
    assert tier_shares(10, "mid", ["high", "mid"]) == {"mid": 10}
    assert tier_shares(10, "mixed", ["high", "mid", "low"]) == {"high": 4, "mid": 3, "low": 3}
    assert tier_shares(5, "mixed", ["low", "high"]) == {"high": 3, "low": 2}


def test_plan_high_spreads_over_the_high_snapshots():
    draws = plan_draws(QUALITY, [1, 2, 3, 4], CLASSES, CLASSES, 5, "high", seed=0)
    assert [(d.class_name, d.step, d.tier, d.n, d.score) for d in draws] == [
        ("car", 2, "high", 3, 20.0),
        ("car", 4, "high", 2, 25.0),
        ("van", 3, "high", 3, 30.0),  # no van rows: the "all" rows decide
        ("van", 4, "high", 2, None),
    ]
    assert len({d.seed for d in draws}) == 4
    assert draws == plan_draws(QUALITY, [1, 2, 3, 4], CLASSES, CLASSES, 5, "high", seed=0)
    assert draws[0].seed != plan_draws(QUALITY, [1, 2, 3, 4], CLASSES, CLASSES, 5, "high", seed=1)[0].seed


def test_plan_mixed_and_missing_tiers():
    draws = plan_draws(QUALITY, [1, 2, 3, 4], CLASSES, ["car"], 7, "mixed", seed=0)
    assert [(d.step, d.tier, d.n) for d in draws] == [(2, "high", 2), (4, "high", 1), (3, "mid", 2), (1, "low", 2)]
    # Only snapshots that exist count: without epoch 1 no car snapshot is low.
    with pytest.raises(UnusableTierError, match="no usable snapshot of tier 'low' for class 'car'"):
        plan_draws(QUALITY, [2, 3, 4], CLASSES, ["car"], 3, "low", seed=0)
    mixed = plan_draws(QUALITY, [2, 3, 4], CLASSES, ["car"], 3, "mixed", seed=0)
    assert sorted((d.tier, d.n) for d in mixed) == [("high", 1), ("high", 1), ("mid", 1)]


def test_unusable_snapshots_never_feed_a_tier():
    quality = {(1, "car"): ("unusable", -0.2), (2, "car"): ("unusable", 0.1), (3, "car"): ("low", 0.3)}
    draws = plan_draws(quality, [1, 2, 3], ["car"], ["car"], 6, "mixed", seed=0)
    assert [(d.step, d.tier, d.n) for d in draws] == [(3, "low", 6)]
    only_unusable = {k: v for k, v in quality.items() if k[0] < 3}
    with pytest.raises(UnusableTierError, match=r"tier 'mixed' for class 'car' \(1: unusable, 2: unusable\)"):
        plan_draws(only_unusable, [1, 2], ["car"], ["car"], 6, "mixed", seed=0)
    # allow_unusable: the best-quality snapshot, marked as such.
    draws = plan_draws(only_unusable, [1, 2], ["car"], ["car"], 6, "high", seed=0, allow_unusable=True)
    assert [(d.step, d.tier, d.n, d.score) for d in draws] == [(2, "unusable", 6, 0.1)]


def test_read_quality(tmp_path):
    with pytest.raises(BlendaugError, match="run `blendaug gan score"):
        read_quality(tmp_path)
    write_quality(tmp_path, [(5, "car", "high", 12.5), (6, "car", "low", "")])
    assert read_quality(tmp_path) == {(5, "car"): ("high", 12.5), (6, "car"): ("low", None)}
    write_quality(tmp_path, [(5, "car", "unusable", -0.5)])
    assert read_quality(tmp_path) == {(5, "car"): ("unusable", -0.5)}
    write_quality(tmp_path, [(5, "car", "great", 1.0)])
    with pytest.raises(DataError, match="quality.csv:2: tier 'great'"):
        read_quality(tmp_path)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    crops = make_crops(root / "crops", classes=("red", "blue"), n=4)
    cfg = GanConfig(steps=2, snapshots=[1], batch=4, image_size=32, width=8, options={"gan": {"nz": 16}})
    train_generator("dcgan", crops, root / "run", cfg, log=lambda m: None)
    write_quality(root / "run", [(1, "red", "low", 80.0), (2, "red", "high", 10.0), (1, "all", "low", 90.0),
                                 (2, "all", "high", 20.0)])  # fmt: skip
    return root / "run"


def read_index(out):
    with (out / "index.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_sample_run_writes_crops_and_index(tiny_run, tmp_path):
    out = sample_run(tiny_run, tmp_path / "s", n=4, tier="mixed", seed=3)
    rows = read_index(out)
    assert tuple(rows[0]) == INDEX_COLUMNS and len(rows) == 8
    expected = [(c, e, t, fid) for c, low, high in [("red", "80", "10"), ("blue", "90", "20")]
                for e, t, fid in [("2", "high", high)] * 2 + [("1", "low", low)] * 2]  # fmt: skip
    assert [(r["class"], r["snapshot"], r["tier"], r["score"]) for r in rows] == expected
    assert {r["arch"] for r in rows} == {"dcgan"}
    assert rows[0]["file"] == "red/000000.png" and rows[7]["file"] == "blue/000007.png"
    first = load_image_rgb(out / rows[0]["file"])
    snap = {s.step: s for s in list_snapshots(tiny_run)}[2]
    assert np.array_equal(first, snap.sample("red", 2, int(rows[0]["seed"]))[0])
    again = sample_run(tiny_run, tmp_path / "s2", n=4, tier="mixed", seed=3)
    assert all((out / r["file"]).read_bytes() == (again / r["file"]).read_bytes() for r in rows)
    assert (out / "index.csv").read_bytes() == (again / "index.csv").read_bytes()


def test_sample_run_one_class_and_errors(tiny_run, tmp_path):
    rows = read_index(sample_run(tiny_run, tmp_path / "s", n=3, tier="low", class_name="blue"))
    assert {(r["class"], r["snapshot"], r["tier"]) for r in rows} == {("blue", "1", "low")} and len(rows) == 3
    with pytest.raises(ConfigError, match="no class 'car'"):
        sample_run(tiny_run, tmp_path / "x", n=3, class_name="car")
    with pytest.raises(ConfigError, match="--tier"):
        sample_run(tiny_run, tmp_path / "x", n=3, tier="best")
    with pytest.raises(UnusableTierError, match="tier 'mid'"):
        sample_run(tiny_run, tmp_path / "x", n=3, tier="mid")
    avail = tier_availability(tiny_run)
    assert avail.by_tier["high"] == {"red": [2], "blue": [2]} and avail.missing("mid") == ["red", "blue"]
    assert avail.usable("mixed") and "no usable snapshot of tier mid for class(es) red, blue" in avail.message("mid")
    assert not (tmp_path / "x").exists()
    with pytest.raises(BlendaugError, match="already exists"):
        sample_run(tiny_run, tmp_path / "s", n=3, tier="low", class_name="blue")
