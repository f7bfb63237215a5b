"""COCO JSON: category mapping, image lookup, iscrowd, bad annotations, writing and reading back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blendaug.data.coco import image_bases, read_coco, write_coco
from blendaug.data.errors import BlendaugError, DataError, Warnings
from blendaug.data.imageio import save_image
from blendaug.data.model import Dataset, ImageRecord


def _image(path, w=100, h=80):
    save_image(path, np.full((h, w, 3), 60, np.uint8))


def _coco(path, images, annotations, categories):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


CATS = [{"id": 3, "name": "truck"}, {"id": 7, "name": "van"}, {"id": 1, "name": "car"}]


KEPT_EMPTY = "COCO category without annotations kept (pass --names to drop it)"


def _without_kept_empty(warnings):
    """The counts less the note about CATS' unused categories (the tests below use only category 1)."""
    return {k: n for k, n in warnings.counts.items() if k != KEPT_EMPTY}


def _three_boxes(tmp_path, **ann_extra):
    _image(tmp_path / "a.jpg")
    anns = [
        {"id": 10, "image_id": 5, "category_id": 3, "bbox": [10, 20, 30, 40]},
        {"id": 11, "image_id": 5, "category_id": 7, "bbox": [1.5, 2.25, 3.125, 4.0]},
        {"id": 12, "image_id": 5, "category_id": 1, "bbox": [0, 0, 5, 5], **ann_extra},
    ]
    return _coco(tmp_path / "ann.json", [{"id": 5, "file_name": "a.jpg", "width": 100, "height": 80}], anns, CATS)


def test_category_ids_map_to_contiguous_ids_sorted_by_id(tmp_path):
    ds = read_coco(_three_boxes(tmp_path))
    assert ds.names == ["car", "truck", "van"]  # ids 1, 3, 7
    (rec,) = ds.images
    np.testing.assert_array_equal(rec.class_ids, [1, 2, 0])
    np.testing.assert_array_equal(rec.boxes_xyxy_px, [[10, 20, 40, 60], [1.5, 2.25, 4.625, 6.25], [0, 0, 5, 5]])
    assert (rec.width, rec.height, rec.split, rec.rel_path.as_posix()) == (100, 80, "train", "a.jpg")


def test_given_names_order(tmp_path):
    ds = read_coco(_three_boxes(tmp_path), names=["van", "car", "truck"])
    assert ds.names == ["van", "car", "truck"]
    np.testing.assert_array_equal(ds.images[0].class_ids, [2, 0, 1])


def test_category_not_in_given_names(tmp_path):
    path = _three_boxes(tmp_path)
    with pytest.raises(DataError, match=r"ann\.json: category 3 'truck' is not in the class names"):
        read_coco(path, names=["car", "van"])
    warnings = Warnings()
    ds = read_coco(path, names=["car", "van"], skip_bad=True, warnings=warnings)
    np.testing.assert_array_equal(ds.images[0].class_ids, [1, 0])
    assert warnings.counts == {"COCO category not in the class names skipped": 1}


def test_iscrowd_is_skipped_and_counted(tmp_path):
    warnings = Warnings()
    ds = read_coco(_three_boxes(tmp_path, iscrowd=1), warnings=warnings)
    np.testing.assert_array_equal(ds.images[0].class_ids, [1, 2])
    assert warnings.counts == {"COCO iscrowd annotation skipped": 1}


def test_split_parameter(tmp_path):
    assert read_coco(_three_boxes(tmp_path), split="val").images[0].split == "val"
    with pytest.raises(DataError, match="split must be one of"):
        read_coco(tmp_path / "ann.json", split="holdout")


def test_missing_image_file_names_json_and_image(tmp_path):
    path = _coco(tmp_path / "ann.json", [{"id": 42, "file_name": "gone.jpg", "width": 10, "height": 10}], [], CATS)
    with pytest.raises(DataError, match=r"ann\.json: image id 42: file 'gone\.jpg' not found"):
        read_coco(path)


