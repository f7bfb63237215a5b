"""Round trip labelme -> YOLO -> COCO -> YOLO keeps every box within 1e-6 (normalised), names and images."""

from __future__ import annotations

import base64
import json

import numpy as np

from blendaug.data.coco import read_coco, write_coco
from blendaug.data.imageio import encode_image, save_image
from blendaug.data.io import detect_format, read_dataset, write_dataset
from blendaug.data.labelme import read_labelme
from blendaug.data.model import Dataset, xyxy_to_cxcywh_norm
from blendaug.data.yolo import read_yolo, write_yolo


def _labelme_folder(root):
    rng = np.random.default_rng(0)
    shapes_a = [
        {"label": "truck", "points": [[77.3, 50.1], [12.25, 3.5]], "shape_type": "rectangle"},
        {"label": "car", "points": [[5, 60], [40.7, 41.3], [33.3, 79.9], [1.1, 70]], "shape_type": "polygon"},
        {"label": "van", "points": [[60.5, 30.25], [66.1, 33.3]], "shape_type": "circle"},
        {"label": "car", "points": [[90, 10], [150, 30]], "shape_type": "rectangle"},  # clipped at x = 120
    ]
    save_image(root / "a.png", rng.integers(0, 255, (90, 120, 3), dtype=np.uint8))
    (root / "a.json").write_text(json.dumps({"shapes": shapes_a, "imagePath": "a.png", "imageData": None}))
    save_image(root / "seq" / "b.jpg", rng.integers(0, 255, (64, 48, 3), dtype=np.uint8))
    shapes_b = [{"label": "van", "points": [[3.3, 4.4], [40.01, 60.02]], "shape_type": "rectangle"}]
    (root / "seq" / "b.json").write_text(json.dumps({"shapes": shapes_b, "imagePath": "b.jpg", "imageData": None}))
    # Embedded only: the image file does not exist.
    payload = encode_image(rng.integers(0, 255, (33, 57, 3), dtype=np.uint8), ".png")
    shapes_c = [{"label": "truck", "points": [[0.5, 0.5], [56.5, 32.5]], "shape_type": "rectangle"}]
    (root / "c.json").write_text(json.dumps({"shapes": shapes_c, "imagePath": "c.png",
                                             "imageData": base64.b64encode(payload).decode()}))
    # An image with no objects stays an image with no objects.
    save_image(root / "empty.png", np.zeros((20, 30, 3), np.uint8))
    (root / "empty.json").write_text(json.dumps({"shapes": [], "imagePath": "empty.png", "imageData": None}))


def _normalised(ds: Dataset) -> dict[str, tuple[np.ndarray, np.ndarray, tuple[int, int]]]:
    return {rec.rel_path.as_posix(): (xyxy_to_cxcywh_norm(rec.boxes_xyxy_px, rec.width, rec.height), rec.class_ids,
                                      (rec.width, rec.height)) for rec in ds.images}


def _assert_same(a: Dataset, b: Dataset) -> None:
    assert a.names == b.names
    na, nb = _normalised(a), _normalised(b)
    assert sorted(na) == sorted(nb)
    for key, (boxes, ids, size) in na.items():
        boxes_b, ids_b, size_b = nb[key]
        assert size == size_b, key
        np.testing.assert_array_equal(ids, ids_b, err_msg=key)
        np.testing.assert_allclose(boxes_b, boxes, rtol=0, atol=1e-6, err_msg=key)


def test_labelme_yolo_coco_yolo_round_trip(tmp_path):
    _labelme_folder(tmp_path / "lm")
    start = read_labelme(tmp_path / "lm")
    assert start.names == ["car", "truck", "van"]
    assert len(start.images) == 4 and sum(r.n_boxes for r in start.images) == 6

    yolo1 = read_yolo(write_yolo(start, tmp_path / "yolo1"))
    coco = read_coco(write_coco(yolo1, tmp_path / "coco"))
    yolo2 = read_yolo(write_yolo(coco, tmp_path / "yolo2"))
    for ds in (yolo1, coco, yolo2):
        _assert_same(start, ds)
        assert {r.split for r in ds.images} == {"train"}
    # The embedded image became a real file, byte for byte.
    embedded = next(r for r in start.images if r.rel_path.name == "c.png")
    assert embedded.data is not None
    assert (tmp_path / "coco" / "images" / "train" / "c.png").read_bytes() == embedded.data


def test_splits_survive_yolo_coco_yolo(tmp_path):
    _labelme_folder(tmp_path / "lm")
    ds = read_labelme(tmp_path / "lm")
    for rec, split in zip(ds.images, ["train", "val", "test", "val"], strict=True):
        rec.split = split
    back = read_dataset(write_dataset(read_dataset(write_dataset(ds, tmp_path / "coco", "coco")),
                                      tmp_path / "yolo", "yolo"))
    assert {r.rel_path.as_posix(): r.split for r in back.images} == {r.rel_path.as_posix(): r.split for r in ds.images}
    _assert_same(ds, back)


