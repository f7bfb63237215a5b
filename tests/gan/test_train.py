"""Training: every arch learns to tell real from fake, checkpoints reload exactly, runs resume exactly, even when
killed between any two file writes; budgets in steps; held-out crops."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from blendaug.data.errors import ConfigError, DataError, Warnings
from blendaug.data.imageio import save_image
from blendaug.gan import runs, train
from blendaug.gan.api import train_generator
from blendaug.gan.config import GanConfig
from blendaug.gan.data import group_keys, holdout_split, load_crops
from blendaug.gan.families import list_snapshots
from blendaug.gan.registry import GAN_ARCHS, get_arch
from blendaug.gan.runs import load_state, save_state
from blendaug.gan.step import GanPair, StepConfig, train_step
from tests.gan.gan_builders import make_crops, squares_batch

TINY = dict(batch=4, image_size=32, width=8, diffaugment="", options={"gan": {"nz": 16}})

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(**kw) -> GanConfig:
    return GanConfig(**{**TINY, "steps": 3, **kw})


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
    return {p.name: load_state(p) for p in sorted((run / "checkpoints").iterdir())}


def _snapshot_files(run):
    out = {}
    for p in sorted((run / "snapshots").rglob("*")):
        if p.suffix == ".pt":
            out[str(p.relative_to(run))] = load_state(p)
        elif p.suffix == ".png":
            out[str(p.relative_to(run))] = p.read_bytes()
    return out


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path):
    crops = make_crops(tmp_path / "crops")  # 6 crops per class: batch 4 -> one batch per pass
    cfg = tiny(steps=4, snapshots=[1, 2], checkpoint_every=1)
    train_generator("wgan-gp", crops, tmp_path / "a", cfg, log=lambda m: None)

    def kill(unit, step):
        if (unit, step) == ("blue", 1):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_generator("wgan-gp", crops, tmp_path / "b", cfg, on_checkpoint=kill, log=lambda m: None)
    assert json.loads((tmp_path / "b" / "run.json").read_text())["finished"] is False
    assert [s.step for s in list_snapshots(tmp_path / "b")] == [1]  # blue has no step-2 snapshot yet
    seen = []
    train_generator("wgan-gp", crops, tmp_path / "b", cfg, on_checkpoint=lambda u, e: seen.append((u, e)))
    assert seen == [("blue", 2), ("blue", 3), ("blue", 4)]  # red was done, blue resumed after its step-1 checkpoint
    assert _same(_final_weights(tmp_path / "a"), _final_weights(tmp_path / "b"))
    assert _same(_snapshot_files(tmp_path / "a"), _snapshot_files(tmp_path / "b"))
    snaps_a, snaps_b = list_snapshots(tmp_path / "a"), list_snapshots(tmp_path / "b")
    assert [s.step for s in snaps_b] == [1, 2, 4]
    assert np.array_equal(snaps_a[-1].sample("red", 4, seed=7), snaps_b[-1].sample("red", 4, seed=7))
    logs = []  # a finished run is left alone
    train_generator("wgan-gp", crops, tmp_path / "b", cfg, log=logs.append, on_checkpoint=lambda u, e: seen.append(e))
    assert "already finished" in logs[0] and len(seen) == 3


def test_a_kill_between_any_two_writes_resumes_to_the_same_run(tmp_path, monkeypatch):
    """Issue 12: a kill after the checkpoint and before the snapshot lost the snapshot for good. Kill the run
    right after each of its file writes in turn (snapshot weights, grid, checkpoint, ...), resume, and compare."""
    crops = make_crops(tmp_path / "crops")
    cfg = tiny(steps=4, snapshots=[2, 3], checkpoint_every=100)  # checkpoints only at snapshots and the end
    train_generator("cdcgan", crops, tmp_path / "ref", cfg, log=lambda m: None)
    reference = (_snapshot_files(tmp_path / "ref"), _final_weights(tmp_path / "ref"))
    real_write = runs.write_bytes
    writes: list[str] = []

    def write_then_maybe_die(path, payload):
        real_write(path, payload)
        writes.append(path.name)
        if len(writes) == kill_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(runs, "write_bytes", write_then_maybe_die)
    monkeypatch.setattr(train, "write_bytes", write_then_maybe_die)
    kill_after = 0
    train_generator("cdcgan", crops, tmp_path / "count", cfg, log=lambda m: None)
    order, n_writes = list(writes), len(writes)
    for kill_after in range(1, n_writes + 1):
        writes.clear()
        run = tmp_path / f"killed{kill_after}"
        with pytest.raises(KeyboardInterrupt):
            train_generator("cdcgan", crops, run, cfg, log=lambda m: None)
        writes.clear()
        kill_after_resume, kill_after = kill_after, -1
        train_generator("cdcgan", crops, run, cfg, log=lambda m: None)
        kill_after = kill_after_resume
        assert _same(_snapshot_files(run), reference[0]), f"killed after write {kill_after} of {order}"
        assert _same(_final_weights(run), reference[1])
    assert order == ["all.pt", "all.png", "all.pt"] * 3  # at steps 2, 3 and 4 (the end): snapshot, grid, checkpoint


def test_a_snapshot_missing_below_the_checkpoint_is_trained_again(tmp_path):
    crops = make_crops(tmp_path / "crops", classes=("red",))
    cfg = tiny(steps=4, snapshots=[2], checkpoint_every=1)
    with pytest.raises(KeyboardInterrupt):
        train_generator("dcgan", crops, tmp_path / "run", cfg, on_checkpoint=interrupt_at(3), log=lambda m: None)
    gone = runs.snapshot_dir(tmp_path / "run", 2) / "red.pt"
    gone.unlink()
    logs = []
    train_generator("dcgan", crops, tmp_path / "run", cfg, log=logs.append)
    assert gone.is_file() and any("missing below the checkpoint" in m for m in logs)
    train_generator("dcgan", crops, tmp_path / "ref", cfg, log=lambda m: None)
    assert _same(_snapshot_files(tmp_path / "run"), _snapshot_files(tmp_path / "ref"))


def interrupt_at(step: int):
    def hook(unit: str, at: int) -> None:
        if at == step:
            raise KeyboardInterrupt

    return hook


def test_snapshot_sampling_is_deterministic_and_prefix_stable(tmp_path):
    crops = make_crops(tmp_path / "crops")
    run = tmp_path / "run"
    train_generator("cdcgan", crops, run, tiny(snapshots=[1]), log=lambda m: None)
    (first, last) = list_snapshots(run)
    a = last.sample("blue", 5, seed=3)
    assert a.shape == (5, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a[:2], last.sample("blue", 2, seed=3))
    assert not np.array_equal(a, last.sample("blue", 5, seed=4))
    assert not np.array_equal(a, first.sample("blue", 5, seed=3))
    assert (run / "snapshots" / "step_0000001" / "all.png").is_file()


def test_epoch_budget_is_converted_and_recorded(tmp_path):
    crops = make_crops(tmp_path / "crops", n=9)  # 9 per class; dcgan: one generator per class
    info = train_generator("dcgan", crops, tmp_path / "run", GanConfig(**TINY, epochs=2, snapshots=[1]),
                           log=lambda m: None)  # fmt: skip
    # 9 crops at batch 4: 2 steps per epoch.
    assert info["steps"] == 4 and info["snapshots"] == [2, 4]
    assert info["budget"] == {"epochs": 2, "steps_per_epoch": 2, "crops_per_generator": 9, "batch": 4,
                              "snapshots": [1]}  # fmt: skip


def test_corrupt_checkpoint_is_a_data_error_naming_it(tmp_path):
    crops = make_crops(tmp_path / "crops", classes=("red",))
    cfg = tiny(checkpoint_every=1)
    with pytest.raises(KeyboardInterrupt):
        train_generator("dcgan", crops, tmp_path / "run", cfg, on_checkpoint=interrupt_at(1), log=lambda m: None)
    ckpt = tmp_path / "run" / "checkpoints" / "red.pt"
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match=str(ckpt)):
        train_generator("dcgan", crops, tmp_path / "run", cfg)
    save_state(ckpt, {"pair": {"g": {}}, "rng": torch.Generator().get_state(), "step": 1, "order": None, "pos": 0})
    with pytest.raises(DataError, match="red.pt: checkpoint does not fit this run"):
        train_generator("dcgan", crops, tmp_path / "run", cfg)


def test_bad_settings(tmp_path):
    crops = make_crops(tmp_path / "crops", classes=("red",))
    with pytest.raises(ConfigError, match="label_smoothing"):
        train_generator("wgan-gp", crops, tmp_path / "r", tiny(options={"gan": {"label_smoothing": 0.1, "nz": 16}}))
    with pytest.raises(ConfigError, match="unknown generator 'dcgn'"):
        train_generator("dcgn", crops, tmp_path / "r", tiny())
    with pytest.raises(ConfigError, match="--size: 48"):
        train_generator("dcgan", crops, tmp_path / "r", tiny(image_size=48))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no crops found"):
        train_generator("dcgan", empty, tmp_path / "r", tiny())
    assert not (tmp_path / "r").exists()
    train_generator("dcgan", crops, tmp_path / "r", tiny(steps=1), log=lambda m: None)
    with pytest.raises(ConfigError, match=r"other settings.*steps: 1 != 3"):
        train_generator("dcgan", crops, tmp_path / "r", tiny())


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
    info = train_generator("cdcgan", root, tmp_path / "run", tiny(), log=logs.append)
    assert info["finished"] and info["crops"]["per_class"] == {"car": 2, "van": 1}
    assert any("1 crop" in line for line in logs)


def test_split_filter(tmp_path):
    crops = make_crops(tmp_path / "crops", classes=("red",))
    index = crops / "index.csv"
    index.write_text(index.read_text().replace(",train,", ",val,", 2))
    assert len(load_crops(crops, 32).images) == 4 and len(load_crops(crops, 32, split="all").images) == 6
    with pytest.raises(DataError, match="no crops of split 'test'"):
        load_crops(crops, 32, split="test")


def test_holdout_keeps_groups_together_and_is_seeded():
    groups = [f"scene{i // 4}" for i in range(40)]  # 10 groups of 4
    held = holdout_split(groups, 0.25, seed=3)
    assert np.array_equal(held, holdout_split(groups, 0.25, seed=3))
    assert not np.array_equal(held, holdout_split(groups, 0.25, seed=4))
    assert held.sum() == 12  # whole groups until 25 % is reached: 3 groups of 4
    assert all(len({h for g2, h in zip(groups, held, strict=True) if g2 == g}) == 1 for g in set(groups))
    assert not holdout_split(groups, 0.0, 0).any() and not holdout_split(["a"], 0.5, 0).all()
    sources = ["/d/images/train/scene0001_00.jpg", "/d/images/train/scene0001_03.jpg", "/d/x.jpg"]
    assert group_keys(sources, r"^(scene\d+)_") == ["scene0001", "scene0001", "/d/x.jpg"]
    assert group_keys(sources, None) == sources
    with pytest.raises(ConfigError, match="capture group"):
        group_keys(sources, "scene")


def test_train_with_holdout_records_the_held_out_files(tmp_path):
    crops = make_crops(tmp_path / "crops", n=8)  # give the crops 4 source images
    index = crops / "index.csv"
    lines = index.read_text().splitlines()
    index.write_text("\n".join([lines[0]] + [ln.replace("scene.jpg", f"scene{i % 4}_0.jpg")
                                             for i, ln in enumerate(lines[1:])]) + "\n")  # fmt: skip
    info = train_generator("cdcgan", crops, tmp_path / "run", tiny(holdout=0.25), log=lambda m: None)
    held = info["crops"]["holdout"]["files"]
    assert len(held) == 4 and sum(info["crops"]["per_class"].values()) == 12
    with pytest.raises(ConfigError, match="too few groups"):
        train_generator("cdcgan", make_crops(tmp_path / "one"), tmp_path / "r2", tiny(holdout=0.25))
