"""The VAE family: loss by hand, a training step that learns, curves in the run folder, exact resume after a kill,
seeded sampling, scoring."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from blendaug.data.errors import DataError
from blendaug.gan.api import train_generator
from blendaug.gan.config import GanConfig
from blendaug.gan.families import family_of, list_snapshots
from blendaug.gan.vae import VaeSettings, VaeUnit
from blendaug.gan.vae_models import Decoder, Encoder, vae_loss
from tests.gan.family_checks import check_kill_between_any_two_writes, check_sampling, check_scoring, scene_crops
from tests.gan.gan_builders import squares_batch

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(batch=4, image_size=32, width=4, diffaugment="", options={"vae": {"nz": 4}})


def tiny(**kw) -> GanConfig:
    return GanConfig(**{**TINY, "steps": 3, **kw})


def test_loss_by_hand():
    x = torch.zeros(2, 3, 2, 2)
    x_hat = torch.full((2, 3, 2, 2), 0.2)  # 0.1 on the [0, 1] scale
    mu, logvar = torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.zeros(2, 2)
    loss, mse, kl = vae_loss(x, x_hat, mu, logvar, sigma=0.1, beta=2.0)
    assert mse.item() == pytest.approx(0.01)
    assert kl.item() == pytest.approx(0.25)  # 0.5 * mu^2 for the first crop, 0 for the second
    assert loss.item() == pytest.approx(12 * 0.01 / 0.02 + 2 * 0.25)


@pytest.mark.parametrize("size,n_classes", [(32, 0), (64, 2), (128, 0)])
def test_networks_shapes(size, n_classes):
    enc, dec = Encoder(size, 4, 4, n_classes), Decoder(size, 4, 4, n_classes)
    y = torch.tensor([0, 1]) if n_classes else None
    mu, logvar = enc(torch.zeros(2, 3, size, size), y)
    assert mu.shape == logvar.shape == (2, 4)
    out = dec(mu, y)
    assert out.shape == (2, 3, size, size) and out.abs().max() <= 1
    if n_classes:  # the class changes what the decoder draws
        assert not torch.equal(dec(mu, torch.tensor([1, 0])), out)


def test_training_steps_learn_to_reconstruct_and_beta_warms_up():
    s = VaeSettings(32, 0, 8, 8, 1e-3, 0.1, 1.0, 10, False, 0, 0)
    gen = torch.Generator().manual_seed(0)
    unit = VaeUnit(s, gen, "cpu")
    betas = []
    real = squares_batch(8)
    losses = []
    for _ in range(60):
        betas.append(unit.beta())
        losses.append(unit.train_step(real, None, gen))
    losses = torch.stack(losses)  # 60 x (recon_mse, kl, loss)
    assert betas[0] == pytest.approx(1 / 11) and betas[9] == pytest.approx(10 / 11) and betas[10:] == [1.0] * 50
    assert torch.isfinite(losses).all()
    assert losses[-5:, 0].mean() < 0.5 * losses[:5, 0].mean()  # the reconstruction error falls
    assert losses[-1, 1] > 0  # the posterior carries information (no collapse to the prior on this data)


def test_curves_are_written_per_unit(tmp_path):
    crops = scene_crops(tmp_path / "crops")
    info = train_generator("vae", crops, tmp_path / "run", tiny(steps=6, snapshots=[2]), log=lambda m: None)
    assert family_of("vae") == "vae" and not info["conditional"] and info["finished"]
    for unit in ("red", "blue"):
        with (tmp_path / "run" / "curves" / f"{unit}.csv").open() as f:
            rows = list(csv.DictReader(f))
        assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
        assert set(rows[0]) == {"step", "recon_mse", "kl", "loss"}
        assert all(math.isfinite(float(r["kl"])) and float(r["recon_mse"]) > 0 for r in rows)
        assert (tmp_path / "run" / "curves" / f"{unit}.png").read_bytes()[:4] == b"\x89PNG"
    check_sampling(tmp_path / "run", ["red", "blue"])


def test_conditional_resume_after_a_kill_between_any_two_writes(tmp_path, monkeypatch):
    crops = scene_crops(tmp_path / "crops", n=4)
    order = check_kill_between_any_two_writes(tmp_path, monkeypatch, "cvae", crops, tiny(snapshots=[1]))
    assert order[:5] == ["step_0000001/all.pt", "step_0000001/all.png", "checkpoints/all.pt", "curves/all.csv",
                         "curves/all.png"] and len(order) == 10  # fmt: skip


def test_per_class_resume_samples_and_scores(tmp_path):
    crops = scene_crops(tmp_path / "crops")
    cfg = tiny(steps=4, snapshots=[2], checkpoint_every=1, holdout=0.25, score_n=10)
    train_generator("vae", crops, tmp_path / "a", cfg, log=lambda m: None)

    def kill(unit, step):
        if (unit, step) == ("red", 2):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_generator("vae", crops, tmp_path / "b", cfg, on_checkpoint=kill, log=lambda m: None)
    train_generator("vae", crops, tmp_path / "b", cfg, log=lambda m: None)
    for unit in ("red", "blue"):
        a = torch.load(tmp_path / "a" / "checkpoints" / f"{unit}.pt", weights_only=True)["model"]
        b = torch.load(tmp_path / "b" / "checkpoints" / f"{unit}.pt", weights_only=True)["model"]
        assert all(torch.equal(a[part][k], b[part][k]) for part in ("enc", "dec") for k in a[part])
    assert (tmp_path / "a" / "curves" / "red.csv").read_bytes() == (tmp_path / "b" / "curves" / "red.csv").read_bytes()
    check_scoring(tmp_path / "b", crops, cfg, tmp_path)


def test_temperature_and_damaged_snapshot(tmp_path):
    crops = scene_crops(tmp_path / "crops", n=4)
    train_generator("cvae", crops, tmp_path / "a", tiny(steps=2), log=lambda m: None)
    cold = tiny(steps=2, options={"vae": {"nz": 4, "temperature": 0.01}})
    train_generator("cvae", crops, tmp_path / "b", cold, log=lambda m: None)
    warm_x = list_snapshots(tmp_path / "a")[-1].sample("red", 6, 0).astype(float)
    cold_x = list_snapshots(tmp_path / "b")[-1].sample("red", 6, 0).astype(float)
    assert cold_x.std(axis=0).mean() < 0.5 * warm_x.std(axis=0).mean()  # samples near the prior's mean
    (tmp_path / "a" / "snapshots" / "step_0000002" / "all.pt").write_bytes(b"broken")
    with pytest.raises(DataError, match="all.pt"):
        list_snapshots(tmp_path / "a")[-1].sample("red", 1, 0)


def test_cli_trains_with_family_options_and_names_a_bad_one(tmp_path, run_cli):
    crops = scene_crops(tmp_path / "crops", n=4)
    proc = run_cli("gan", "train", crops, tmp_path / "run", "--arch", "cvae", "--steps", "2", "--batch", "4", "--width",
                   "4", "--holdout", "0", "--option", "nz=3", "--option", "sigma=0.2", "--no-progress",
                   check=True)  # fmt: skip
    assert "cvae: 2 class(es), 2 steps" in proc.stdout
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["options"]["nz"] == 3 and info["options"]["sigma"] == 0.2 and info["settings"]["sigma"] == 0.2
    assert list_snapshots(tmp_path / "run")[-1].sample("red", 2, 0).shape == (2, 32, 32, 3)
    bad = run_cli("gan", "train", crops, tmp_path / "bad", "--arch", "vae", "--option", "sigmaa=0.2")
    assert bad.returncode == 2
    assert "--option sigmaa: not a setting of gan.options.vae (did you mean 'sigma'?)" in bad.stderr
    assert not (tmp_path / "bad").exists()
