"""YOLO datasets: label paths, label lines, data.yaml variants, writing and reading back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from blendaug.data.errors import BlendaugError, DataError
from blendaug.data.imageio import save_image
from blendaug.data.model import Dataset, ImageRecord
from blendaug.data.yolo import format_label_lines, label_path_for, parse_label_file, read_yolo, write_yolo


def _img(path, w=20, h=10):
    save_image(path, np.zeros((h, w, 3), np.uint8))


def test_label_path_replaces_the_last_images_folder():
    assert label_path_for(Path("/d/images/train/a.jpg")) == Path("/d/labels/train/a.txt")
    assert label_path_for(Path("/images/d/images/x/b.png")) == Path("/images/d/labels/x/b.txt")
    assert label_path_for(Path("/d/pics/c.jpg")) == Path("/d/pics/c.txt")


def test_parse_label_file_boxes_and_polygons(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("1 0.5 0.25 0.2 0.1\n\n0 0.1 0.2 0.3 0.2 0.3 0.6 0.1 0.6\n")
    boxes, ids = parse_label_file(path, n_classes=2)
    np.testing.assert_array_equal(ids, [1, 0])
    np.testing.assert_allclose(boxes, [[0.5, 0.25, 0.2, 0.1], [0.2, 0.4, 0.2, 0.4]], atol=1e-12)


def test_format_label_lines():
    rec = ImageRecord(Path("a.png"), 200, 100, [[10, 20, 50, 60]], [2])
    assert format_label_lines(rec) == "2 0.15000000 0.40000000 0.20000000 0.40000000\n"


def test_read_folder_without_yaml_uses_split_folders_and_classes_txt(tmp_path):
    _img(tmp_path / "images" / "train" / "a.png")
    _img(tmp_path / "images" / "val" / "b.png", w=40, h=20)
    (tmp_path / "labels" / "val").mkdir(parents=True)
    (tmp_path / "labels" / "val" / "b.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    (tmp_path / "classes.txt").write_text("car\nvan\n")
    ds = read_yolo(tmp_path)
    assert ds.names == ["car", "van"]
    assert [(r.split, r.rel_path.as_posix(), r.n_boxes) for r in ds.images] == [("train", "a.png", 0),
                                                                                 ("val", "b.png", 1)]
    np.testing.assert_allclose(ds.images[1].boxes_xyxy_px, [[10, 5, 30, 15]])


def test_read_yaml_with_image_list_and_names_dict(tmp_path):
    _img(tmp_path / "images" / "a.png")
    _img(tmp_path / "images" / "b.png")
    (tmp_path / "train.txt").write_text("./images/b.png\n")  # "./" = relative to the list file, as in ultralytics
    (tmp_path / "data.yaml").write_text("train: train.txt\nnames: {0: car, 1: truck}\n")
    ds = read_yolo(tmp_path / "data.yaml")
    assert ds.names == ["car", "truck"] and [r.path.name for r in ds.images] == ["b.png"]


def test_names_override_and_missing_names(tmp_path):
    _img(tmp_path / "images" / "a.png")
    with pytest.raises(DataError, match="no class names"):
        read_yolo(tmp_path)
    assert read_yolo(tmp_path, names=["x"]).names == ["x"]


def test_moved_dataset_falls_back_to_the_yaml_folder(tmp_path):
    _img(tmp_path / "images" / "train" / "a.png")
    (tmp_path / "data.yaml").write_text("path: /nonexistent/old/place\ntrain: images/train\nnames: [car]\n")
    assert len(read_yolo(tmp_path).images) == 1


def test_write_yolo_layout_and_yaml(tmp_path):
    _img(tmp_path / "src" / "a.png")
    _img(tmp_path / "src" / "b.png")
    ds = Dataset(names=["car", "van"], images=[
        ImageRecord(tmp_path / "src" / "a.png", 20, 10, [[2, 1, 6, 9]], [1], "train", rel_path=Path("seq1/a.png")),
        ImageRecord(tmp_path / "src" / "b.png", 20, 10, split="test"),
    ])
    yaml_path = write_yolo(ds, tmp_path / "out")
    out = tmp_path / "out"
    assert yaml_path == out / "data.yaml"
    cfg = yaml.safe_load(yaml_path.read_text())
    assert cfg == {"path": str(out), "train": "images/train", "test": "images/test", "nc": 2,
                   "names": {0: "car", 1: "van"}}
    label = (out / "labels" / "train" / "seq1" / "a.txt").read_text()
    assert label == "1 0.20000000 0.50000000 0.20000000 0.80000000\n"
    assert (out / "labels" / "test" / "b.txt").read_text() == ""
    back = read_yolo(out)
    assert [(r.split, r.rel_path.as_posix()) for r in back.images] == [("train", "seq1/a.png"), ("test", "b.png")]
    np.testing.assert_allclose(back.images[0].boxes_xyxy_px, [[2, 1, 6, 9]], atol=1e-6)
    with pytest.raises(BlendaugError, match="already exists"):
        write_yolo(ds, out)
    write_yolo(ds.with_images(ds.images[:1]), out, overwrite=True)
    assert not (out / "images" / "test").exists()


def test_write_yolo_refuses_an_empty_dataset_and_leaves_nothing(tmp_path):
    with pytest.raises(DataError, match="no images"):
        write_yolo(Dataset(names=["car"]), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_boxes_past_the_border_are_clipped(tmp_path):
    # Centre and size are in range, but cx + w/2 = 1.05: the box is clipped to the image.
    _img(tmp_path / "images" / "a.png", w=20, h=10)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.95 0.5 0.2 0.4\n")
    ds = read_yolo(tmp_path, names=["car"])
    np.testing.assert_allclose(ds.images[0].boxes_xyxy_px, [[17, 3, 20, 7]], atol=1e-9)


def test_darknet_layout_labels_beside_images_with_obj_names(tmp_path):
    # CVAT's "YOLO 1.1" export and labelImg's YOLO mode: no images/ folder, each .txt beside its image.
    from blendaug.data.io import detect_format

    _img(tmp_path / "obj_train_data" / "a.png", w=40, h=20)
    (tmp_path / "obj_train_data" / "a.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    _img(tmp_path / "obj_train_data" / "b.png")
    (tmp_path / "obj.names").write_text("car\nvan\n")
    (tmp_path / "train.txt").write_text("data/obj_train_data/a.png\ndata/obj_train_data/b.png\n")
    assert detect_format(tmp_path) == "yolo"
    ds = read_yolo(tmp_path)
    assert ds.names == ["car", "van"]
    assert [(r.split, r.rel_path.as_posix(), r.n_boxes) for r in ds.images] == [
        ("train", "obj_train_data/a.png", 1), ("train", "obj_train_data/b.png", 0)]
    np.testing.assert_allclose(ds.images[0].boxes_xyxy_px, [[10, 5, 30, 15]])
    (tmp_path / "obj.names").unlink()
    with pytest.raises(DataError, match="no data.yaml, no images/ folder and no classes.txt or obj.names"):
        read_yolo(tmp_path)