def test_annotation_pointing_at_unknown_image_id(tmp_path):
    _image(tmp_path / "a.jpg")
    path = _coco(tmp_path / "ann.json", [{"id": 1, "file_name": "a.jpg"}],
                 [{"id": 9, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
                  {"id": 77, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]}], CATS)
    with pytest.raises(DataError, match=r"ann\.json: annotation id 77: image_id 2 is not in 'images'"):
        read_coco(path)
    warnings = Warnings()
    ds = read_coco(path, skip_bad=True, warnings=warnings)
    assert ds.images[0].n_boxes == 1
    assert _without_kept_empty(warnings) == {"COCO annotation without an image skipped": 1}


@pytest.mark.parametrize("bbox", [[1, 1, 0, 5], [1, 1, 5, -2]])
def test_zero_area_bbox(tmp_path, bbox):
    _image(tmp_path / "a.jpg")
    path = _coco(tmp_path / "ann.json", [{"id": 1, "file_name": "a.jpg"}],
                 [{"id": 3, "image_id": 1, "category_id": 1, "bbox": bbox}], CATS)
    with pytest.raises(DataError, match=r"ann\.json: annotation id 3: zero-area bbox"):
        read_coco(path)
    warnings = Warnings()
    assert read_coco(path, skip_bad=True, warnings=warnings).images[0].n_boxes == 0
    assert _without_kept_empty(warnings) == {"zero-area COCO bbox skipped": 1}


def test_bbox_is_clipped_to_the_image(tmp_path):
    _image(tmp_path / "a.jpg", w=100, h=80)
    path = _coco(tmp_path / "ann.json", [{"id": 1, "file_name": "a.jpg"}],
                 [{"id": 3, "image_id": 1, "category_id": 1, "bbox": [-5, 70, 20, 20]}], CATS)
    warnings = Warnings()
    np.testing.assert_array_equal(read_coco(path, warnings=warnings).images[0].boxes_xyxy_px, [[0, 70, 15, 80]])
    assert _without_kept_empty(warnings) == {"COCO bbox clipped to the image": 1}


def test_image_lookup_rule(tmp_path):
    assert image_bases(tmp_path / "annotations" / "instances_val2017.json", None) == [
        tmp_path / "annotations", tmp_path / "annotations" / "images", tmp_path / "images" / "val2017",
        tmp_path / "val2017", tmp_path / "images"]
    assert image_bases(tmp_path / "x.json", tmp_path / "pics") == [tmp_path / "pics"]
    # COCO's own layout: annotations/instances_val2017.json next to val2017/.
    _image(tmp_path / "val2017" / "000001.jpg")
    path = _coco(tmp_path / "annotations" / "instances_val2017.json", [{"id": 1, "file_name": "000001.jpg"}], [], CATS)
    assert read_coco(path).images[0].path == tmp_path / "val2017" / "000001.jpg"
    _image(tmp_path / "elsewhere" / "000001.jpg")
    assert read_coco(path, images_dir=tmp_path / "elsewhere").images[0].path == tmp_path / "elsewhere" / "000001.jpg"


def test_write_coco_then_read_back_keeps_splits_boxes_and_names(tmp_path):
    _image(tmp_path / "src" / "a.png", w=64, h=48)
    _image(tmp_path / "src" / "deep" / "b.png", w=32, h=32)
    boxes = np.array([[1.123456789012345, 2.5, 30.000000001, 40.75]])
    ds = Dataset(names=["car", "van"], images=[
        ImageRecord(tmp_path / "src" / "a.png", 64, 48, boxes, [1], "train", rel_path=Path("a.png")),
        ImageRecord(tmp_path / "src" / "deep" / "b.png", 32, 32, np.zeros((0, 4)), [], "val",
                    rel_path=Path("deep/b.png")),
    ])
    out = write_coco(ds, tmp_path / "out")
    assert out == tmp_path / "out"
    train = json.loads((out / "annotations" / "instances_train.json").read_text())
    assert train["categories"] == [{"id": 1, "name": "car", "supercategory": "object"},
                                   {"id": 2, "name": "van", "supercategory": "object"}]
    assert train["images"] == [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}]
    (ann,) = train["annotations"]
    assert ann["category_id"] == 2 and ann["image_id"] == 1
    assert ann["bbox"] == [1.123456789012345, 2.5, 30.000000001 - 1.123456789012345, 40.75 - 2.5]  # full precision
    assert (out / "images" / "val" / "deep" / "b.png").is_file()

    back = read_coco(out)
    assert back.names == ["car", "van"]
    assert [(r.split, r.rel_path.as_posix()) for r in back.images] == [("train", "a.png"), ("val", "deep/b.png")]
    np.testing.assert_allclose(back.images[0].boxes_xyxy_px, boxes, rtol=0, atol=1e-12)
    # One JSON of the folder alone: its images are found through ../images/<split>/.
    single = read_coco(out / "annotations" / "instances_val.json", split="val")
    assert single.images[0].path == out / "images" / "val" / "deep" / "b.png"


