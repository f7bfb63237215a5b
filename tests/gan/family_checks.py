"""Checks every trained family of ``gan.unit_loop`` must pass (FastGAN, VAE): resume after a kill between any
two file writes gives the same run, sampling is seeded and prefix-stable, and a run goes through scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blendaug.gan import runs, unit_loop
from blendaug.gan.api import sample_tier, score_generator, train_generator
from blendaug.gan.families import list_snapshots
from blendaug.gan.runs import load_state
from tests.gan.gan_builders import make_crops


def scene_crops(root, classes=("red", "blue"), n=8):
    """Coloured-square crops from 4 source images (so a quarter can be held out in whole groups)."""
    crops = make_crops(root, classes=classes, n=n)
    index = crops / "index.csv"
    lines = index.read_text().splitlines()
    index.write_text("\n".join([lines[0]] + [ln.replace("scene.jpg", f"scene{i % 4}.jpg")
                                             for i, ln in enumerate(lines[1:])]) + "\n")  # fmt: skip
    return crops


def run_files(run) -> dict:
    """Every file a run wrote, loaded (``.pt`` as state dicts), by path; run.json is left out (it has times)."""
    out = {}
    for p in sorted(run.rglob("*")):
        if p.is_file() and p.name != "run.json":
            out[str(p.relative_to(run))] = load_state(p) if p.suffix == ".pt" else p.read_bytes()
    return out


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def check_kill_between_any_two_writes(tmp_path, monkeypatch, arch, crops, cfg) -> list[str]:
    """Kill a run after each of its file writes in turn, resume it, and compare every file with an uninterrupted
    run's. Returns the names of the writes, in order."""
    train_generator(arch, crops, tmp_path / "ref", cfg, log=lambda m: None)
    reference = run_files(tmp_path / "ref")
    real_write = runs.write_bytes
    writes: list[str] = []
    kill_after = 0

    def write_then_maybe_die(path, payload):
        real_write(path, payload)
        writes.append(f"{path.parent.name}/{path.name}")
        if len(writes) == kill_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(runs, "write_bytes", write_then_maybe_die)
    monkeypatch.setattr(unit_loop, "write_bytes", write_then_maybe_die)
    train_generator(arch, crops, tmp_path / "count", cfg, log=lambda m: None)
    order = list(writes)
    for kill_after in range(1, len(order) + 1):
        writes.clear()
        run = tmp_path / f"killed{kill_after}"
        with pytest.raises(KeyboardInterrupt):
            train_generator(arch, crops, run, cfg, log=lambda m: None)
        kill_after, resume_of = -1, kill_after
        train_generator(arch, crops, run, cfg, log=lambda m: None)
        kill_after = resume_of
        assert same(run_files(run), reference), f"killed after write {kill_after} of {order}"
    return order


def check_sampling(run, classes) -> None:
    """The requested count per class, uint8, seeded, prefix-stable, different between seeds and snapshots."""
    first, last = list_snapshots(run)[:1] + list_snapshots(run)[-1:]
    for c in classes:
        a = last.sample(c, 5, seed=3)
        assert a.shape == (5, 32, 32, 3) and a.dtype == np.uint8
        assert np.array_equal(a, last.sample(c, 5, seed=3))
        assert np.array_equal(a[:2], last.sample(c, 2, seed=3))  # crop k does not depend on n
        assert not np.array_equal(a, last.sample(c, 5, seed=4))
        assert not np.array_equal(a, first.sample(c, 5, seed=3))
        assert len(np.unique(a.reshape(5, -1), axis=0)) == 5  # five different crops
        assert last.sample(c, 0, seed=3).shape == (0, 32, 32, 3)


def check_scoring(run, crops, cfg, tmp_path) -> None:
    """quality.csv for every snapshot and class, tiers from the rule, and tiered sampling from it."""
    table = score_generator(run, crops, None, cfg, log=lambda m: None)
    steps = [s.step for s in list_snapshots(run)]
    assert sorted(table["snapshot"].unique()) == steps
    assert set(table["class"]) == {"red", "blue", "all"} and len(table) == 3 * len(steps)
    assert np.isfinite(table["fid"]).all() and set(table["tier"]) <= {"high", "mid", "low", "unusable"}
    out = sample_tier(run, tmp_path / "samples", "high", n=3, allow_unusable=True)
    assert sorted(p.name for p in out.iterdir()) == ["blue", "index.csv", "red"]
    assert len(list((out / "red").glob("*.png"))) == 3
