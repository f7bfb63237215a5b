"""Training: every arch learns to tell real from fake, checkpoints reload exactly, runs resume exactly."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from blendaug.data.errors import ConfigError, DataError, Warnings
from blendaug.data.imageio import save_image
from blendaug.gan.data import load_crops
from blendaug.gan.registry import GAN_ARCHS, get_arch
from blendaug.gan.snapshots import list_snapshots, load_state, save_state
from blendaug.gan.step import GanPair, StepConfig, train_step
from blendaug.gan.train import TrainConfig, parse_snapshots, train_run
from tests.gan.gan_builders import make_crops, squares_batch

TINY = dict(epochs=3, batch=4, image_size=32, width=8, nz=16)


def make_pair(arch: str, seed: int = 0) -> tuple[GanPair, StepConfig]:
    spec = get_arch(arch)
    g, d = spec.build(32, n_classes=2, gen=torch.Generator().manual_seed(seed), nz=16, width=8)
    pair = GanPair.create(g, d, spec.lr, spec.betas, amp=False, device="cpu")
    return pair, StepConfig(spec.gan_loss, nz=16, policy=("translation",))


@pytest.mark.parametrize("arch", sorted(GAN_ARCHS))
def test_each_arch_trains_and_d_separates_real_from_fake(arch):
    pair, cfg = make_pair(arch)
    real = squares_batch(8)
    y = torch.tensor([0, 1] * 4) if get_arch(arch).conditional else None
    gen = torch.Generator().manual_seed(1)
    losses = []
    for step in range(4):
        d_loss, g_loss = train_step(pair, real, y, gen, cfg, g_step=step % 2 == 0)
        losses += [d_loss] + ([g_loss] if g_loss is not None else [])
    assert all(torch.isfinite(v) for v in losses) and len(losses) == 6
    plain = replace(cfg, policy=())
    for _ in range(15):  # D alone learns the difference within a few steps (the WGAN-GP penalty settles first)
        train_step(pair, real, y, gen, plain, g_step=False)
    pair.d.eval(), pair.g.eval()
    with torch.no_grad():
        fake = pair.g(torch.randn(8, 16, generator=gen), y)
        assert pair.d(real, y).mean() > pair.d(fake, y).mean()


def test_checkpoint_reload_gives_identical_samples(tmp_path):
    pair, cfg = make_pair("cdcgan")
    gen = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 1] * 4)
    for _ in range(2):
        train_step(pair, squares_batch(8), y, gen, cfg)
    save_state(tmp_path / "ck.pt", pair.state_dict())
    fresh, _ = make_pair("cdcgan", seed=5)
    fresh.load_state_dict(load_state(tmp_path / "ck.pt"))
    z = torch.randn(8, 16, generator=gen)
    pair.g.eval(), fresh.g.eval()
    assert torch.equal(pair.g(z, y), fresh.g(z, y))
    assert fresh.opt_g.state_dict()["state"][0]["step"] == 2


def _final_weights(run):
    return {p.name: load_state(p)["pair"] for p in sorted((run / "checkpoints").iterdir())}


def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path):
    crops = make_crops(tmp_path / "crops")
    cfg = TrainConfig(arch="wgan-gp", snapshots=(1, 2), **TINY)
    train_run(crops, tmp_path / "a", cfg, progress=False)

    def kill(unit, epoch):
        if (unit, epoch) == ("blue", 1):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(crops, tmp_path / "b", cfg, progress=False, on_epoch_end=kill)
    assert json.loads((tmp_path / "b" / "run.json").read_text())["finished"] is False
    assert [s.epoch for s in list_snapshots(tmp_path / "b")] == [1]  # blue has no epoch-2 snapshot yet
    seen = []
    train_run(crops, tmp_path / "b", cfg, progress=False, on_epoch_end=lambda u, e: seen.append((u, e)))
    assert seen == [("blue", 2), ("blue", 3)]  # red was done, blue resumed after its epoch-1 checkpoint
    a, b = _final_weights(tmp_path / "a"), _final_weights(tmp_path / "b")
    for unit in a:
        for part in ("g", "d"):
            for key, value in a[unit][part].items():
                assert torch.equal(value, b[unit][part][key]), (unit, part, key)
    snaps_a, snaps_b = list_snapshots(tmp_path / "a"), list_snapshots(tmp_path / "b")
    assert [s.epoch for s in snaps_b] == [1, 2, 3]
    assert np.array_equal(snaps_a[-1].sample("red", 4, seed=7), snaps_b[-1].sample("red", 4, seed=7))
    # A finished run is left alone.
    logs = []
    train_run(crops, tmp_path / "b", cfg, progress=False, log=logs.append, on_epoch_end=lambda u, e: seen.append(e))
    assert "already finished" in logs[0] and seen == [("blue", 2), ("blue", 3)]


def test_snapshot_sampling_is_deterministic_and_prefix_stable(tmp_path):
    crops = make_crops(tmp_path / "crops")
    run = tmp_path / "run"
    train_run(crops, run, TrainConfig(arch="cdcgan", snapshots=(1,), **TINY), progress=False)
    (first, last) = list_snapshots(run)
    a = last.sample("blue", 5, seed=3)
    assert a.shape == (5, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a[:2], last.sample("blue", 2, seed=3))
    assert not np.array_equal(a, last.sample("blue", 5, seed=4))
    assert not np.array_equal(a, first.sample("blue", 5, seed=3))
    assert (run / "snapshots" / "epoch_0001" / "all.png").is_file()


def interrupt(unit: str, epoch: int) -> None:
    raise KeyboardInterrupt


def test_corrupt_checkpoint_is_a_data_error_naming_it(tmp_path):
    crops = make_crops(tmp_path / "crops", classes=("red",))
    cfg = TrainConfig(arch="dcgan", **TINY)
    with pytest.raises(KeyboardInterrupt):
        train_run(crops, tmp_path / "run", cfg, progress=False, on_epoch_end=interrupt)
    ckpt = tmp_path / "run" / "checkpoints" / "red.pt"
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match=str(ckpt)):
        train_run(crops, tmp_path / "run", cfg, progress=False)
    save_state(ckpt, {"pair": {"g": {}}, "rng": torch.Generator().get_state(), "epoch": 1, "step": 1})
    with pytest.raises(DataError, match="red.pt: checkpoint does not fit this run"):
        train_run(crops, tmp_path / "run", cfg, progress=False)


def test_bad_settings(tmp_path):
    crops = make_crops(tmp_path / "crops", classes=("red",))
    with pytest.raises(ConfigError, match="outside 1..3"):
        parse_snapshots("1,5", 3)
    with pytest.raises(ConfigError, match="--snapshots"):
        train_run(crops, tmp_path / "r", TrainConfig(arch="dcgan", snapshots=(9,), **TINY), progress=False)
    with pytest.raises(ConfigError, match="label-smoothing"):
        train_run(crops, tmp_path / "r", TrainConfig(arch="wgan-gp", label_smoothing=0.1, **TINY), progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no crops found"):
        train_run(empty, tmp_path / "r", TrainConfig(**TINY), progress=False)
    assert not (tmp_path / "r").exists()
    train_run(crops, tmp_path / "r", TrainConfig(epochs=1, batch=4, image_size=32, width=8, nz=16), progress=False)
    with pytest.raises(ConfigError, match="other settings.*epochs: 1 != 3"):
        train_run(crops, tmp_path / "r", TrainConfig(**TINY), progress=False)


def test_gray_mixed_size_and_single_crops(tmp_path):
    root = tmp_path / "crops"
    save_image(root / "car" / "a.png", np.full((20, 40, 3), 200, np.uint8))
    Image.fromarray(np.full((50, 50), 90, np.uint8)).save(root / "car" / "b.png")
    save_image(root / "van" / "c.png", np.full((64, 64, 3), 10, np.uint8))
    warnings = Warnings()
    crops = load_crops(root, 32, warnings=warnings)
    assert crops.images.shape == (3, 32, 32, 3) and crops.class_names == ["car", "van"]
    assert (crops.images[1] == 90).all()  # grayscale -> 3 equal channels
    assert warnings.counts == {"class with one crop": 1} and "'van'" in warnings.examples["class with one crop"]
    logs = []
    info = train_run(root, tmp_path / "run", TrainConfig(arch="cdcgan", **TINY), progress=False, log=logs.append)
    assert info["finished"] and info["crops_per_class"] == {"car": 2, "van": 1}
    assert any("1 crop" in line for line in logs)


def test_split_filter(tmp_path):
    crops = make_crops(tmp_path / "crops", classes=("red",))
    index = crops / "index.csv"
    index.write_text(index.read_text().replace(",train,", ",val,", 2))
    assert len(load_crops(crops, 32).images) == 4 and len(load_crops(crops, 32, split="all").images) == 6
    with pytest.raises(DataError, match="no crops of split 'test'"):
        load_crops(crops, 32, split="test")