def test_write_coco_writes_embedded_images_and_refuses_existing_out(tmp_path):
    from blendaug.data.imageio import encode_image

    payload = encode_image(np.zeros((10, 12, 3), np.uint8), ".png")
    ds = Dataset(names=["car"], images=[ImageRecord(tmp_path / "nowhere.png", 12, 10, data=payload)])
    out = write_coco(ds, tmp_path / "out")
    assert (out / "images" / "train" / "nowhere.png").read_bytes() == payload
    with pytest.raises(BlendaugError, match="already exists"):
        write_coco(ds, tmp_path / "out")


def test_write_coco_refuses_colliding_or_escaping_paths(tmp_path):
    _image(tmp_path / "a" / "x.png")
    _image(tmp_path / "b" / "x.png")
    clash = Dataset(names=["car"], images=[ImageRecord(tmp_path / "a" / "x.png", 100, 80),
                                           ImageRecord(tmp_path / "b" / "x.png", 100, 80)])
    with pytest.raises(DataError, match=r"split 'train' already has an image at x\.png"):
        write_coco(clash, tmp_path / "out")
    escape = Dataset(names=["car"], images=[ImageRecord(tmp_path / "a" / "x.png", 100, 80, rel_path=Path("../x.png"))])
    with pytest.raises(DataError, match="would leave the output folder"):
        write_coco(escape, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---- what real exports carry: Roboflow placeholders, CVAT rotation, crowd, wrong areas ----------------


def roboflow_coco(folder: Path, split_images: dict[str, list[tuple[str, list]]]) -> Path:
    """A Roboflow COCO export: ``<split>/_annotations.coco.json`` beside the images, and the placeholder
    category 0 named after the project (supercategory "none") before the real ones."""
    cats = [{"id": 0, "name": "vehicles-xyz", "supercategory": "none"},
            {"id": 1, "name": "fire truck", "supercategory": "vehicles-xyz"},
            {"id": 2, "name": "car", "supercategory": "vehicles-xyz"}]
    for split, images in split_images.items():
        objs, anns = [], []
        for i, (name, boxes) in enumerate(images):
            _image(folder / split / name)
            objs.append({"id": i, "license": 1, "file_name": name, "height": 80, "width": 100,
                         "date_captured": "2024-01-01T00:00:00+00:00"})
            for cat, bbox in boxes:
                anns.append({"id": len(anns), "image_id": i, "category_id": cat, "bbox": bbox,
                             "area": 12345.0, "segmentation": [], "iscrowd": 0})
        _coco(folder / split / "_annotations.coco.json", objs, anns, cats)
    return folder


def test_roboflow_placeholder_category_is_dropped_and_ids_remapped(tmp_path):
    src = roboflow_coco(tmp_path / "rf", {"train": [("a.jpg", [(1, [1, 2, 10, 20]), (2, [5, 5, 4, 4])])],
                                          "valid": [("b.jpg", [(2, [0, 0, 8, 8])])]})
    warnings = Warnings()
    ds = read_coco(src, warnings=warnings)
    assert ds.names == ["fire truck", "car"]
    by_split = {r.split: r for r in ds.images}
    assert set(by_split) == {"train", "val"}
    np.testing.assert_array_equal(by_split["train"].class_ids, [0, 1])
    np.testing.assert_array_equal(by_split["val"].class_ids, [1])
    np.testing.assert_array_equal(by_split["train"].boxes_xyxy_px, [[1, 2, 11, 22], [5, 5, 9, 9]])  # area ignored
    assert warnings.counts == {"COCO empty placeholder category dropped": 1}
    assert "category 0 'vehicles-xyz'" in warnings.examples["COCO empty placeholder category dropped"]
    # --names still decides the order, and the placeholder is no error even though it is not in them.
    ds = read_coco(src, names=["car", "fire truck"])
    np.testing.assert_array_equal({r.split: r for r in ds.images}["train"].class_ids, [1, 0])


def test_an_empty_category_that_is_not_a_placeholder_is_kept_and_counted(tmp_path):
    _image(tmp_path / "a.jpg")
    cats = [{"id": 1, "name": "car", "supercategory": "car"}, {"id": 2, "name": "van", "supercategory": "car"}]
    path = _coco(tmp_path / "ann.json", [{"id": 1, "file_name": "a.jpg"}],
                 [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}], cats)
    warnings = Warnings()
    assert read_coco(path, warnings=warnings).names == ["car", "van"]
    assert warnings.counts == {KEPT_EMPTY: 1}


