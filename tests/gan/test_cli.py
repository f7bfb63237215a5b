"""``blendaug gan train``, ``gan list`` and ``gan sample`` as subprocesses on tiny crops (real training, 2 steps)."""

from __future__ import annotations

import csv
import json

from tests.gan.gan_builders import make_crops, write_quality

TRAIN = ["--steps", "2", "--snapshots", "1", "--batch", "4", "--size", "32", "--width", "8", "--device", "cpu",
         "--holdout", "0"]


def test_train_then_sample(tmp_path, run_cli):
    crops = make_crops(tmp_path / "crops", n=4)
    run = tmp_path / "run"
    proc = run_cli("gan", "train", crops, run, "--arch", "cwgan-gp", "--diffaugment", "color,translation,cutout",
                   *TRAIN, check=True)  # fmt: skip
    assert "cwgan-gp all" in proc.stderr and "2 steps (steps 2), snapshots [1, 2]" in proc.stdout  # bar, summary
    info = json.loads((run / "run.json").read_text())
    assert info["finished"] and info["classes"] == ["red", "blue"] and info["conditional"]
    assert info["family"] == "gan" and info["generator"] == "cwgan-gp"
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == ["step_0000001", "step_0000002"]
    assert (run / "snapshots" / "step_0000002" / "all.png").is_file()
    again = run_cli("gan", "train", crops, run, "--arch", "cwgan-gp", "--diffaugment", "color,translation,cutout",
                    *TRAIN, check=True)  # fmt: skip
    assert "already finished" in again.stderr

    no_quality = run_cli("gan", "sample", run, tmp_path / "s", "--n", "3")
    assert no_quality.returncode == 2 and "blendaug gan score" in no_quality.stderr
    write_quality(run, [(1, "all", "low", 0.3), (2, "all", "high", 0.7)])
    run_cli("gan", "sample", run, tmp_path / "s", "--n", "3", "--tier", "high", "--class", "blue", check=True)
    with (tmp_path / "s" / "index.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["class"], r["arch"], r["snapshot"], r["tier"], r["score"]) for r in rows] == [
        ("blue", "cwgan-gp", "2", "high", "0.7")
    ] * 3
    by_family = run_cli("gan", "train", crops, tmp_path / "vae", "--family", "vae", *TRAIN, check=True)
    assert json.loads((tmp_path / "vae" / "run.json").read_text())["generator"] == "vae", by_family.stdout
    listing = run_cli("gan", "list", check=True).stdout
    assert "cdcgan" in listing and "replay" in listing
    assert all((tmp_path / "s" / r["file"]).is_file() for r in rows)


def test_bad_input_is_one_line_and_no_output(tmp_path, run_cli):
    crops = make_crops(tmp_path / "crops", classes=("red",), n=2)
    (tmp_path / "empty").mkdir()
    cases = {
        "beyond the budget of 2 epochs": ["gan", "train", crops, tmp_path / "r1", "--snapshots", "1,5",
                                          "--epochs", "2"],
        "--arch: unknown generator 'dcgn'": ["gan", "train", crops, tmp_path / "r3", "--arch", "dcgn"],
        "--family: unknown family 'fastgn' (did you mean 'fastgan'?)": ["gan", "train", crops, tmp_path / "r4",
                                                                       "--family", "fastgn"],
        "--arch dcgan: a generator of the gan family, not of --family vae": ["gan", "train", crops, tmp_path / "r5",
                                                                            "--family", "vae", "--arch", "dcgan"],
        "no crops found": ["gan", "train", tmp_path / "empty", tmp_path / "r2", "--epochs", "1"],
        # Without tensorflow: "tensorflow is not installed"; with it, the worker cannot read this file.
        "m.h5": ["gan", "sample", "--keras", tmp_path / "m.h5", tmp_path / "k", "--class", "car"],
    }
    (tmp_path / "m.h5").write_bytes(b"x")
    for message, args in cases.items():
        proc = run_cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr
    for name in ("r1", "r2", "r3", "r4", "r5", "k"):
        assert not (tmp_path / name).exists()
