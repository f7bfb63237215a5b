"""``blendaug gan compare``: one table and plot across scored runs of different families."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from blendaug.data.errors import ConfigError, DataError
from blendaug.gan.api import score_generator, train_generator
from blendaug.gan.compare import COLUMNS, compare_table, format_table
from blendaug.gan.config import GanConfig
from tests.gan.family_checks import scene_crops

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def scored_runs(tmp_path_factory):
    """A 2-step cFastGAN run and a 2-step per-class VAE run on the same crops, both scored on held-out crops."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("compare")
    crops = scene_crops(root / "crops")
    runs = []
    for arch in ("cfastgan", "vae"):
        cfg = GanConfig(steps=2, snapshots=[1], batch=4, width=4, image_size=32, holdout=0.25, score_n=10,
                        options={"fastgan": {"nz": 8}, "vae": {"nz": 4}})  # fmt: skip
        train_generator(arch, crops, root / arch, cfg, log=lambda m: None)
        score_generator(root / arch, crops, None, cfg, log=lambda m: None)
        runs.append(root / arch)
    torch.set_num_threads(before)
    return crops, runs


def test_compare_two_families_through_the_cli(scored_runs, tmp_path, run_cli):
    _, runs = scored_runs
    proc = run_cli("gan", "compare", *runs, "--plot", tmp_path / "c.png", "--csv", tmp_path / "c.csv", "--per-class",
                   check=True)  # fmt: skip
    table = pd.read_csv(tmp_path / "c.csv")
    assert list(table.columns) == COLUMNS
    assert len(table) == 2 * 2 * 3  # 2 runs x 2 snapshots x (red, blue, all)
    assert list(table["run"].unique()) == ["cfastgan", "vae"] and set(table["family"]) == {"fastgan", "vae"}
    assert table.groupby("run")["snapshot"].apply(lambda s: sorted(set(s))).tolist() == [[1, 2], [1, 2]]
    assert (table["train_cpu_s"] > 0).all() and (table["train_wall_s"] > 0).all()
    n_best = 0
    for run in runs:  # the numbers are quality.csv's
        q = pd.read_csv(run / "quality.csv")
        mine = table[table["run"] == run.name].sort_values(["snapshot", "class"]).reset_index(drop=True)
        theirs = q.sort_values(["snapshot", "class"]).reset_index(drop=True)
        pd.testing.assert_series_equal(mine["quality"], theirs["quality"], check_names=False)
        pd.testing.assert_series_equal(mine["coverage"], theirs["coverage"], check_names=False)
        totals = q[(q["class"] == "all") & q["quality"].notna()]  # tiny runs: the anchors may not separate
        best = {totals.loc[totals["quality"].idxmax(), "snapshot"]} if len(totals) else set()
        assert set(mine.loc[mine["best"], "snapshot"]) == best
        n_best += 3 * len(best)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    out = proc.stdout.splitlines()
    assert out[0].split()[:6] == ["run", "family", "generator", "snapshot", "class", "quality"]
    assert sum(line.rstrip().endswith("*") for line in out) == n_best  # each run's best snapshot, every class row
    only_all = run_cli("gan", "compare", *runs, "--plot", tmp_path / "d.png", check=True).stdout.splitlines()
    assert len([line for line in only_all if line.strip().startswith(("cfastgan", "vae"))]) == 4


def test_unscored_and_mismatched_runs_are_refused(scored_runs, tmp_path, run_cli):
    crops, runs = scored_runs
    bare = tmp_path / "bare"
    shutil.copytree(runs[1], bare)
    (bare / "quality.csv").unlink()
    proc = run_cli("gan", "compare", runs[0], bare, "--plot", tmp_path / "x.png")
    assert proc.returncode == 2 and "not scored (no quality.csv)" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()
    with pytest.raises(DataError, match="run.json"):
        compare_table([tmp_path])
    with pytest.raises(ConfigError, match="at least one"):
        compare_table([])
    other = tmp_path / "other"
    shutil.copytree(runs[1], other)
    meta = json.loads((other / "quality.json").read_text())
    meta["real_crops"]["heldout"] = "/somewhere/else"
    (other / "quality.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="different held-out crops"):
        compare_table([runs[0], other])
    assert len(compare_table([runs[0], other], mixed_heldout=True)) == 4


def test_best_snapshot_ignores_unscorable_rows_and_copying_is_shown(scored_runs, tmp_path):
    _, runs = scored_runs
    run = shutil.copytree(runs[0], tmp_path / "run")
    q = pd.read_csv(run / "quality.csv")
    q.loc[(q["class"] == "all") & (q["snapshot"] == 1), "quality"] = 0.9
    q.loc[(q["class"] == "all") & (q["snapshot"] == 2), ["quality", "copying"]] = [float("nan"), True]
    q.to_csv(run / "quality.csv", index=False)
    table = compare_table([run])
    assert table["best"].tolist() == [True, False] and table["copying"].tolist() == [False, True]
    text = format_table(table)
    assert "COPIES" in text.splitlines()[2] and text.splitlines()[1].rstrip().endswith("*")
