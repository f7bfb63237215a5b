"""Label Studio JSON exports: percent boxes, rotation about the top-left corner, image lookup, bad keys named."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from blendaug.data.errors import DataError, Warnings
from blendaug.data.imageio import save_image
from blendaug.data.labelstudio import image_candidates, read_labelstudio


def rect(x, y, w, h, label, rotation=0.0, size=(200, 100)):
    """One ``rectanglelabels`` result as Label Studio exports it (percent coordinates)."""
    return {"original_width": size[0], "original_height": size[1], "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": [label]},
            "id": f"r{label}{x}", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
            "origin": "manual"}


def task(image, results, task_id=1, cancelled=False):
    return {"id": task_id, "data": {"image": image}, "predictions": [],
            "annotations": [{"id": 10 + task_id, "completed_by": 1, "result": results, "was_cancelled": cancelled,
                             "ground_truth": False, "lead_time": 3.2}]}


def _export(tmp_path, tasks):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    return path


def test_two_results_and_rotation_about_the_top_left_corner(tmp_path):
    save_image(tmp_path / "images" / "street.jpg", np.zeros((100, 200, 3), np.uint8))
    results = [rect(10, 20, 25, 30, "car"), rect(50, 10, 20, 40, "van", rotation=90)]
    path = _export(tmp_path, [task("/data/upload/3/5b1e2f3a-street.jpg", results)])
    warnings = Warnings()
    ds = read_labelstudio(path, images_dir=tmp_path / "images", warnings=warnings)
    assert ds.names == ["car", "van"]
    (rec,) = ds.images
    assert (rec.width, rec.height, rec.rel_path.as_posix()) == (200, 100, "street.jpg")
    # van: 40 x 40 px at (100, 10), turned 90 degrees clockwise about (100, 10): it now spans x 60..100.
    np.testing.assert_allclose(rec.boxes_xyxy_px, [[20, 20, 70, 50], [60, 10, 100, 50]], atol=1e-9)
    np.testing.assert_array_equal(rec.class_ids, [0, 1])
    assert warnings.counts == {"Label Studio rotated box read as its axis-aligned bounding box": 1}


def test_a_30_degree_rotation(tmp_path):
    save_image(tmp_path / "a.png", np.zeros((100, 200, 3), np.uint8))
    path = _export(tmp_path, [task("a.png", [rect(50, 10, 20, 40, "car", rotation=30)])])
    s3 = math.sqrt(3)
    # corners (100, 10), (100 + 20 s3, 30), (80 + 20 s3, 30 + 20 s3), (80, 10 + 20 s3)
    np.testing.assert_allclose(read_labelstudio(path).images[0].boxes_xyxy_px, [[80, 10, 100 + 20 * s3, 30 + 20 * s3]])


def test_image_lookup_rules(tmp_path):
    root = tmp_path
    assert image_candidates("/data/local-files/?d=pics%2Fa%20b.jpg", root)[0] == root / "pics" / "a b.jpg"
    assert image_candidates("/data/upload/3/5b1e2f3a-x.jpg", root) == [
        root / "data/upload/3/5b1e2f3a-x.jpg", root / "upload/3/5b1e2f3a-x.jpg", root / "3/5b1e2f3a-x.jpg",
        root / "5b1e2f3a-x.jpg", root / "x.jpg"]
    assert image_candidates("s3://bucket/set/x.jpg", root) == [root / "set/x.jpg", root / "x.jpg"]


def test_json_min_export_cancelled_and_unlabelled_tasks(tmp_path):
    save_image(tmp_path / "a.jpg", np.zeros((100, 200, 3), np.uint8))
    save_image(tmp_path / "b.jpg", np.zeros((100, 200, 3), np.uint8))
    value = {"x": 10, "y": 20, "width": 25, "height": 30, "rotation": 0, "rectanglelabels": ["car"],
             "original_width": 200, "original_height": 100}
    path = _export(tmp_path, [{"image": "/data/local-files/?d=a.jpg", "id": 1, "label": [value]},
                              {"image": "/data/local-files/?d=b.jpg", "id": 2}])
    warnings = Warnings()
    ds = read_labelstudio(path, warnings=warnings)
    assert [r.path.name for r in ds.images] == ["a.jpg"]
    np.testing.assert_allclose(ds.images[0].boxes_xyxy_px, [[20, 20, 70, 50]])
    assert warnings.counts == {"Label Studio task without an annotation left out": 1}
    path = _export(tmp_path, [task("a.jpg", [rect(1, 1, 5, 5, "car")], cancelled=True),
                              task("b.jpg", [rect(1, 1, 5, 5, "van"),
                                             {"type": "keypointlabels", "value": {"x": 1, "y": 1}}], task_id=2)])
    warnings = Warnings()
    ds = read_labelstudio(path, warnings=warnings)
    assert ds.names == ["van"] and [r.path.name for r in ds.images] == ["b.jpg"]
    assert warnings.counts == {"Label Studio task without an annotation left out": 1,
                               "Label Studio result that is not a rectangle skipped": 1}


@pytest.mark.parametrize(
    ("results", "key"),
    [
        ([{**rect(1, 1, 5, 5, "car"),
           "value": {"x": "1", "y": 1, "width": 5, "height": 5, "rectanglelabels": ["car"]}}],
         r"\[0\]\.annotations\[0\]\.result\[0\]\.value\.x: must be a number, got '1'"),
        ([{**rect(1, 1, 5, 5, "car"), "value": {"x": 1, "y": 1, "width": 5, "height": 5}}],
         r"\[0\]\.annotations\[0\]\.result\[0\]\.value\.rectanglelabels: must be a non-empty list"),
        ([rect(1, 1, 0, 5, "car")], r"\[0\]\.annotations\[0\]\.result\[0\]\.value: zero-area box"),
        ([rect(150, 1, 5, 5, "car")], r"\[0\]\.annotations\[0\]\.result\[0\]\.value: box .* is outside"),
    ],
    ids=["string-x", "no-labels", "zero-area", "outside"],
)
def test_bad_values_name_the_json_key(tmp_path, results, key):
    save_image(tmp_path / "a.jpg", np.zeros((100, 200, 3), np.uint8))
    path = _export(tmp_path, [task("a.jpg", results)])
    with pytest.raises(DataError, match=rf"export\.json: {key}") as err:
        read_labelstudio(path, names=["car"])
    assert "\n" not in str(err.value)


def test_a_missing_image_and_a_non_list_export(tmp_path):
    path = _export(tmp_path, [task("/data/upload/1/gone.jpg", [])])
    with pytest.raises(DataError, match=r"export\.json: \[0\]\.data\.image: '/data/upload/1/gone\.jpg' not found "
                                        r"under .* \(pass --images ROOT\)"):
        read_labelstudio(path, names=["car"])
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(DataError, match=r"export\.json: expected a Label Studio export: a JSON list of tasks"):
        read_labelstudio(path)
