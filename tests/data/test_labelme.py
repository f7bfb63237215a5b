"""labelme folders: shape types, corner order, imagePath rules, embedded images, class names."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from blendaug.data.errors import DataError, Warnings
from blendaug.data.imageio import encode_image, save_image
from blendaug.data.labelme import read_labelme, shape_to_box


def _image(path, w=100, h=80):
    save_image(path, np.full((h, w, 3), 120, np.uint8))


def _labelme(path, shapes, image_path, image_data=None, w=None, h=None):
    obj = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": image_path, "imageData": image_data,
           "imageHeight": h, "imageWidth": w}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _shape(label, points, shape_type):
    return {"label": label, "points": points, "group_id": None, "description": "", "shape_type": shape_type,
            "flags": {}, "mask": None}


@pytest.mark.parametrize(
    "points",
    [[[10, 5], [30, 20]], [[30, 20], [10, 5]], [[10, 20], [30, 5]], [[30, 5], [10, 20]]],
    ids=["tl-br", "br-tl", "bl-tr", "tr-bl"],
)
def test_rectangle_corners_in_any_order(tmp_path, points):
    _image(tmp_path / "a.png")
    _labelme(tmp_path / "a.json", [_shape("car", points, "rectangle")], "a.png")
    ds = read_labelme(tmp_path)
    assert ds.names == ["car"]
    np.testing.assert_array_equal(ds.images[0].boxes_xyxy_px, [[10, 5, 30, 20]])


def test_polygon_and_circle_become_their_bounding_boxes():
    polygon = _shape("van", [[12, 40], [50, 10], [70, 45], [30, 60.5]], "polygon")
    np.testing.assert_array_equal(shape_to_box(polygon), [12, 10, 70, 60.5])
    circle = _shape("car", [[50, 40], [53, 44]], "circle")  # radius 5 (3-4-5 triangle)
    np.testing.assert_array_equal(shape_to_box(circle), [45, 35, 55, 45])
    assert shape_to_box(_shape("car", [[1, 2]], "point")) is None  # a point has no area
    assert shape_to_box(_shape("car", [[1, 2], [3, 4]], "hexagon")) is None


def test_read_shapes_names_sizes_and_clipping(tmp_path):
    _image(tmp_path / "sub" / "b.jpg", w=100, h=80)
    shapes = [
        _shape("van", [[12, 40], [50, 10], [70, 45]], "polygon"),
        _shape("car", [[50, 40], [53, 44]], "circle"),
        _shape("car", [[90, 70], [120, 95]], "rectangle"),  # sticks out right and bottom: clipped
        _shape("car", [[1, 1]], "point"),
        _shape("car", [[1, 1], [5, 5]], "line"),
    ]
    # imageWidth/Height are wrong on purpose: the image's own size wins.
    _labelme(tmp_path / "sub" / "b.json", shapes, "b.jpg", w=640, h=480)
    warnings = Warnings()
    ds = read_labelme(tmp_path, warnings=warnings)
    assert ds.names == ["car", "van"]  # sorted set of labels
    (rec,) = ds.images
    assert (rec.width, rec.height, rec.split) == (100, 80, "train")
    assert rec.rel_path.as_posix() == "sub/b.jpg"
    np.testing.assert_array_equal(rec.boxes_xyxy_px, [[12, 10, 70, 45], [45, 35, 55, 45], [90, 70, 100, 80],
                                                      [1, 1, 5, 5]])
    np.testing.assert_array_equal(rec.class_ids, [1, 0, 0, 0])
    assert warnings.counts["labelme point shape skipped (a point has no area)"] == 1
    assert warnings.counts["labelme line or points shape read as the box of its points"] == 1
    assert warnings.counts["labelme box clipped to the image"] == 1
    assert warnings.counts["labelme imageWidth/imageHeight differ from the image (the image wins)"] == 1


def test_given_names_order_and_unknown_label(tmp_path):
    _image(tmp_path / "a.png")
    _labelme(tmp_path / "a.json", [_shape("car", [[1, 1], [9, 9]], "rectangle"),
                                   _shape("bus", [[2, 2], [8, 8]], "rectangle")], "a.png")
    with pytest.raises(DataError, match=r"a\.json: label 'bus' is not in the class names"):
        read_labelme(tmp_path, names=["truck", "car"])
    warnings = Warnings()
    ds = read_labelme(tmp_path, names=["truck", "car"], skip_bad=True, warnings=warnings)
    assert ds.names == ["truck", "car"]
    np.testing.assert_array_equal(ds.images[0].class_ids, [1])
    assert warnings.total() == 1


def test_unknown_shape_type_is_counted_never_an_error(tmp_path):
    _image(tmp_path / "a.png")
    shapes = [_shape("car", [[1, 1], [9, 9]], "rectangle"), _shape("car", [[1, 1], [5, 5]], "hexagon"),
              _shape("car", [[1, 1], [5, 5]], "star")]
    _labelme(tmp_path / "a.json", shapes, "a.png")
    warnings = Warnings()
    ds = read_labelme(tmp_path, warnings=warnings)
    assert ds.images[0].n_boxes == 1
    assert warnings.counts == {"labelme shape type without a box skipped": 2}
    assert "'hexagon'" in warnings.examples["labelme shape type without a box skipped"]


def test_image_path_escaping_the_folder_is_refused(tmp_path):
    _image(tmp_path / "x.jpg")  # exists, but outside the dataset folder
    src = tmp_path / "ds"
    _labelme(src / "a.json", [_shape("car", [[1, 1], [9, 9]], "rectangle")], "../x.jpg")
    with pytest.raises(DataError, match=r"a\.json: key 'imagePath' '\.\./x\.jpg' leaves the dataset folder"):
        read_labelme(src)


def test_absolute_image_path_outside_is_refused(tmp_path):
    _image(tmp_path / "x.jpg")
    src = tmp_path / "ds"
    _labelme(src / "a.json", [], str(tmp_path / "x.jpg"))
    with pytest.raises(DataError, match="leaves the dataset folder"):
        read_labelme(src, names=["car"])


def test_windows_separators_in_image_path(tmp_path):
    _image(tmp_path / "imgs" / "a.png")
    _labelme(tmp_path / "ann" / "a.json", [_shape("car", [[1, 1], [9, 9]], "rectangle")], "..\\imgs\\a.png")
    ds = read_labelme(tmp_path)
    assert ds.images[0].rel_path.as_posix() == "imgs/a.png"


def test_embedded_image_data_is_used_when_the_file_is_absent(tmp_path):
    payload = encode_image(np.full((30, 40, 3), 7, np.uint8), ".png")
    _labelme(tmp_path / "a.json", [_shape("car", [[1, 2], [11, 12]], "rectangle")], "a.png",
             image_data=base64.b64encode(payload).decode())
    (rec,) = read_labelme(tmp_path).images
    assert rec.data == payload
    assert (rec.width, rec.height) == (40, 30)
    assert rec.path == (tmp_path / "a.png").resolve() and not rec.path.exists()
    assert rec.read_bytes() == payload


def test_missing_image_without_data_is_an_error_naming_the_json(tmp_path):
    _labelme(tmp_path / "a.json", [_shape("car", [[1, 1], [9, 9]], "rectangle")], "gone.png")
    with pytest.raises(DataError, match=r"a\.json: image .*gone\.png not found and no imageData"):
        read_labelme(tmp_path)
    warnings = Warnings()
    _image(tmp_path / "b.png")
    _labelme(tmp_path / "b.json", [_shape("car", [[1, 1], [9, 9]], "rectangle")], "b.png")
    ds = read_labelme(tmp_path, skip_bad=True, warnings=warnings)
    assert [r.rel_path.name for r in ds.images] == ["b.png"]
    assert warnings.counts == {"bad labelme file skipped": 1}


def test_without_image_path_the_image_next_to_the_json_is_used(tmp_path):
    _image(tmp_path / "a.jpg")
    _labelme(tmp_path / "a.json", [_shape("car", [[1, 1], [9, 9]], "rectangle")], None)
    assert read_labelme(tmp_path).images[0].path == (tmp_path / "a.jpg").resolve()
    _labelme(tmp_path / "b.json", [], None)
    with pytest.raises(DataError, match=r"b\.json: no 'imagePath', no image of the same name"):
        read_labelme(tmp_path)


def test_invalid_json_names_the_file(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(DataError, match=r"broken\.json: not a valid JSON file"):
        read_labelme(tmp_path)


def test_zero_area_rectangle_is_a_counted_skip_not_an_error(tmp_path):
    # An accidental click in labelme draws a rectangle with no area: skipped and counted, even without skip_bad.
    _image(tmp_path / "a.png")
    _labelme(tmp_path / "a.json", [_shape("car", [[5, 5], [5, 20]], "rectangle"),
                                   _shape("car", [[1, 1], [9, 9]], "rectangle")], "a.png")
    warnings = Warnings()
    ds = read_labelme(tmp_path, warnings=warnings)
    np.testing.assert_array_equal(ds.images[0].boxes_xyxy_px, [[1, 1, 9, 9]])
    assert warnings.counts == {"labelme zero-area shape skipped": 1}
    assert r"a.json: shapes[0] ('car'): zero-area rectangle" in warnings.examples["labelme zero-area shape skipped"]


def test_a_file_with_only_shapes_without_a_box_says_which_were_skipped(tmp_path):
    _image(tmp_path / "a.png")
    _labelme(tmp_path / "a.json", [_shape("car", [[5, 5]], "point"), _shape("car", [[5, 5], [5, 5]], "rectangle"),
                                   _shape("car", [[2, 2]], "point")], "a.png")
    with pytest.raises(DataError, match=r"no shape gave a box, so no class names: skipped 2 x point, "
                                        r"1 x rectangle .*pass --names"):
        read_labelme(tmp_path)
    assert read_labelme(tmp_path, names=["car"]).images[0].n_boxes == 0


def test_unlabeled_images_are_left_out_and_counted(tmp_path):
    _image(tmp_path / "a.png")
    _image(tmp_path / "unlabeled.png")
    _labelme(tmp_path / "a.json", [_shape("car", [[1, 1], [9, 9]], "rectangle")], "a.png")
    warnings = Warnings()
    ds = read_labelme(tmp_path, warnings=warnings)
    assert len(ds.images) == 1
    assert warnings.counts == {"image without a labelme JSON left out": 1}


# Written by labelme's own LabelFile API, as the GUI saves them (app.py's _shape_to_dict for masks), in a
# subprocess with its own HOME: importing labelme writes under ~/.cache and loads Qt.
_LABELFILE_WRITER = r"""
import json, sys, typing
import numpy as np
from PIL import Image
from labelme import LabelFile, utils
from labelme._shape import ShapeType

