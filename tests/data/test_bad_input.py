"""Bad input, one test each: a one-line DataError naming the file (and line or key), or a counted skip."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from blendaug.data.coco import read_coco
from blendaug.data.errors import ConfigError, DataError, Warnings
from blendaug.data.imageio import encode_image, image_size, load_image_rgb, save_image
from blendaug.data.io import read_dataset
from blendaug.data.labelme import read_labelme
from blendaug.data.yolo import read_yolo

# ---- images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", [load_image_rgb, image_size], ids=["load", "size"])
def test_corrupt_image(tmp_path, reader):
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=r"noise\.jpg: not a readable image"):
        reader(path)


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "cut.jpg"
    full = encode_image(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), ".jpg")
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match=r"cut\.jpg: not a readable image"):
        load_image_rgb(path)


@pytest.mark.parametrize("reader", [load_image_rgb, image_size], ids=["load", "size"])
def test_zero_byte_image(tmp_path, reader):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.png: zero-byte image file"):
        reader(path)


@pytest.mark.parametrize("reader", [load_image_rgb, image_size], ids=["load", "size"])
def test_text_file_named_jpg(tmp_path, reader):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\n")
    with pytest.raises(DataError, match=r"notes\.jpg: not a readable image"):
        reader(path)


def test_missing_image_file(tmp_path):
    with pytest.raises(DataError, match=r"gone\.png: image file not found"):
        load_image_rgb(tmp_path / "gone.png")


def test_grayscale_png_loads_as_rgb(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    rgb = load_image_rgb(tmp_path / "g.png")
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], gray)


def test_rgba_png_drops_alpha(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 20, 30, 0  # fully transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    rgb = load_image_rgb(tmp_path / "a.png")
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, 0], [10, 20, 30])


def test_16bit_grayscale_png_scales_to_8bit(tmp_path):
    values = np.array([[65535, 257 * 100], [0, 257]], np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), values)
    expected = np.array([[255, 100], [0, 1]], np.uint8)
    rgb = load_image_rgb(tmp_path / "g16.png")
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[:, :, 1], expected)
    # The same file as bytes (labelme imageData) goes through Pillow and gives the same pixels.
    np.testing.assert_array_equal(load_image_rgb((tmp_path / "g16.png").read_bytes())[:, :, 0], expected)


def test_16bit_color_png_scales_to_8bit_rgb(tmp_path):
    bgr = np.zeros((1, 2, 3), np.uint16)
    bgr[0, 0] = [257 * 100, 0, 65535]  # B, G, R
    bgr[0, 1] = [0, 257 * 7, 0]
    cv2.imwrite(str(tmp_path / "c16.png"), bgr)
    rgb = load_image_rgb(tmp_path / "c16.png")
    np.testing.assert_array_equal(rgb, [[[255, 0, 100], [0, 7, 0]]])


def test_exif_rotated_jpeg_reports_the_rotated_size(tmp_path):
    path = tmp_path / "rot.jpg"
    pixels = np.zeros((40, 100, 3), np.uint8)  # stored 100 wide, 40 high
    pixels[:, :10] = 255  # a white band on the stored image's left edge
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(path, exif=exif, quality=95)
    assert image_size(path) == (40, 100)
    rgb = load_image_rgb(path)
    assert rgb.shape == (100, 40, 3)
    # Rotated 90 degrees clockwise, the left band ends up along the top.
    assert rgb[:8].mean() > 240 and rgb[20:].mean() < 15


def test_exif_rotated_16bit_png_agrees_with_its_size(tmp_path):
    # 16-bit PNGs are decoded by OpenCV, which ignores EXIF: the loader must still rotate them.
    values = np.zeros((4, 10), np.uint16)
    values[:, :2] = 65535  # a white band on the stored image's left edge
    img = Image.fromarray(values)
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(tmp_path / "rot16.png", exif=exif)
    assert image_size(tmp_path / "rot16.png") == (4, 10)
    rgb = load_image_rgb(tmp_path / "rot16.png")
    assert rgb.shape == (10, 4, 3)
    np.testing.assert_array_equal(rgb[:2], 255)
    np.testing.assert_array_equal(rgb[2:], 0)


# ---- YOLO labels ----------------------------------------------------------------------------------


def _yolo(tmp_path, label_text, names=("car", "van")):
    save_image(tmp_path / "ds" / "images" / "train" / "a.png", np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "ds" / "labels" / "train").mkdir(parents=True)
    (tmp_path / "ds" / "labels" / "train" / "a.txt").write_text(label_text)
    (tmp_path / "ds" / "data.yaml").write_text(f"train: images/train\nnames: {list(names)}\n")
    return tmp_path / "ds"


GOOD = "0 0.5 0.5 0.2 0.2\n"


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("1 0.5 0.5 0.2", "expected 5 fields"),
        ("1 0.5 abc 0.2 0.2", "not a number: 'abc'"),
        ("1 0.5 0.5 1.7 0.2", r"coordinate out of range \[0, 1\]"),
        ("1 -0.1 0.5 0.2 0.2", r"coordinate out of range \[0, 1\]"),
        ("5 0.5 0.5 0.2 0.2", "unknown class id 5"),
        ("-1 0.5 0.5 0.2 0.2", "unknown class id -1"),
    ],
    ids=["field-count", "non-number", "out-of-range", "negative", "unknown-class", "negative-class"],
)
def test_bad_yolo_line_names_file_and_line_or_is_skipped(tmp_path, bad_line, message):
    src = _yolo(tmp_path, GOOD + bad_line + "\n" + GOOD)
    with pytest.raises(DataError, match=rf"a\.txt:2: {message}") as err:
        read_yolo(src)
    assert "\n" not in str(err.value)
    warnings = Warnings()
    ds = read_yolo(src, skip_bad=True, warnings=warnings)
    assert ds.images[0].n_boxes == 2
    assert warnings.counts == {"bad YOLO label line skipped": 1}
    assert "a.txt:2" in warnings.examples["bad YOLO label line skipped"]


def test_unreadable_image_in_yolo_dataset(tmp_path):
    src = _yolo(tmp_path, GOOD)
    (src / "images" / "train" / "b.jpg").write_text("not an image")
    with pytest.raises(DataError, match=r"b\.jpg: not a readable image"):
        read_yolo(src)
    warnings = Warnings()
    assert len(read_yolo(src, skip_bad=True, warnings=warnings).images) == 1
    assert warnings.counts == {"unreadable image skipped": 1}


def test_empty_split_is_an_error_naming_it(tmp_path):
    src = _yolo(tmp_path, GOOD)
    (src / "images" / "val").mkdir()
    (src / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [car, van]\n")
    with pytest.raises(DataError, match=r"data\.yaml: split 'val' holds no images"):
        read_yolo(src)


def test_data_yaml_without_names(tmp_path):
    src = _yolo(tmp_path, GOOD)
    (src / "data.yaml").write_text("train: images/train\n")
    with pytest.raises(DataError, match=r"data\.yaml: missing key 'names'"):
        read_yolo(src)


# ---- labelme --------------------------------------------------------------------------------------


def _labelme(path, image_path, shape_type="rectangle", image_data=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = {"label": "car", "points": [[1, 1], [8, 8]], "shape_type": shape_type}
    path.write_text(json.dumps({"shapes": [shape], "imagePath": image_path, "imageData": image_data}))


def test_labelme_image_missing(tmp_path):
    _labelme(tmp_path / "a.json", "a.png")
    with pytest.raises(DataError, match=r"a\.json: image .*a\.png not found and no imageData embedded"):
        read_labelme(tmp_path)


def test_labelme_image_path_escapes_the_folder(tmp_path):
    save_image(tmp_path / "x.jpg", np.zeros((10, 10, 3), np.uint8))
    _labelme(tmp_path / "ds" / "a.json", "../x.jpg")
    with pytest.raises(DataError, match=r"a\.json: key 'imagePath' '\.\./x\.jpg' leaves the dataset folder"):
        read_labelme(tmp_path / "ds")


def test_labelme_unknown_shape_type_is_counted(tmp_path):
    save_image(tmp_path / "a.png", np.zeros((10, 10, 3), np.uint8))
    _labelme(tmp_path / "a.json", "a.png", shape_type="hexagon")
    warnings = Warnings()
    ds = read_labelme(tmp_path, names=["car"], warnings=warnings)
    assert ds.images[0].n_boxes == 0
    assert warnings.counts == {"labelme shape type without a box skipped": 1}


def test_labelme_corrupt_embedded_image(tmp_path):
    _labelme(tmp_path / "a.json", "a.png", image_data="aGVsbG8=")  # base64 of "hello"
    with pytest.raises(DataError, match=r"a\.json: not a readable image"):
        read_labelme(tmp_path)


# ---- COCO -----------------------------------------------------------------------------------------


def test_coco_annotation_pointing_at_a_missing_image(tmp_path):
    save_image(tmp_path / "a.jpg", np.zeros((10, 10, 3), np.uint8))
    images = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "missing.jpg"}]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4]},
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, 1, 4, 4]}]
    (tmp_path / "ann.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                   "categories": [{"id": 1, "name": "car"}]}))
    with pytest.raises(DataError, match=r"ann\.json: image id 2: file 'missing\.jpg' not found"):
        read_coco(tmp_path / "ann.json")
    warnings = Warnings()
    ds = read_coco(tmp_path / "ann.json", skip_bad=True, warnings=warnings)
    assert [r.rel_path.name for r in ds.images] == ["a.jpg"] and ds.images[0].n_boxes == 1
    assert warnings.counts == {"COCO image file missing, skipped": 1}


def test_coco_json_without_categories(tmp_path):
    (tmp_path / "ann.json").write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(DataError, match=r"ann\.json: key 'categories' missing"):
        read_coco(tmp_path / "ann.json")


# ---- format detection ------------------------------------------------------------------------------


def test_unknown_format_names_src_and_formats(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match=r"stuff: cannot tell its format \(looked for yolo, labelme, coco, voc, "
                                        r"labelstudio\)"):
        read_dataset(tmp_path / "stuff")
    with pytest.raises(ConfigError, match="unknown format 'pascal'"):
        read_dataset(tmp_path / "stuff", fmt="pascal")
    with pytest.raises(ConfigError, match="--keep-difficult: only for --format voc, not yolo"):
        read_dataset(tmp_path / "stuff", fmt="yolo", keep_difficult=True)


# ---- encodings, shared label files, decompression bombs -------------------------------------------


def test_a_utf8_bom_at_the_start_of_a_label_file_is_accepted(tmp_path):
    src = _yolo(tmp_path, "\ufeff" + GOOD + GOOD)
    (src / "classes.txt").write_bytes("\ufeffcar\nvan\n".encode())
    ds = read_yolo(src)
    assert ds.images[0].n_boxes == 2 and ds.images[0].class_ids.tolist() == [0, 0]


def test_undecodable_bytes_name_the_file_and_line(tmp_path):
    src = _yolo(tmp_path, "")
    (src / "labels" / "train" / "a.txt").write_bytes(GOOD.encode() + b"0 0.5 0.5 0.2 0.2 \xff\xfe\n")
    with pytest.raises(DataError, match=r"a\.txt:2: not UTF-8 text \(byte 0xff at column 19\)"):
        read_yolo(src)
    warnings = Warnings()
    assert read_yolo(src, skip_bad=True, warnings=warnings).images[0].n_boxes == 1
    assert warnings.counts == {"bad YOLO label line skipped": 1}


def test_two_images_that_map_to_one_label_file_are_an_error(tmp_path):
    src = _yolo(tmp_path, GOOD)
    save_image(src / "images" / "train" / "a.jpg", np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(DataError, match=r"a\.jpg and .*a\.png both map to the label file .*labels/train/a\.txt"):
        read_yolo(src)
    warnings = Warnings()
    with pytest.raises(DataError, match="split 'train' holds no images"):
        read_yolo(src, skip_bad=True, warnings=warnings)
    assert warnings.counts == {"images sharing one label file skipped": 2}


def _png_header(width, height):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# Pillow warns between the limit and twice the limit; the reader must refuse there too, whatever the filters.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [31_000, 60_000], ids=["over-limit", "over-twice-the-limit"])
@pytest.mark.parametrize("reader", [load_image_rgb, image_size], ids=["load", "size"])
def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, reader, side):
    # A 31000 x 31000 RGB image would take 2.9 GB once decoded; the file is a few hundred bytes.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(side, side))
    with pytest.raises(DataError, match=r"bomb\.png: refused as a possible decompression bomb"):
        reader(path)