def test_cvat_rotated_box_becomes_its_axis_aligned_bounding_box(tmp_path):
    # CVAT turns a box about its centre. A 40 x 20 box centred at (50, 40) turned 90 degrees is 20 x 40; turned
    # 30 degrees its half extents are 20 cos30 + 10 sin30 and 20 sin30 + 10 cos30.
    _image(tmp_path / "a.jpg")
    anns = [{"id": i, "image_id": 1, "category_id": 1, "bbox": [30, 30, 40, 20], "area": 800, "iscrowd": 0,
             "attributes": {"occluded": False, "rotation": rot}} for i, rot in enumerate((0.0, 90.0, 30.0, 360.0))]
    path = _coco(tmp_path / "ann.json", [{"id": 1, "file_name": "a.jpg"}], anns, [{"id": 1, "name": "car"}])
    warnings = Warnings()
    boxes = read_coco(path, warnings=warnings).images[0].boxes_xyxy_px
    hx, hy = 20 * np.cos(np.pi / 6) + 10 * 0.5, 20 * 0.5 + 10 * np.cos(np.pi / 6)
    np.testing.assert_allclose(boxes, [[30, 30, 70, 50], [40, 20, 60, 60], [50 - hx, 40 - hy, 50 + hx, 40 + hy],
                                       [30, 30, 70, 50]], atol=1e-9)
    assert warnings.counts == {"CVAT rotated box read as its axis-aligned bounding box": 2}
    anns[0]["attributes"]["rotation"] = "left"
    _coco(tmp_path / "ann.json", [{"id": 1, "file_name": "a.jpg"}], anns, [{"id": 1, "name": "car"}])
    with pytest.raises(DataError, match=r"ann\.json: annotation id 0: key 'attributes\.rotation' must be a number"):
        read_coco(path)


def test_category_names_with_spaces_through_the_cli(run_cli, tmp_path):
    src = roboflow_coco(tmp_path / "rf", {"train": [("a.jpg", [(1, [1, 2, 10, 20]), (2, [5, 5, 4, 4])])]})
    out = tmp_path / "yolo"
    proc = run_cli("data", "import", src, out, "--names", "car, fire truck", check=True)
    assert "1 x COCO empty placeholder category dropped" not in proc.stderr  # --names given: nothing to say
    import yaml

    assert yaml.safe_load((out / "data.yaml").read_text())["names"] == {0: "car", 1: "fire truck"}
    assert [ln.split()[0] for ln in (out / "labels" / "train" / "a.txt").read_text().splitlines()] == ["1", "0"]
    run_cli("data", "crops", out, tmp_path / "crops", "--size", "16", "--min-px", "2", check=True)
    assert sorted(p.name for p in (tmp_path / "crops").iterdir() if p.is_dir()) == ["car", "fire truck"]
    stats = run_cli("data", "stats", out, check=True).stdout
    assert "fire truck" in stats


def test_cvat_coco_export_folder_reads_its_default_file_as_train(tmp_path):
    # CVAT "COCO 1.0": annotations/instances_default.json + images/.
    _image(tmp_path / "images" / "a.jpg")
    _coco(tmp_path / "annotations" / "instances_default.json", [{"id": 1, "file_name": "a.jpg"}],
          [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "attributes": {"rotation": 0.0}}],
          [{"id": 1, "name": "car", "supercategory": ""}])
    warnings = Warnings()
    ds = read_coco(tmp_path, warnings=warnings)
    assert [(r.split, r.n_boxes) for r in ds.images] == [("train", 1)]
    assert warnings.counts == {"COCO file whose name gives no split read as train": 1}
