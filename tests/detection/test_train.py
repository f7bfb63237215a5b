"""Argument resolution, dataset checks and bad-input errors of ``detection.train`` (no training here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from blendaug.data.errors import BlendaugError, ConfigError, DataError
from blendaug.detection.train import (
    RECIPES,
    delete_label_caches,
    load_train_data,
    parse_overrides,
    resolve_args,
    write_split_yaml,
)


def test_overrides_are_parsed_with_types():
    assert parse_overrides(["lr0=0.02", "mosaic=0", "cos_lr=True", "optimizer=AdamW"]) == {
        "lr0": 0.02, "mosaic": 0, "cos_lr": True, "optimizer": "AdamW"}


@pytest.mark.parametrize(("pair", "message"), [
    ("lr=0.1", "did you mean lrf, lr0"),
    ("mosiac=0", "did you mean mosaic"),
    ("zzzzqq=1", "not an ultralytics argument"),
    ("epochs=3", "--epochs"),
    ("pretrained=x.pt", "--weights"),
    ("split=test", "fixed by blendaug"),
    ("val=False", "fixed by blendaug"),
    ("lr0", "expected key=value"),
    ("lr0=abc", "lr0"),
])
def test_bad_overrides_name_the_key(pair, message):
    with pytest.raises(ConfigError, match=message):
        parse_overrides([pair])


def test_resolve_args_precedence():
    args = resolve_args("cpu-small", {"lr0": 0.05, "workers": 0}, epochs=None, imgsz=160, batch=4, seed=3,
                        device="cpu", amp=False)
    assert args["epochs"] == RECIPES["cpu-small"]["epochs"]  # recipe's epochs when --epochs is not given
    assert args["optimizer"] == "SGD" and args["mosaic"] == 0.0 and args["warmup_epochs"] == 0.0
    assert args["nbs"] == 4  # no gradient accumulation: one optimizer step per batch
    assert args["lr0"] == 0.05 and args["workers"] == 0  # key=value beats recipe and wrapper defaults
    assert (args["imgsz"], args["batch"], args["seed"], args["device"]) == (160, 4, 3, "cpu")
    assert args["deterministic"] is True and args["amp"] is False
    plain = resolve_args("ultralytics", {}, epochs=7, imgsz=64, batch=2, seed=0, device="0", amp=True)
    assert plain["epochs"] == 7 and "nbs" not in plain and "optimizer" not in plain
    assert resolve_args("cpu-small", {"nbs": 64}, epochs=1, imgsz=64, batch=2, seed=0, device="cpu",
                        amp=False)["nbs"] == 64
    with pytest.raises(ConfigError, match="cpu-small"):
        resolve_args("fast", {}, epochs=1, imgsz=64, batch=2, seed=0, device="cpu", amp=False)


def test_train_data_needs_val_and_keeps_test_out(rect_data, tmp_path):
    ds = load_train_data(rect_data)
    y = write_split_yaml(ds, tmp_path / "d", {"train": "train", "val": "val"})
    cfg = yaml.safe_load(y.read_text())
    assert "test" not in cfg and cfg["names"] == {0: "red", 1: "blue"}
    listed = (Path(cfg["path"]) / cfg["val"]).read_text().split()
    assert len(listed) == 4 and all(Path(p).is_absolute() and "/images/val/" in p for p in listed)

    no_val = tmp_path / "no_val.yaml"
    no_val.write_text(yaml.safe_dump({"path": str(rect_data.parent), "train": "images/train", "test": "images/test",
                                      "names": ["red", "blue"]}))
    with pytest.raises(DataError, match="no 'val' split"):
        load_train_data(no_val)
    same = tmp_path / "val_is_test.yaml"
    same.write_text(yaml.safe_dump({"path": str(rect_data.parent), "train": "images/train", "val": "images/test",
                                    "test": "images/test", "names": ["red", "blue"]}))
    with pytest.raises(DataError, match="val must not be test"):
        load_train_data(same)


@pytest.mark.parametrize(("cfg", "message"), [
    ({"train": "images/train", "val": "images/val"}, "missing key 'names'"),
    ({"train": "images/nowhere", "val": "images/val", "names": ["a"]}, "missing path"),
    ({"path": "/no/such/root", "train": "images/train", "val": "images/val", "names": ["a"]},
     "missing path: /no/such/root"),
])
def test_bad_data_yaml_is_a_clear_error(tmp_path, cfg, message):
    (tmp_path / "images" / "train").mkdir(parents=True) if "nowhere" not in cfg["train"] else None
    bad = tmp_path / "elsewhere" / "data.yaml"
    bad.parent.mkdir()
    bad.write_text(yaml.safe_dump(cfg))
    with pytest.raises(DataError, match=message):
        load_train_data(bad)


def test_stale_label_caches_are_deleted(rect_data):
    ds = load_train_data(rect_data)
    caches = [rect_data.parent / "labels" / f"{s}.cache" for s in ("train", "val", "test")]
    for c in caches:
        c.write_bytes(b"stale")
    removed = delete_label_caches(ds)
    assert sorted(removed) == sorted(caches)
    assert not any(c.exists() for c in caches)


def test_weights_that_are_not_a_checkpoint(tmp_path, rect_data):
    import torch

    from blendaug.detection.train import train_detector
    from blendaug.detection.yolo import load_checkpoint

    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(DataError, match="not a YOLO checkpoint"):
        load_checkpoint(text)
    dict_pt = tmp_path / "dict.pt"
    torch.save({"state_dict": {}}, dict_pt)
    with pytest.raises(DataError, match="no 'model' entry"):
        load_checkpoint(dict_pt)
    with pytest.raises(DataError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(DataError, match="not a YOLO checkpoint"):
        train_detector(rect_data, tmp_path / "run", epochs=1, imgsz=64, batch=2, device="cpu", weights=text)
    assert not (tmp_path / "run").exists()


def test_model_must_be_a_yaml(tmp_path, rect_data):
    from blendaug.detection.train import train_detector

    with pytest.raises(ConfigError, match="--weights"):
        train_detector(rect_data, tmp_path / "run", model="yolov8n.pt", epochs=1, imgsz=64, batch=2, device="cpu")
    with pytest.raises(ConfigError, match="no model yaml"):
        train_detector(rect_data, tmp_path / "run", model="yolov99z.yaml", epochs=1, imgsz=64, batch=2, device="cpu")
    with pytest.raises(ConfigError, match="--device"):
        train_detector(rect_data, tmp_path / "run", epochs=1, imgsz=64, batch=2, device="cuda:7")
    assert not (tmp_path / "run").exists()


def test_finished_run_is_reused_or_refused(tmp_path, rect_data):
    from blendaug.detection.train import train_detector

    out = tmp_path / "run"
    out.mkdir()
    request = {"data": str(rect_data.absolute()), "model": "yolov8n.yaml", "recipe": "cpu-small", "epochs": 1,
               "imgsz": 64, "batch": 2, "seed": 0, "device": "cpu", "weights": None, "overrides": {}}
    import json

    (out / "run.json").write_text(json.dumps({"status": "done", "request": request}))
    same = train_detector(rect_data, out, epochs=1, imgsz=64, batch=2, device="cpu")
    assert same["request"] == request  # no-op: returned the record without training
    with pytest.raises(BlendaugError, match="--overwrite"):
        train_detector(rect_data, out, epochs=2, imgsz=64, batch=2, device="cpu")


def test_importing_ultralytics_leaves_pillow_errors_alone(tmp_path):
    # ultralytics patches PIL.Image.open to fetch a HEIF plugin on unreadable files; offline that raised
    # ModuleNotFoundError from blendaug's image checks instead of their one-line errors.
    from PIL import Image, UnidentifiedImageError

    from blendaug.data.errors import DataError
    from blendaug.data.imageio import image_size
    from blendaug.detection.yolo import ultralytics

    ultralytics()
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(UnidentifiedImageError):
        Image.open(bad)
    with pytest.raises(DataError, match="notes.png"):
        image_size(bad)
