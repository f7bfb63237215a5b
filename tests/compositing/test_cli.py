"""Smoke tests of ``blendaug composite`` and ``blendaug view`` as subprocesses."""

from __future__ import annotations

import json

import numpy as np

from blendaug.data.imageio import load_image_rgb
from blendaug.data.yolo import read_yolo


def test_composite_then_view(run_cli, backgrounds, gan_crops, tmp_path):
    out = tmp_path / "arm"
    proc = run_cli("composite", backgrounds, gan_crops, out, "--per-image", "1-3", "--blend", "color+all",
                   "--copies", "2", "--seed", "5", "--workers", "2", "--tiers", "high", "--rotate", "any",
                   "--mask", "ellipse", "--max-overlap", "0.2", "--truncate", "0.1", check=True)
    assert "composites" in proc.stdout and "data.yaml" in proc.stdout
    ds = read_yolo(out)
    assert len(ds.split("train")) == 4 + 8 and len(ds.split("test")) == 1
    meta = [json.loads(line) for line in (out / "meta.jsonl").read_text().splitlines()]
    assert meta and {m["tier"] for m in meta} == {"high"} and {m["mask"] for m in meta} == {"ellipse"}
    assert all(m["modifiers"] == ["color"] for m in meta)
    assert json.loads((out / "composite.json").read_text())["seed"] == 5

    sheet = tmp_path / "sheet.png"
    proc = run_cli("view", out, sheet, "--n", "5", "--seed", "1", "--tile", "96", check=True)
    assert "5 images" in proc.stdout
    img = load_image_rgb(sheet)
    assert img.shape == (2 * 100 + 4, 3 * 100 + 4, 3)  # 5 tiles -> 3 columns, 2 rows of 96 px tiles, 4 px gaps
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50  # images and boxes were drawn, not a blank sheet


def test_composite_ratio_mode_and_placement(run_cli, backgrounds, gan_crops, tmp_path):
    out = tmp_path / "arm"
    proc = run_cli("composite", backgrounds, gan_crops, out, "--ratio", "0.5", "--mode", "replace", "--placement",
                   "uniform", "--seed", "2", check=True)
    assert "2 real images replaced" in proc.stdout and "4 train images in all" in proc.stdout
    summary = json.loads((out / "composite.json").read_text())
    assert (summary["ratio"], summary["mode"], summary["config"]["placement"]) == (0.5, "replace", "uniform")
    assert len(read_yolo(out).split("train")) == 4
    assert {json.loads(line)["placement"] for line in (out / "meta.jsonl").read_text().splitlines()} == {"uniform"}


def test_composite_bad_input_is_one_line_error(run_cli, backgrounds, gan_crops, tmp_path):
    proc = run_cli("composite", backgrounds, gan_crops, tmp_path / "o", "--blend", "sparkle")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "sparkle" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    for flags, word in ((["--placement", "contex"], "did you mean 'context'"), (["--mode", "swap"], "add, replace"),
                        (["--ratio", "3", "--mode", "replace"], "<= 1")):
        proc = run_cli("composite", backgrounds, gan_crops, tmp_path / "o", *flags)
        assert proc.returncode == 2 and word in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("composite", backgrounds, gan_crops, tmp_path / "o", "--split", "test")
    assert proc.returncode == 2 and "test" in proc.stderr
    proc = run_cli("view", backgrounds, tmp_path / "sheet.gif")
    assert proc.returncode == 2 and ".png" in proc.stderr
    assert not (tmp_path / "o").exists()
