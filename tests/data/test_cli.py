"""Smoke tests of ``blendaug data ...`` and ``blendaug label`` as subprocesses, the way users run them."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import yaml

from blendaug.data.cli import labelme_command

GROUPS = ("data", "label", "gan", "composite", "detect", "classify", "study", "report", "view")


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_help_lists_every_command_group(run_cli):
    proc = run_cli("--help", check=True)
    for group in GROUPS:
        assert group in proc.stdout


def test_toyworld_then_stats_is_deterministic(run_cli, tmp_path):
    args = ("data", "toyworld", tmp_path / "a", "--images", "6", "--seed", "1", "--size", "256")
    run_cli(*args, check=True)
    first = _tree_digest(tmp_path / "a")
    assert len(first) == 13  # 6 images, 6 label files, data.yaml
    assert run_cli(*args).returncode == 2  # refuses to overwrite silently
    run_cli(*args, "--overwrite", check=True)
    assert _tree_digest(tmp_path / "a") == first
    stats = run_cli("data", "stats", tmp_path / "a", check=True).stdout
    for name in ("car", "van", "truck"):
        assert name in stats


def test_split_keeps_scenes_together_and_writes_absolute_path(run_cli, tmp_path):
    run_cli("data", "toyworld", tmp_path / "tw", "--images", "12", "--seed", "2", "--size", "192", check=True)
    out = tmp_path / "split"
    run_cli("data", "split", tmp_path / "tw", out, "--val", "0.25", "--test", "0.25", "--seed", "0",
            "--group", r"^(scene\d+)_", check=True)
    cfg = yaml.safe_load((out / "data.yaml").read_text())
    assert Path(cfg["path"]).is_absolute() and Path(cfg["path"]) == out.absolute()
    scenes_by_split = {
        s: {p.name.split("_")[0] for p in (out / "images" / s).rglob("*.jpg")} for s in ("train", "val", "test")
    }
    assert all(scenes_by_split.values())
    assert not scenes_by_split["train"] & scenes_by_split["val"]
    assert not scenes_by_split["train"] & scenes_by_split["test"]
    assert not scenes_by_split["val"] & scenes_by_split["test"]


def test_crops_refuse_the_test_split_without_leaving_output(run_cli, tmp_path):
    run_cli("data", "toyworld", tmp_path / "tw", "--images", "4", "--seed", "3", "--size", "192", check=True)
    proc = run_cli("data", "crops", tmp_path / "tw", tmp_path / "crops", "--split", "test")
    assert proc.returncode != 0
    assert "--allow-test" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "crops").exists()
    run_cli("data", "crops", tmp_path / "tw", tmp_path / "crops", "--size", "32", check=True)
    index = (tmp_path / "crops" / "index.csv").read_text().splitlines()
    assert index[0] == "file,class,class_id,split,source_image,x1,y1,x2,y2"
    assert len(index) > 1 and all((tmp_path / "crops" / row.split(",")[0]).is_file() for row in index[1:])


def test_bad_label_line_is_one_line_error_naming_file_and_line(run_cli, tmp_path):
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    import numpy as np

    from blendaug.data.imageio import save_image

    save_image(src / "images" / "a.png", np.zeros((20, 30, 3), np.uint8))
    (src / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n")
    (src / "classes.txt").write_text("car\n")
    out = tmp_path / "out"
    proc = run_cli("data", "import", src, out)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "a.txt:2" in lines[0] and "Traceback" not in proc.stderr
    assert not out.exists()
    proc = run_cli("data", "import", src, out, "--skip-bad", check=True)
    assert "1 x" in proc.stderr
    assert (out / "labels" / "train" / "a.txt").read_text().count("\n") == 1


def test_import_labelme_then_export_coco(run_cli, tmp_path):
    import json

    import numpy as np

    from blendaug.data.imageio import save_image

    lm = tmp_path / "lm"
    save_image(lm / "img1.png", np.full((40, 50, 3), 90, np.uint8))
    shapes = [{"label": "van", "points": [[30, 20], [10, 5]], "shape_type": "rectangle"}]
    (lm / "img1.json").write_text(json.dumps({"shapes": shapes, "imagePath": "img1.png", "imageData": None}))
    run_cli("data", "import", lm, tmp_path / "yolo", "--format", "labelme", check=True)
    label = (tmp_path / "yolo" / "labels" / "train" / "img1.txt").read_text().split()
    assert label[0] == "0" and abs(float(label[1]) - 0.4) < 1e-6 and abs(float(label[4]) - 0.375) < 1e-6
    run_cli("data", "export", tmp_path / "yolo", tmp_path / "coco", "--format", "coco", check=True)
    coco = json.loads((tmp_path / "coco" / "annotations" / "instances_train.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["van"]
    assert np.allclose(coco["annotations"][0]["bbox"], [10, 5, 20, 15])


def test_labelme_is_installed_and_label_builds_its_command(run_cli, tmp_path):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    version = subprocess.run(["labelme", "--version"], capture_output=True, text=True, env=env, timeout=120)
    assert version.returncode == 0 and "abelme" in version.stdout + version.stderr
    images = tmp_path / "imgs"
    images.mkdir()
    proc = run_cli("label", images, "--classes", "car,van,truck", "--dry-run", check=True)
    first = proc.stdout.splitlines()[0].split()
    assert first[:4] == ["labelme", str(images), "--labels", "car,van,truck"]
    assert f"blendaug data import {images} OUT --format labelme --names car,van,truck" in proc.stdout


def test_labelme_command_uses_only_flags_the_version_offers():
    old_help = "usage: labelme [--nodata] [--autosave] [--labels LABELS] [--validatelabel {exact}]"
    new_help = "usage: labelme [--with-image-data] [--no-auto-save] [--labels LABELS] [--validate-label {exact}]"
    old = labelme_command(Path("imgs"), ["car", "van"], old_help)
    new = labelme_command(Path("imgs"), ["car", "van"], new_help)
    assert old == ["labelme", "imgs", "--labels", "car,van", "--nodata", "--autosave", "--validatelabel", "exact"]
    assert new == ["labelme", "imgs", "--labels", "car,van", "--validatelabel", "exact"]
