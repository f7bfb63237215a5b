"""Image reading and writing: exact pixels, determinism, bytes input. Bad images are in test_bad_input.py."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from blendaug.data.imageio import _decode_jpeg, encode_image, image_size, is_image_file, load_image_rgb, save_image


def _pixels(h=7, w=9):
    return np.random.default_rng(3).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_png_round_trip_is_exact_and_rgb_ordered(tmp_path):
    rgb = _pixels()
    rgb[0, 0] = [255, 0, 0]
    save_image(tmp_path / "sub" / "a.png", rgb)
    back = load_image_rgb(tmp_path / "sub" / "a.png")
    np.testing.assert_array_equal(back, rgb)
    # Pillow agrees on channel order (OpenCV writes BGR internally).
    assert Image.open(tmp_path / "sub" / "a.png").getpixel((0, 0)) == (255, 0, 0)
    assert image_size(tmp_path / "sub" / "a.png") == (9, 7)


def test_encode_is_deterministic_and_bytes_load():
    rgb = _pixels()
    for suffix in (".png", ".jpg"):
        assert encode_image(rgb, suffix) == encode_image(rgb.copy(), suffix)
    payload = encode_image(rgb, ".png")
    np.testing.assert_array_equal(load_image_rgb(payload), rgb)
    assert image_size(payload) == (9, 7)


def test_jpeg_is_close_at_quality_95(tmp_path):
    rgb = np.full((16, 16, 3), [200, 100, 50], np.uint8)
    save_image(tmp_path / "a.jpg", rgb)
    assert np.abs(load_image_rgb(tmp_path / "a.jpg").astype(int) - rgb).max() <= 3


def test_palette_png_loads_as_rgb(tmp_path):
    img = Image.fromarray(_pixels()).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    img.save(tmp_path / "p.png")
    expected = np.asarray(img.convert("RGB"))
    np.testing.assert_array_equal(load_image_rgb(tmp_path / "p.png"), expected)


def test_is_image_file():
    assert is_image_file(Path("a.JPG")) and is_image_file(Path("b.webp")) and is_image_file(Path("c.tiff"))
    assert not is_image_file(Path("a.txt")) and not is_image_file(Path("a.json"))


@pytest.mark.parametrize(("mode", "options", "fast"), [
    ("RGB", {"subsampling": 2}, True),  # 4:2:0, the common camera JPEG
    ("RGB", {"subsampling": 0}, True),  # 4:4:4
    ("RGB", {"progressive": True}, True),
    ("L", {}, True),
    ("CMYK", {}, False),  # OpenCV and Pillow convert CMYK differently: Pillow decides
])
def test_jpeg_pixels_equal_pillows_whichever_decoder_runs(tmp_path, mode, options, fast):
    # Smooth content with edges, so chroma upsampling and IDCT rounding would show any difference.
    yy, xx = np.mgrid[0:61, 0:83]
    rgb = np.stack([(xx * 3) % 256, (yy * 4) % 256, ((xx + yy) * 2) % 256], axis=2).astype(np.uint8)
    rgb[20:40, 30:50] = [250, 10, 120]
    path = tmp_path / "a.jpg"
    Image.fromarray(rgb).convert(mode).save(path, quality=90, **options)
    assert (_decode_jpeg(path.read_bytes()) is not None) == fast
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    loaded = load_image_rgb(path)
    np.testing.assert_array_equal(loaded, expected)
    np.testing.assert_array_equal(load_image_rgb(path.read_bytes()), expected)
    assert loaded.flags.writeable and loaded.flags.c_contiguous


def test_encode_swaps_channels_like_a_reversed_copy():
    rgb = _pixels(40, 50)
    view = rgb[::2, ::-1]  # not contiguous

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(view[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    assert ok and encode_image(view, ".png") == buf.tobytes()
