"""The DDPM family: the diffusers UNet learns to denoise, runs resume exactly after a kill between any two
writes, samples are deterministic and class-conditional, runs go through scoring, and nothing reaches the network."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from blendaug.data.errors import ConfigError
from blendaug.gan import ddpm_train, runs
from blendaug.gan.api import score_generator, train_generator
from blendaug.gan.config import GanConfig
from blendaug.gan.ddpm_model import build_unet, denoising_loss, train_scheduler, unet_config
from blendaug.gan.families import family_of, list_snapshots
from tests.gan.gan_builders import make_crops, squares_batch

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OPTS = {"sample_steps": 2, "sample_chunk": 4, "warmup": 0}


def tiny(**kw) -> GanConfig:
    options = {"ddpm": {**OPTS, **kw.pop("ddpm", {})}}
    return GanConfig(**{"archs": ["ddpm"], "batch": 4, "image_size": 32, "width": 8, "steps": 3, "options": options,
                        **kw})  # fmt: skip


@pytest.mark.parametrize("prediction", ["v_prediction", "epsilon"])
def test_the_unet_learns_to_denoise(prediction):
    opts = GanConfig(options={"ddpm": {"prediction": prediction}}).family_options("ddpm")
    unet = build_unet(unet_config(32, 8, n_classes=1), seed=0)
    sched = train_scheduler(opts)
    x0, y = squares_batch(8), torch.zeros(8, dtype=torch.long)

    def held_out_loss() -> float:  # the same timesteps and noise each time
        with torch.no_grad():
            return float(denoising_loss(unet, sched, x0, y, torch.Generator().manual_seed(99), 0.0))

    before = held_out_loss()
    opt = torch.optim.AdamW(unet.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(25):
        loss = denoising_loss(unet, sched, x0, y, gen, 0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert held_out_loss() < 0.7 * before


def test_the_unet_is_built_from_a_config_seeded_without_touching_the_global_rng():
    cfg = unet_config(64, 16, n_classes=3)
    assert cfg["block_out_channels"] == [16, 32, 32, 32] and cfg["num_class_embeds"] == 4  # 64 -> 8: 4 levels
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = build_unet(cfg, seed=1), build_unet(cfg, seed=1)
    assert torch.rand(1) == before
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    with pytest.raises(ConfigError, match="image size 48"):
        unet_config(48, 16, 3)


def _files(run) -> dict:
    out = {}
    for p in sorted((run / "snapshots").rglob("*")) + sorted((run / "checkpoints").rglob("*")):
        if p.suffix == ".pt":
            out[str(p.relative_to(run))] = runs.load_state(p)
        elif p.suffix == ".png":
            out[str(p.relative_to(run))] = p.read_bytes()
    return out


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def test_a_kill_between_any_two_writes_resumes_to_the_same_run(tmp_path, monkeypatch):
    crops = make_crops(tmp_path / "crops")
    cfg = tiny(steps=4, snapshots=[2, 3], checkpoint_every=100)
    train_generator("ddpm", crops, tmp_path / "ref", cfg, log=lambda m: None)
    reference = _files(tmp_path / "ref")
    real_write = runs.write_bytes
    writes: list[str] = []
    kill_after = 0

    def write_then_maybe_die(path, payload):
        real_write(path, payload)
        writes.append(path.name)
        if len(writes) == kill_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(runs, "write_bytes", write_then_maybe_die)
    monkeypatch.setattr(ddpm_train, "write_bytes", write_then_maybe_die)
    train_generator("ddpm", crops, tmp_path / "count", cfg, log=lambda m: None)
    order = list(writes)
    assert order == ["all.pt", "all.png", "all.pt"] * 3  # at steps 2, 3 and 4: snapshot, grid, checkpoint
    for kill_after in range(1, len(order) + 1):
        writes.clear()
        run = tmp_path / f"killed{kill_after}"
        with pytest.raises(KeyboardInterrupt):
            train_generator("ddpm", crops, run, cfg, log=lambda m: None)
        assert json.loads((run / "run.json").read_text())["finished"] is False
        kill_after, saved = -1, kill_after
        train_generator("ddpm", crops, run, cfg, log=lambda m: None)
        kill_after = saved
        assert _same(_files(run), reference), f"killed after write {kill_after} of {order}"
    logs = []
    train_generator("ddpm", crops, run, cfg, log=logs.append)
    assert "already finished" in logs[0]


def test_samples_are_deterministic_per_seed_prefix_stable_and_conditional(tmp_path):
    crops = make_crops(tmp_path / "crops")
    run = tmp_path / "run"
    info = train_generator("ddpm", crops, run, tiny(steps=2, snapshots=[1]), log=lambda m: None)
    assert info["family"] == family_of("ddpm") == "ddpm" and info["unet"]["num_class_embeds"] == 3
    first, last = list_snapshots(run)
    assert (first.step, last.step) == (1, 2)
    a = last.sample("blue", 6, seed=3)
    assert a.shape == (6, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a[:5], last.sample("blue", 5, seed=3))  # crop k does not depend on n (chunks of 4)
    assert np.array_equal(a, list_snapshots(run)[-1].sample("blue", 6, seed=3))  # a fresh load draws the same
    assert not np.array_equal(a, last.sample("blue", 6, seed=4))
    assert not np.array_equal(a, last.sample("red", 6, seed=3))  # the class embedding changes the output
    assert not np.array_equal(a, first.sample("blue", 6, seed=3))
    assert last.sample("red", 0, seed=0).shape == (0, 32, 32, 3)
    guided = list_snapshots(run)[-1]
    guided.info = {**guided.info, "options": {**guided.info["options"], "guidance": 3.0}}
    assert not np.array_equal(a, guided.sample("blue", 6, seed=3))


def test_a_ddpm_run_goes_through_scoring(tmp_path):
    crops = make_crops(tmp_path / "crops", n=12)
    heldout = make_crops(tmp_path / "heldout", n=12, seed=1)
    cfg = tiny(steps=2, snapshots=[1], score_n=10)
    train_generator("ddpm", crops, tmp_path / "run", cfg, log=lambda m: None)
    table = score_generator(tmp_path / "run", crops, heldout, cfg, log=lambda m: None)
    assert sorted(set(table["snapshot"])) == [1, 2] and set(table["class"]) == {"red", "blue", "all"}
    assert set(table["tier"]) <= {"high", "mid", "low", "unusable"}
    assert table["n_fake"].iloc[0] == 10 and np.isfinite(table["fid"]).all()


def test_settings_are_checked():
    with pytest.raises(ValueError, match="sample_stepz"):
        GanConfig(archs=["ddpm"], options={"ddpm": {"sample_stepz": 3}})
    with pytest.raises(ValueError, match="beta_schedule"):
        GanConfig(archs=["ddpm"], options={"ddpm": {"beta_schedule": "cubic"}})


def test_importing_diffusers_and_building_a_model_reaches_no_network():
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n    raise AssertionError('network access')\n"
        "socket.socket.connect = refuse\nsocket.create_connection = refuse\nsocket.getaddrinfo = refuse\n"
        "import os\nos.environ.pop('HF_HUB_OFFLINE', None)\n"
        "from blendaug.gan.ddpm_model import build_unet, sample_scheduler, train_scheduler, unet_config\n"
        "assert os.environ['HF_HUB_OFFLINE'] == '1'\n"
        "opts = dict(train_timesteps=50, beta_schedule='linear', prediction='v_prediction')\n"
        "build_unet(unet_config(32, 8, 2)), train_scheduler(opts), sample_scheduler(opts)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