def test_detect_format(tmp_path):
    _labelme_folder(tmp_path / "lm")
    ds = read_labelme(tmp_path / "lm")
    write_yolo(ds, tmp_path / "yolo")
    write_coco(ds, tmp_path / "coco")
    assert detect_format(tmp_path / "lm") == "labelme"
    assert detect_format(tmp_path / "yolo") == "yolo"
    assert detect_format(tmp_path / "yolo" / "data.yaml") == "yolo"
    assert detect_format(tmp_path / "coco") == "coco"
    assert detect_format(tmp_path / "coco" / "annotations" / "instances_train.json") == "coco"


# ---- the same round trips from what each labelling tool exports ------------------------------------


def _trip(start: Dataset, tmp_path) -> None:
    """start -> YOLO -> COCO -> YOLO; every stage equal to ``start`` within 1e-6 (normalised)."""
    yolo1 = read_yolo(write_yolo(start, tmp_path / "yolo1"))
    coco = read_coco(write_coco(yolo1, tmp_path / "coco"))
    yolo2 = read_yolo(write_yolo(coco, tmp_path / "yolo2"))
    for ds in (yolo1, coco, yolo2):
        _assert_same(start, ds)
        assert sorted((r.rel_path.as_posix(), r.split) for r in ds.images) == sorted(
            (r.rel_path.as_posix(), r.split) for r in start.images)


def test_voc_with_difficult_round_trip(tmp_path):
    from tests.data.test_voc import voc_xml

    src = tmp_path / "voc"
    rng = np.random.default_rng(1)
    save_image(src / "f1.jpg", rng.integers(0, 255, (80, 100, 3), dtype=np.uint8))
    (src / "f1.xml").write_text(voc_xml("f1.jpg", [("van", 10, 20, 40, 60), ("car", 50.5, 5, 99.25, 30),
                                                   ("car", 1, 2, 3, 4, 1), ("truck", 60, 40, 130, 79)]))
    save_image(src / "f2.png", rng.integers(0, 255, (33, 57, 3), dtype=np.uint8))
    (src / "f2.xml").write_text(voc_xml("f2.png", [("truck", 0, 0, 57, 33)], size=(57, 33)))
    start = read_dataset(src)  # auto-detected as voc
    assert start.names == ["car", "truck", "van"]
    assert sum(r.n_boxes for r in start.images) == 4  # the difficult car is left out
    np.testing.assert_array_equal(start.images[0].boxes_xyxy_px[-1], [60, 40, 100, 79])  # clipped at x = 100
    _trip(start, tmp_path)


def test_label_studio_round_trip(tmp_path):
    from tests.data.test_labelstudio import rect, task

    save_image(tmp_path / "img" / "a.jpg", np.random.default_rng(2).integers(0, 255, (100, 200, 3), dtype=np.uint8))
    save_image(tmp_path / "img" / "b.png", np.zeros((60, 90, 3), np.uint8))
    tasks = [task("/data/upload/1/0a1b2c3d-a.jpg", [rect(10, 20, 25, 30, "car"),
                                                    rect(50.5, 10.25, 20, 40, "van", rotation=30)]),
             task("/data/local-files/?d=b.png", [rect(0, 0, 100, 100, "car", size=(90, 60))], task_id=2)]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    start = read_dataset(tmp_path / "export.json", images_dir=tmp_path / "img")  # auto-detected as labelstudio
    assert start.names == ["car", "van"] and sum(r.n_boxes for r in start.images) == 3
    _trip(start, tmp_path)


def test_roboflow_yolo_and_coco_exports_round_trip(tmp_path):
    from tests.data.test_coco import roboflow_coco

    rf = tmp_path / "rf_yolo"
    rng = np.random.default_rng(3)
    for split, name in (("train", "a.jpg"), ("valid", "b.jpg"), ("test", "c.jpg")):
        save_image(rf / split / "images" / name, rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))
        (rf / split / "labels").mkdir(parents=True)
        (rf / split / "labels" / name.replace(".jpg", ".txt")).write_text("1 0.4 0.5 0.2 0.3125\n0 0.1 0.1 0.2 0.2\n")
    (rf / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\nnc: 2\n"
                                  "names: ['car', 'fire truck']\n\nroboflow:\n  workspace: ws\n  project: cars\n")
    start = read_dataset(rf)
    assert [r.split for r in start.images] == ["train", "val", "test"]
    _trip(start, tmp_path / "from_yolo")

    src = roboflow_coco(tmp_path / "rf_coco", {"train": [("a.jpg", [(1, [1, 2, 10, 20]), (2, [5, 5, 4, 4])])],
                                               "valid": [("b.jpg", [(2, [0, 0, 8, 8])])]})
    coco = json.loads((src / "train" / "_annotations.coco.json").read_text())
    coco["annotations"][0]["attributes"] = {"occluded": False, "rotation": 45.0}  # a CVAT rotated box
    (src / "train" / "_annotations.coco.json").write_text(json.dumps(coco))
    start = read_dataset(src)
    assert start.names == ["fire truck", "car"]
    half = (5 + 10) / np.sqrt(2)  # the 10 x 20 box centred at (6, 12), turned 45 degrees: (w/2 + h/2) / sqrt(2)
    np.testing.assert_allclose(start.split("train")[0].boxes_xyxy_px[0], [0, 12 - half, 6 + half, 12 + half])
    _trip(start, tmp_path / "from_coco")
