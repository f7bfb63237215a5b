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
    assert len(first) == 19  # 6 images, 6 label files, 6 surface masks, data.yaml
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


def _formats(root: Path) -> dict[str, tuple[Path, list[str]]]:
    """One small dataset per format, as each tool writes it: ``{format: (src, extra import args)}``."""
    import json

    import numpy as np

    from blendaug.data.imageio import save_image
    from tests.data.test_coco import roboflow_coco
    from tests.data.test_labelstudio import rect, task
    from tests.data.test_voc import voc_xml

    img = np.full((80, 100, 3), 90, np.uint8)
    out: dict[str, tuple[Path, list[str]]] = {}
    rf = root / "roboflow_yolo"
    for split in ("train", "valid"):
        save_image(rf / split / "images" / f"{split}.jpg", img)
        (rf / split / "labels").mkdir(parents=True)
        (rf / split / "labels" / f"{split}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (rf / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\n\nnc: 1\nnames: ['car']\n")
    out["yolo"] = (rf, [])
    lm = root / "labelme"
    save_image(lm / "a.png", img)
    (lm / "a.json").write_text(json.dumps({"shapes": [{"label": "car", "points": [[10, 10], [30, 20]],
                                                       "shape_type": "rectangle"}], "imagePath": "a.png"}))
    out["labelme"] = (lm, [])
    out["coco"] = (roboflow_coco(root / "roboflow_coco", {"train": [("a.jpg", [(1, [1, 2, 10, 20])])]}), [])
    voc = root / "labelimg"
    save_image(voc / "a.jpg", img)
    (voc / "a.xml").write_text(voc_xml("a.jpg", [("car", 10, 10, 30, 20), ("car", 40, 40, 50, 50, 1)]))
    out["voc"] = (voc, [])
    ls = root / "labelstudio"
    save_image(ls / "images" / "a.jpg", img)
    (ls / "export.json").write_text(json.dumps([task("/data/upload/1/0a1b2c3d-a.jpg",
                                                     [rect(10, 20, 25, 30, "car", rotation=15, size=(100, 80))])]))
    out["labelstudio"] = (ls / "export.json", ["--images", str(ls / "images")])
    return out


def test_import_auto_recognises_every_format(run_cli, tmp_path):
    from blendaug.data.io import FORMATS, detect_format

    formats = _formats(tmp_path / "src")
    assert set(formats) == set(FORMATS)
    for fmt, (src, extra) in formats.items():
        assert detect_format(src) == fmt
        out = tmp_path / "out" / fmt
        proc = run_cli("data", "import", src, out, *extra, check=True)
        assert f"-> {out / 'data.yaml'}" in proc.stdout, fmt
        labels = [ln for p in (out / "labels").rglob("*.txt") for ln in p.read_text().splitlines()]
        assert labels and all(ln.split()[0] == "0" for ln in labels), fmt


def test_roboflow_yolo_folder_stats_straight_from_its_yaml(run_cli, tmp_path):
    src, _ = _formats(tmp_path)["yolo"]
    proc = run_cli("data", "stats", src, check=True)
    assert proc.stdout.startswith("2 images, 2 boxes, 1 classes")
    assert "train" in proc.stdout and "val" in proc.stdout


def test_bad_input_in_the_new_formats_is_one_line_and_writes_nothing(run_cli, tmp_path):
    formats = _formats(tmp_path / "src")
    voc, _ = formats["voc"]
    (voc / "a.xml").write_text((voc / "a.xml").read_text().replace("<xmin>10</xmin>", "<xmin>ten</xmin>"))
    ls, extra = formats["labelstudio"]
    ls.write_text(ls.read_text().replace('"x": 10', '"x": "10"'))
    coco, _ = formats["coco"]
    ann = coco / "train" / "_annotations.coco.json"
    ann.write_text(ann.read_text().replace('"iscrowd": 0', '"iscrowd": 0, "attributes": {"rotation": "90deg"}'))
    cases = {"voc": (voc, [], r"annotation/object[1]/bndbox/xmin: not a number: 'ten'"),
             "labelstudio": (ls, extra, "[0].annotations[0].result[0].value.x: must be a number, got '10'"),
             "coco": (coco, [], "key 'attributes.rotation' must be a number of degrees, got '90deg'")}
    for fmt, (src, args, message) in cases.items():
        out = tmp_path / "out" / fmt
        proc = run_cli("data", "import", src, out, *args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], (fmt, proc.stderr)
        assert "Traceback" not in proc.stderr and not out.exists() and not list((tmp_path / "out").glob(".tmp-*"))


def test_label_says_what_to_install_when_qt_cannot_open_a_window(run_cli, tmp_path, monkeypatch):
    from blendaug.data.labelme_gui import debian_package, missing_libraries, window_problem

    ldd = ("\tlinux-vdso.so.1 (0x00007ffd)\n\tlibxcb-icccm.so.4 => not found\n"
           "\tlibxkbcommon-x11.so.0 => not found\n\tlibxcb-icccm.so.4 => not found\n\tlibc.so.6 => /lib/libc.so.6\n")
    assert missing_libraries(ldd) == ["libxcb-icccm.so.4", "libxkbcommon-x11.so.0"]
    assert [debian_package(s) for s in ("libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-xinerama.so.0",
                                        "libxkbcommon-x11.so.0", "libdbus-1.so.3", "libGL.so.1")] == [
        "libxcb-icccm4", "libxcb-keysyms1", "libxcb-xinerama0", "libxkbcommon-x11-0", "libdbus-1-3", "libgl1"]
    assert window_problem({**os.environ, "QT_QPA_PLATFORM": "offscreen"}) is None
    # Without a display (and, on a bare machine, without Qt's X11 libraries) the xcb plugin cannot start.
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    images = tmp_path / "imgs"
    images.mkdir()
    proc = run_cli("label", images, "--classes", "car")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: labelme cannot open a window: ")
    assert "sudo apt-get install libxcb" in line or "no display" in line