print(json.dumps(typing.get_args(ShapeType)))  # every shape type the pinned labelme can draw

out = sys.argv[1]
Image.fromarray(np.full((80, 100, 3), 120, np.uint8)).save(f"{out}/all.png")
mask = np.zeros((10, 10), bool)
mask[2:6, 3:8] = True
shapes = [(t, p) for t, p in json.loads(sys.argv[2])]
dicts = [dict(label="car", points=p, group_id=None, description="", shape_type=t, flags={}, mask=None)
         for t, p in shapes]
dicts.append(dict(label="van", points=[[60, 50], [69, 59]], group_id=None, description="", shape_type="mask",
                  flags={}, mask=utils.img_arr_to_b64(mask.astype(np.uint8))))
LabelFile().save(f"{out}/all.json", shapes=dicts, image_path="all.png", image_height=80, image_width=100)
"""

# shape type -> (points, the box it must become; None: no box)
LABELME_SHAPES = {
    "rectangle": ([[30, 20], [10, 5]], [10, 5, 30, 20]),
    "polygon": ([[12, 40], [50, 10], [70, 45]], [12, 10, 70, 45]),
    "oriented_rectangle": ([[50, 30], [60, 40], [50, 50], [40, 40]], [40, 30, 60, 50]),
    "circle": ([[50, 40], [53, 44]], [45, 35, 55, 45]),
    "line": ([[5, 5], [25, 15]], [5, 5, 25, 15]),
    "linestrip": ([[5, 60], [20, 70], [30, 62]], [5, 60, 30, 70]),
    "points": ([[70, 10], [80, 20], [75, 30]], [70, 10, 80, 30]),
    "point": ([[3, 3]], None),
}


def test_every_shape_labelme_draws_becomes_a_box(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "home").mkdir()
    spec = json.dumps([[t, p] for t, (p, _) in LABELME_SHAPES.items()])
    proc = subprocess.run([sys.executable, "-c", _LABELFILE_WRITER, str(tmp_path), spec], check=True, timeout=300,
                          env={**os.environ, "HOME": str(tmp_path / "home")}, capture_output=True, text=True)
    assert set(json.loads(proc.stdout.splitlines()[-1])) == {*LABELME_SHAPES, "mask"}
    assert json.loads((tmp_path / "all.json").read_text())["version"] == "6.3.1"
    warnings = Warnings()
    ds = read_labelme(tmp_path, warnings=warnings)
    assert ds.names == ["car", "van"]
    expected = [box for _, box in LABELME_SHAPES.values() if box is not None] + [[63, 52, 68, 56]]  # mask: its pixels
    np.testing.assert_array_equal(ds.images[0].boxes_xyxy_px, expected)
    np.testing.assert_array_equal(ds.images[0].class_ids, [0] * 7 + [1])
    assert warnings.counts == {"labelme point shape skipped (a point has no area)": 1,
                               "labelme line or points shape read as the box of its points": 3}
