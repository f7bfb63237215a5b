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
