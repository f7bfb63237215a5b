"""data.yaml resolution, case by case against ultralytics' own resolver in the installed version.

Each case builds a dataset, then asks both ultralytics (``check_det_dataset``, ``BaseDataset.get_img_files``,
``img2label_paths``) and blendaug (:func:`resolve_data_yaml`, :func:`iter_split`, :func:`label_path_for`)
where each split's images and labels are. The two must agree on every case.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from blendaug.data.errors import DataError, Warnings
from blendaug.data.imageio import save_image
from blendaug.data.yolo import read_yolo
from blendaug.data.yolo_paths import iter_split, label_path_for, resolve_data_yaml


@pytest.fixture(scope="module")
def ul_utils():
    from blendaug.detection.yolo import ultralytics

    ultralytics()
    import ultralytics.data.utils as ul_utils

    return ul_utils


def _img(path: Path) -> None:
    save_image(path, np.zeros((8, 8, 3), np.uint8))


def _ultralytics_view(ul_utils, yaml_path: Path) -> dict[str, list[tuple[str, str]]]:
    from ultralytics.data.base import BaseDataset

    data = ul_utils.check_det_dataset(str(yaml_path), autodownload=False)
    out = {}
    for split in ("train", "val", "test"):
        if not data.get(split):
            continue
        # get_img_files only reads `prefix` and `fraction` from the dataset object.
        files = BaseDataset.get_img_files(SimpleNamespace(prefix="", fraction=1.0), data[split])
        files = [str(Path(f).absolute()) for f in files]
        out[split] = sorted(zip(files, ul_utils.img2label_paths(files), strict=True))
    return out


def _blendaug_view(yaml_path: Path, datasets_dir: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    layout = resolve_data_yaml(yaml_path, datasets_dir=datasets_dir)
    out = {}
    for split, paths in layout.splits.items():
        images = [img for _, img in iter_split(paths)]
        out[split] = sorted((str(img), str(label_path_for(img))) for img in images)
    return out


def _agree(ul_utils, yaml_path: Path, datasets_dir: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    ours = _blendaug_view(yaml_path, datasets_dir)
    assert ours == _ultralytics_view(ul_utils, yaml_path)
    return ours


def _names(view) -> dict[str, list[str]]:
    return {split: sorted(Path(img).name for img, _ in pairs) for split, pairs in view.items()}


def test_no_path_key_is_the_yaml_folder(ul_utils, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the dataset folder: a relative lookup would go wrong
    ds = tmp_path / "ds"
    _img(ds / "images" / "train" / "a.jpg")
    _img(ds / "images" / "val" / "b.jpg")
    (ds / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [car]\n")
    view = _agree(ul_utils, ds / "data.yaml")
    assert _names(view) == {"train": ["a.jpg"], "val": ["b.jpg"]}
    assert view["train"][0][1] == str(ds / "labels" / "train" / "a.txt")


def test_absolute_path_key(ul_utils, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "data" / "images" / "train" / "a.jpg")
    _img(tmp_path / "data" / "images" / "val" / "b.jpg")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "d.yaml").write_text(f"path: {tmp_path / 'data'}\ntrain: images/train\nval: images/val\n"
                                             "names: {0: car}\n")
    assert _names(_agree(ul_utils, tmp_path / "cfg" / "d.yaml")) == {"train": ["a.jpg"], "val": ["b.jpg"]}


def test_relative_path_key_is_relative_to_the_current_folder(ul_utils, tmp_path, monkeypatch):
    _img(tmp_path / "work" / "data" / "images" / "train" / "a.jpg")
    _img(tmp_path / "work" / "data" / "images" / "val" / "b.jpg")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "d.yaml").write_text("path: data\ntrain: images/train\nval: images/val\nnames: [car]\n")
    monkeypatch.chdir(tmp_path / "work")
    assert _names(_agree(ul_utils, tmp_path / "cfg" / "d.yaml")) == {"train": ["a.jpg"], "val": ["b.jpg"]}
    # From another folder the same yaml points elsewhere, for ultralytics and for blendaug alike.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"d\.yaml: key 'path' 'data' is relative, so it is read from the current"):
        resolve_data_yaml(tmp_path / "cfg" / "d.yaml")


def test_relative_path_missing_from_the_cwd_is_looked_up_in_datasets_dir(ul_utils, tmp_path, monkeypatch):
    datasets = tmp_path / "datasets"
    _img(datasets / "mine" / "images" / "train" / "a.jpg")
    _img(datasets / "mine" / "images" / "val" / "b.jpg")
    (tmp_path / "d.yaml").write_text("path: mine\ntrain: images/train\nval: images/val\nnames: [car]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ul_utils, "DATASETS_DIR", datasets)
    view = _agree(ul_utils, tmp_path / "d.yaml", datasets_dir=datasets)
    assert _names(view) == {"train": ["a.jpg"], "val": ["b.jpg"]}


def test_roboflow_dot_dot_paths_are_retried_inside_the_dataset(ul_utils, tmp_path, monkeypatch):
    # Roboflow writes paths relative to a folder one level up; ultralytics retries them without the "../".
    monkeypatch.chdir(tmp_path)
    rf = tmp_path / "Cars.v2i.yolov8"
    for split, name in (("train", "a.jpg"), ("valid", "b.jpg"), ("test", "c.jpg")):
        _img(rf / split / "images" / name)
    (rf / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\nnc: 1\n"
                                  "names: ['car']\n\nroboflow:\n  workspace: ws\n  project: cars\n  version: 2\n")
    view = _agree(ul_utils, rf / "data.yaml")
    assert _names(view) == {"train": ["a.jpg"], "val": ["b.jpg"], "test": ["c.jpg"]}
    assert view["val"][0][1] == str(rf / "valid" / "labels" / "b.txt")


def test_a_dot_dot_path_that_exists_is_not_retried(ul_utils, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "train" / "images" / "outside.jpg")  # what ../train/images really names
    _img(tmp_path / "ds" / "train" / "images" / "inside.jpg")
    (tmp_path / "ds" / "data.yaml").write_text("train: ../train/images\nval: ../train/images\nnames: [car]\n")
    assert _names(_agree(ul_utils, tmp_path / "ds" / "data.yaml"))["train"] == ["outside.jpg"]


def test_list_valued_splits_and_the_validation_key(ul_utils, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ds = tmp_path / "ds"
    for folder, name in (("a", "1.jpg"), ("b", "2.png"), ("v", "3.jpg")):
        _img(ds / "images" / folder / name)
    (ds / "data.yaml").write_text("train: [images/a, images/b]\nvalidation: images/v\nnames: [car]\n")
    assert _names(_agree(ul_utils, ds / "data.yaml")) == {"train": ["1.jpg", "2.png"], "val": ["3.jpg"]}


def test_txt_image_lists(ul_utils, tmp_path, monkeypatch):
    ds = tmp_path / "ds"
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        _img(ds / "images" / name)
    _img(tmp_path / "cwd" / "images" / "e.jpg")
    monkeypatch.chdir(tmp_path / "cwd")
    # "./" is relative to the list file, a bare relative line to the current folder; a BOM is accepted and a
    # line without an image suffix is ignored.
    lines = ["./images/a.jpg", str(ds / "images" / "b.jpg"), "images/e.jpg", "notes"]
    (ds / "train.txt").write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    (ds / "val.txt").write_text("./images/c.jpg\n./images/d.jpg\n")
    (ds / "data.yaml").write_text("train: train.txt\nval: val.txt\nnames: [car]\n")
    view = _agree(ul_utils, ds / "data.yaml")
    assert _names(view) == {"train": ["a.jpg", "b.jpg", "e.jpg"], "val": ["c.jpg", "d.jpg"]}
    warnings = Warnings()
    list(iter_split([ds / "train.txt"], warnings))
    assert warnings.counts == {"image list line without an image suffix ignored": 1}


def test_hidden_files_are_skipped_as_ultralytics_globs_them(ul_utils, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ds = tmp_path / "ds"
    _img(ds / "images" / "train" / "a.jpg")
    (ds / "images" / "train" / "._a.jpg").write_bytes(b"\0\5\26\7")  # a macOS resource fork, not an image
    _img(ds / "images" / "train" / ".thumbs" / "t.jpg")
    (ds / "data.yaml").write_text("train: images/train\nval: images/train\nnames: [car]\n")
    assert _names(_agree(ul_utils, ds / "data.yaml"))["train"] == ["a.jpg"]


def test_names_from_nc_only_and_nc_mismatch(tmp_path):
    _img(tmp_path / "images" / "a.jpg")
    (tmp_path / "data.yaml").write_text("train: images\nnc: 2\n")
    assert resolve_data_yaml(tmp_path / "data.yaml").names == ["class_0", "class_1"]
    (tmp_path / "data.yaml").write_text("train: images\nnc: 3\nnames: [car, van]\n")
    with pytest.raises(DataError, match=r"data\.yaml: key 'nc' is 3 but 'names' has 2 entries"):
        resolve_data_yaml(tmp_path / "data.yaml")


def test_a_moved_dataset_falls_back_to_its_yaml_folder_with_a_warning(tmp_path):
    _img(tmp_path / "images" / "train" / "a.png")
    (tmp_path / "data.yaml").write_text("path: /nonexistent/old/place\ntrain: images/train\nnames: [car]\n")
    warnings = Warnings()
    layout = resolve_data_yaml(tmp_path / "data.yaml", warnings=warnings)
    assert layout.root == tmp_path and layout.splits == {"train": [tmp_path / "images" / "train"]}
    assert list(warnings.counts) == ["data.yaml 'path' missing, read from the yaml's own folder"]
    assert len(read_yolo(tmp_path).images) == 1


def test_a_missing_split_names_the_key(tmp_path):
    _img(tmp_path / "images" / "train" / "a.png")
    (tmp_path / "data.yaml").write_text("train: images/train\nval: images/valid\nnames: [car]\n")
    with pytest.raises(DataError, match=r"data\.yaml: key 'val' points to a missing path: .*images/valid"):
        resolve_data_yaml(tmp_path / "data.yaml")
    assert os.path.isdir(tmp_path / "images" / "train")
