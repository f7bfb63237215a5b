"""Image reading and writing: exact pixels, determinism, bytes input. Bad images are in test_bad_input.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from data.imageio import encode_image, image_size, is_image_file, load_image_rgb, save_image


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
