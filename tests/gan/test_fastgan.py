"""The FastGAN family: networks, a training step that learns, exact resume after a kill, seeded sampling, scoring."""

from __future__ import annotations

import json

import pytest
import torch
from pydantic import ValidationError

from blendaug.data.errors import ConfigError
from blendaug.gan.api import train_generator
from blendaug.gan.config import GanConfig
from blendaug.gan.families import family_of, list_snapshots
from blendaug.gan.fastgan import FastGanUnit, FastSettings, calibrated
from blendaug.gan.fastgan_models import build, quarter
from tests.gan.family_checks import check_kill_between_any_two_writes, check_sampling, check_scoring, scene_crops
from tests.gan.gan_builders import squares_batch

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(batch=4, image_size=32, width=4, diffaugment="translation", options={"fastgan": {"nz": 8}})


def tiny(**kw) -> GanConfig:
    return GanConfig(**{**TINY, "steps": 3, **kw})


@pytest.mark.parametrize("size,n_classes", [(32, 0), (64, 3), (128, 0)])
def test_networks_shapes_and_the_excitation_gate(size, n_classes):
    g, d = build(size, n_classes, torch.Generator().manual_seed(0), nz=8, width=4)
    gen = torch.Generator().manual_seed(1)
    y = torch.tensor([0, 2]) if n_classes else None
    z, noise = torch.randn(2, 8, generator=gen), g.draw_noise(2, gen)
    x = g(z, y, noise)
    assert x.shape == (2, 3, size, size) and x.abs().max() <= 1
    d.eval()  # in train mode each call moves the spectral norms' power iteration and the batch-norm statistics
    logits, rec_all, rec_part = d(x, y, part=3)
    side = min(size // 2, 32)
    assert logits.shape == (2, 5, 5) and rec_all.shape == rec_part.shape == (2, 3, side, side)
    assert torch.equal(d(x, y), logits)
    assert len(g.sle) == 2 and set(g.sle) == {str(size // 2), str(size)}
    sle = g.sle[str(size)]  # the largest map is gated per channel by the 8x8 map
    big = torch.randn(2, sle.gate[1].out_channels, size, size, generator=gen)
    small = torch.randn(2, sle.gate[1].in_channels, 8, 8, generator=gen)
    ratio = sle(small, big) / big
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-5)
    assert ((ratio > 0) & (ratio < 1)).all() and not torch.allclose(sle(small * 3, big), sle(small, big))


def test_quarter_picks_the_right_quadrant():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert quarter(x, 0).flatten().tolist() == [0, 1, 4, 5]
    assert quarter(x, 3).flatten().tolist() == [10, 11, 14, 15]


def _unit(n_classes=0, policy=()):
    s = FastSettings(32, n_classes, 8, 8, 2e-4, policy, 1.0, True, 0.999, False, 0, 0)
    gen = torch.Generator().manual_seed(0)
    return FastGanUnit(s, gen, "cpu"), gen


def test_training_steps_learn_reconstruction_and_real_vs_fake():
    unit, gen = _unit(policy=("translation",))
    real = squares_batch(8)
    losses = torch.stack([unit.train_step(real, None, gen) for _ in range(40)])  # 40 x (d_real, d_fake, recon, g)
    assert torch.isfinite(losses).all()
    assert losses[-5:, 2].mean() < 0.6 * losses[:5, 2].mean()  # the decoders learn to reconstruct
    unit.d.eval()
    with torch.no_grad():
        fake = unit.g(torch.randn(8, 8, generator=gen), None, unit.g.draw_noise(8, gen))
        assert unit.d(real).mean() > unit.d(fake).mean()
    # the average generator moved from the initial weights, the snapshot copy leaves the trained one alone
    before = {k: v.clone() for k, v in unit.g.state_dict().items()}
    g_eval = calibrated(unit.ema, torch.Generator().manual_seed(5))
    assert not g_eval.training and all(torch.equal(before[k], v) for k, v in unit.g.state_dict().items())


def test_conditional_unit_trains_one_generator_for_all_classes(tmp_path):
    crops = scene_crops(tmp_path / "crops")
    info = train_generator("cfastgan", crops, tmp_path / "run", tiny(snapshots=[1]), log=lambda m: None)
    assert family_of("cfastgan") == "fastgan" and info["conditional"] and info["finished"]
    assert sorted(p.name for p in (tmp_path / "run" / "snapshots" / "step_0000003").iterdir()) == ["all.png", "all.pt"]
    assert info["train_time"]["cpu_s"] > 0 and info["train_time"]["complete"]
    header = (tmp_path / "run" / "curves" / "all.csv").read_text().splitlines()[0]
    assert header == "step,d_real,d_fake,recon,g"
    check_sampling(tmp_path / "run", ["red", "blue"])


def test_resume_after_a_kill_between_any_two_writes_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    crops = scene_crops(tmp_path / "crops", n=4)
    cfg = tiny(snapshots=[2], checkpoint_every=100)  # checkpoints at the snapshot and the end
    order = check_kill_between_any_two_writes(tmp_path, monkeypatch, "cfastgan", crops, cfg)
    at = [[f"step_000000{k}/all.pt", f"step_000000{k}/all.png", "checkpoints/all.pt", "curves/all.csv",
           "curves/all.png"] for k in (2, 3)]  # fmt: skip
    assert order == at[0] + at[1]  # at each snapshot (the end is one): weights, grid, checkpoint, curves


def test_per_class_run_resumes_with_identical_weights_samples_and_scores(tmp_path):
    crops = scene_crops(tmp_path / "crops")
    cfg = tiny(steps=4, snapshots=[2], checkpoint_every=1, holdout=0.25, score_n=10)
    train_generator("fastgan", crops, tmp_path / "a", cfg, log=lambda m: None)

    def kill(unit, step):
        if (unit, step) == ("blue", 3):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_generator("fastgan", crops, tmp_path / "b", cfg, on_checkpoint=kill, log=lambda m: None)
    seen = []
    info = train_generator("fastgan", crops, tmp_path / "b", cfg, on_checkpoint=lambda u, s: seen.append((u, s)))
    assert seen == [("blue", 4)] and info["train_time"]["complete"] is False
    for unit in ("red", "blue"):
        a = torch.load(tmp_path / "a" / "checkpoints" / f"{unit}.pt", weights_only=True)
        b = torch.load(tmp_path / "b" / "checkpoints" / f"{unit}.pt", weights_only=True)
        assert all(torch.equal(a["model"]["g"][k], b["model"]["g"][k]) for k in a["model"]["g"])
        assert torch.equal(a["losses"], b["losses"]) and a["losses"].shape == (4, 4)
    sa, sb = list_snapshots(tmp_path / "a")[-1], list_snapshots(tmp_path / "b")[-1]
    assert (sa.sample("blue", 4, 1) == sb.sample("blue", 4, 1)).all()
    check_sampling(tmp_path / "b", ["red", "blue"])
    check_scoring(tmp_path / "b", crops, cfg, tmp_path)
    assert json.loads((tmp_path / "b" / "run.json").read_text())["options"]["nz"] == 8


def test_bad_settings(tmp_path):
    crops = scene_crops(tmp_path / "crops", n=4)
    with pytest.raises(ValidationError, match="extra"):
        tiny(options={"fastgan": {"nzz": 8}})
    with pytest.raises(ConfigError, match="--size: 48"):
        train_generator("fastgan", crops, tmp_path / "r", tiny(image_size=48))
    with pytest.raises(ConfigError, match="did you mean 'fastgan'"):
        train_generator("fastgn", crops, tmp_path / "r", tiny())
    train_generator("fastgan", crops, tmp_path / "r", tiny(steps=1), log=lambda m: None)
    with pytest.raises(ConfigError, match=r"other settings.*recon_weight"):
        train_generator("fastgan", crops, tmp_path / "r", tiny(steps=1, options={"fastgan": {"recon_weight": 2.0}}))
