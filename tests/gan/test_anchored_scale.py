"""The anchored quality scale on real toyworld crops, through the family interface and ``score_generator``.

Toyworld is split by scene into train (the generator's crops), val (held-out crops the scorer compares with)
and test (more real crops of unseen scenes: what a perfect generator would draw). The "generators" here are
the replay family's: they draw crops of a folder, so each test knows what the right answer is.
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from blendaug.data.crops import extract_crops
from blendaug.data.imageio import save_image
from blendaug.data.io import read_dataset
from blendaug.data.split import split_dataset
from blendaug.data.toyworld import GROUP_REGEX, ToyworldConfig, generate_toyworld
from blendaug.data.yolo import write_yolo
from blendaug.gan.api import require_tiers, sample_tier, score_generator, tier_availability, train_generator
from blendaug.gan.config import GanConfig
from blendaug.gan.quality.references import flat_colour
from blendaug.gan.sample import UnusableTierError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CFG = dict(score_n=50, image_size=32)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Crops of toyworld split by scene: {"train", "val", "test"} -> crops folder."""
    root = tmp_path_factory.mktemp("toy")
    src = generate_toyworld(root / "raw", ToyworldConfig(n_images=48, size=512, seed=1))
    ds = split_dataset(read_dataset(src), val=0.25, test=0.25, seed=0, group=GROUP_REGEX)
    write_yolo(ds, root / "ds")
    from blendaug.data.yolo import read_yolo

    ds = read_yolo(root / "ds" / "data.yaml")
    return {s: extract_crops(ds, root / s, split=s, size=32, allow_test=s == "test") for s in ("train", "val", "test")}


def noise_folder(root, like) -> str:
    """A crops folder of flat random colours with the classes of ``like`` (a flat-noise "generator")."""
    with open(like / "index.csv", newline="") as f:
        classes = sorted({r["class"] for r in csv.DictReader(f)})
    rng = np.random.default_rng(0)
    rows = []
    for name in classes:
        for i, im in enumerate(flat_colour(rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), 40, rng)):
            save_image(root / name / f"{i:04d}.png", im)
            rows.append((f"{name}/{i:04d}.png", name))
    with open(root / "index.csv", "w", newline="") as f:
        csv.writer(f).writerows([("file", "class"), *rows])
    return str(root)


def replay(toy, tmp_path, source=None, name="run") -> pd.DataFrame:
    cfg = GanConfig(archs=["replay"], options={"replay": {"source": None if source is None else str(source)}}, **CFG)
    run = tmp_path / name
    train_generator("replay", toy["train"], run, cfg, log=lambda m: None)
    return score_generator(run, toy["train"], toy["val"], cfg, seed=0, log=lambda m: None).set_index("class")


def test_unseen_real_crops_score_near_the_top_and_do_not_copy(toy, tmp_path):
    q = replay(toy, tmp_path, toy["test"])
    assert q.loc["all", "quality"] > 0.75 and q.loc["all", "tstr_norm"] > 0.75
    assert q.loc["all", "tier"] == "high" and not q["copying"].any()


def test_a_generator_returning_its_training_crops_is_flagged_as_copying(toy, tmp_path):
    q = replay(toy, tmp_path)
    assert q["copying"].all() and (q["copy_z"] < -3).all()
    assert q.loc["all", "quality"] > 0.9  # by quality alone it is as good as real crops: only the flag tells


def test_a_flat_noise_generator_is_unusable_and_never_feeds_a_tier(toy, tmp_path):
    q = replay(toy, tmp_path, noise_folder(tmp_path / "noise", toy["train"]))
    assert (q["tier"] == "unusable").all() and (q["quality"] < 0.25).all()
    avail = tier_availability(tmp_path / "run")
    assert avail.missing("mixed") == avail.classes
    remedies = r"no usable snapshot of tier high.*gan\.snapshots.*gan\.allow_unusable"
    with pytest.raises(UnusableTierError, match=remedies):
        require_tiers(tmp_path / "run", ["high"])
    assert len(require_tiers(tmp_path / "run", ["high", "mixed"], allow_unusable=True)) == 2
    with pytest.raises(UnusableTierError):
        sample_tier(tmp_path / "run", tmp_path / "s", "mixed", n=3)
    out = sample_tier(tmp_path / "run", tmp_path / "s", "mixed", n=3, allow_unusable=True)
    rows = pd.read_csv(out / "index.csv")
    assert len(rows) == 3 * len(avail.classes) and set(rows["tier"]) == {"unusable"}


def test_tiers_of_a_real_gan_are_stable_for_a_seed(toy, tmp_path):
    cfg = GanConfig(archs=["cdcgan"], steps=12, snapshots=[0.5], batch=16, width=8, diffaugment="translation",
                    options={"gan": {"nz": 16}}, **CFG)  # fmt: skip
    tables = []
    for name in ("a", "b"):
        train_generator("cdcgan", toy["train"], tmp_path / name, cfg, seed=3, log=lambda m: None)
        score_generator(tmp_path / name, toy["train"], toy["val"], cfg, seed=3, log=lambda m: None)
        tables.append((tmp_path / name / "quality.csv").read_bytes())
    assert tables[0] == tables[1]
    table = pd.read_csv(tmp_path / "a" / "quality.csv")
    assert list(table["snapshot"].unique()) == [6, 12] and table["tier"].isin(
        ["high", "mid", "low", "unusable"]).all()  # fmt: skip
    # Twelve steps of a tiny GAN are not clearly better than noise.
    assert (table.loc[table["class"] == "all", "tier"] == "unusable").all()
