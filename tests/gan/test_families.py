"""The family interface: orientation round trips, and a new family is one class plus one registry entry."""

from __future__ import annotations

import numpy as np
import pytest

from blendaug.data.imageio import load_image_rgb
from blendaug.gan import families
from blendaug.gan.api import sample_tier, score_generator, train_generator
from blendaug.gan.config import GanConfig
from blendaug.gan.data import Crops, load_crops
from blendaug.gan.orientation import canonical, turn_back
from blendaug.gan.replay_family import ReplayFamily
from tests.gan.gan_builders import make_crops

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_canonical_turns_tall_crops_and_turn_back_restores_the_mix():
    images = np.zeros((4, 8, 8, 3), np.uint8)
    images[:, :, 3:5] = 255  # a vertical bar: a tall vehicle
    tall = np.array([True, True, False, True])
    crops = Crops(images, np.array([0, 0, 0, 1]), ["car", "van"], ["a", "b", "c", "d"], ["s"] * 4, tall)
    turned, share = canonical(crops)
    assert share == {"car": pytest.approx(2 / 3), "van": 1.0}
    assert (turned.images[0, 3:5, :] == 255).all() and (turned.images[2] == images[2]).all()  # now horizontal
    back = turn_back(turned.images[[0, 1, 3]], 1.0, seed=0)
    assert np.array_equal(back, images[[0, 1, 3]])  # turned back clockwise: the original crops
    many = np.repeat(turned.images[:1], 400, axis=0)
    out = turn_back(many, 0.25, seed=5)
    vertical = (out[:, 0, 3:5] == 255).all(axis=(1, 2))
    assert 0.18 < vertical.mean() < 0.32
    assert np.array_equal(turn_back(many[:10], 0.25, seed=5), out[:10])  # crop k depends on (seed, k) only


class MirrorFamily(ReplayFamily):
    """A new "family" for the test: replayed crops, mirrored."""

    generators = {"mirror": "replayed crops, flipped left-right"}

    def snapshots(self, run_dir, info):
        class Mirrored:
            def __init__(self, inner):
                self.inner, self.step, self.classes = inner, inner.step, inner.classes

            def sample(self, class_name, n, seed, device="cpu"):
                return self.inner.sample(class_name, n, seed, device)[:, :, ::-1]

        return [Mirrored(s) for s in super().snapshots(run_dir, info)]


def test_a_new_family_needs_one_class_and_one_registry_entry(tmp_path, monkeypatch):
    monkeypatch.setitem(families.FAMILIES, "mirror", MirrorFamily())
    cfg = GanConfig(archs=["mirror"], score_n=10, image_size=32, holdout=0.25)  # the name validates now
    crops = make_crops(tmp_path / "crops", n=8)
    index = crops / "index.csv"
    lines = index.read_text().splitlines()
    index.write_text("\n".join([lines[0]] + [ln.replace("scene.jpg", f"scene{i % 4}.jpg")
                                             for i, ln in enumerate(lines[1:])]) + "\n")  # fmt: skip
    info = train_generator("mirror", crops, tmp_path / "run", cfg, log=lambda m: None)
    assert info["family"] == "mirror"
    table = score_generator(tmp_path / "run", crops, None, cfg, log=lambda m: None)
    assert set(table["class"]) == {"red", "blue", "all"}
    assert set(table["tier"]) <= {"high", "mid", "low", "unusable"}
    out = sample_tier(tmp_path / "run", tmp_path / "s", "high", n=2, allow_unusable=True)
    drawn = [load_image_rgb(p) for p in sorted((out / "red").glob("*.png"))]
    train = load_crops(crops, 32)
    flipped = [im[:, ::-1] for im in train.images]
    assert len(drawn) == 2 and all(any(np.array_equal(d, f) for f in flipped) for d in drawn)
