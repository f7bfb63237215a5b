"""Tiles: the window maths (exact), box clipping, and the YOLO folder of tiles that write_tiled writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from blendaug.data.errors import BlendaugError
from blendaug.data.imageio import load_image_rgb, save_image
from blendaug.data.model import Dataset, ImageRecord
from blendaug.data.tiles import TileConfig, clip_to_window, tile_starts, tile_windows, write_tiled
from blendaug.data.yolo import read_yolo


@pytest.mark.parametrize(("length", "size", "overlap", "starts"), [
    (1920, 512, 0.1, [0, 352, 704, 1056, 1408]),  # stride 460: 4 more windows cover 1408 px; spread evenly
    (1024, 512, 0.0, [0, 512]),  # exactly two, no overlap needed
    (513, 512, 0.0, [0, 1]),
    (512, 512, 0.5, [0]),
    (300, 512, 0.1, [0]),  # shorter than a tile: one window as long as the side
    (684, 640, 0.2, [0, 44]),
])
def test_tile_starts(length, size, overlap, starts):
    assert tile_starts(length, size, overlap) == starts


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1764, 430), (684, 547), (100, 100), (1001, 999)])
@pytest.mark.parametrize("overlap", [0.0, 0.1, 0.25])
def test_windows_cover_the_frame_inside_it_with_the_overlap_asked(width, height, overlap):
    cfg = TileConfig(size=256, overlap=overlap)
    covered = np.zeros((height, width), dtype=np.int64)
    for x1, y1, x2, y2 in tile_windows(width, height, cfg):
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert (x2 - x1, y2 - y1) == (min(256, width), min(256, height))
        covered[y1:y2, x1:x2] += 1
    assert covered.min() >= 1
    for length in (width, height):
        starts = tile_starts(length, 256, overlap)
        shared = [256 - (b - a) for a, b in zip(starts, starts[1:], strict=False)]
        assert all(s >= np.ceil(overlap * 256) for s in shared)


def test_clip_keeps_boxes_with_enough_area_inside_in_window_coordinates():
    boxes = np.array([[90, 10, 110, 30],  # half inside the window (0, 0, 100, 100)
                      [20, 20, 40, 50],  # wholly inside
                      [150, 150, 160, 160],  # outside
                      [95, 95, 105, 105]], dtype=np.float64)  # a quarter inside
    ids = np.array([0, 1, 2, 3])
    kept, kept_ids = clip_to_window(boxes, ids, (0, 0, 100, 100), min_visible=0.5)
    np.testing.assert_array_equal(kept, [[90, 10, 100, 30], [20, 20, 40, 50]])
    np.testing.assert_array_equal(kept_ids, [0, 1])
    kept, kept_ids = clip_to_window(boxes, ids, (0, 0, 100, 100), min_visible=0.6)
    np.testing.assert_array_equal(kept_ids, [1])
    # a window elsewhere: boxes move into its own pixel coordinates
    kept, kept_ids = clip_to_window(boxes, ids, (80, 0, 180, 100), min_visible=0.25)
    np.testing.assert_array_equal(kept, [[10, 10, 30, 30], [15, 95, 25, 100]])
    np.testing.assert_array_equal(kept_ids, [0, 3])


def test_config_rejects_an_overlap_of_a_whole_tile():
    with pytest.raises(ValidationError):
        TileConfig(overlap=1.0)


def _frames(tmp_path: Path) -> Dataset:
    rng = np.random.default_rng(0)
    images = []
    for i, (split, (h, w)) in enumerate([("train", (300, 500)), ("val", (200, 260)), ("test", (120, 90))]):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        path = tmp_path / "frames" / f"f{i}.png"
        path.parent.mkdir(exist_ok=True)
        save_image(path, pixels)
        boxes = np.array([[10, 10, 40, 30], [w - 60, h - 50, w - 20, h - 10], [w / 2 - 15, 5, w / 2 + 15, 25]])
        images.append(ImageRecord(path=path, width=w, height=h, boxes_xyxy_px=boxes, class_ids=[0, 1, 0],
                                  split=split))  # fmt: skip
    return Dataset(names=["car", "van"], images=images)


def test_write_tiled_cuts_pixels_and_boxes_and_keeps_each_frames_split(tmp_path):
    frames = _frames(tmp_path)
    cfg = TileConfig(size=128, overlap=0.25, min_visible=0.5)
    tiled = read_yolo(write_tiled(frames, tmp_path / "tiles", cfg))
    by_name = {im.path.name: im for im in tiled.images}
    n_expected = 0
    for i, frame in enumerate(frames.images):
        pixels = load_image_rgb(frame.path)
        windows = tile_windows(frame.width, frame.height, cfg)
        n_expected += len(windows)
        for window in windows:
            x1, y1, x2, y2 = window
            tile = by_name[f"f{i}_x{x1}_y{y1}.png"]
            assert tile.split == frame.split
            np.testing.assert_array_equal(load_image_rgb(tile.path), pixels[y1:y2, x1:x2])
            boxes, ids = clip_to_window(frame.boxes_xyxy_px, frame.class_ids, window, cfg.min_visible)
            np.testing.assert_allclose(tile.boxes_xyxy_px, boxes, atol=1e-3)  # YOLO text keeps 6 decimals
            np.testing.assert_array_equal(tile.class_ids, ids)
    assert len(tiled.images) == n_expected
    assert len(tiled.split("test")) == 1  # the 90 x 120 frame is smaller than a tile: itself
    assert tiled.names == ["car", "van"]


def test_write_tiled_is_deterministic_and_refuses_to_overwrite(tmp_path):
    frames = _frames(tmp_path)
    cfg = TileConfig(size=100)

    def digest(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file() and p.name != "data.yaml"}  # fmt: skip

    write_tiled(frames, tmp_path / "a", cfg)
    write_tiled(frames, tmp_path / "b", cfg)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    with pytest.raises(BlendaugError, match="already exists"):
        write_tiled(frames, tmp_path / "a", cfg)


def test_tile_cli_writes_tiles_and_rejects_a_bad_option_in_one_line(run_cli, tmp_path):
    run_cli("data", "toyworld", tmp_path / "toy", "--images", "5", "--size", "300", check=True)
    run_cli("data", "split", tmp_path / "toy", tmp_path / "split", "--val", "0.2", "--test", "0.2", check=True)
    out = run_cli("data", "tile", tmp_path / "split", tmp_path / "tiles", "--size", "160", check=True).stdout
    assert "tiled 5 images" in out
    tiled = read_yolo(tmp_path / "tiles" / "data.yaml")
    assert len(tiled.images) == 5 * 4  # 300 px at 160 with 10 % overlap: 2 x 2 windows
    assert {im.width for im in tiled.images} == {160}
    bad = run_cli("data", "tile", tmp_path / "split", tmp_path / "bad", "--overlap", "1.5")
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "--overlap" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_only_classes_drops_the_other_boxes_renumbers_and_keeps_every_image(tmp_path):
    frames = _frames(tmp_path)  # boxes: car, van, car in each frame
    vans = frames.only_classes(["van"])
    assert vans.names == ["van"] and len(vans.images) == len(frames.images)
    for before, after in zip(frames.images, vans.images, strict=True):
        np.testing.assert_array_equal(after.boxes_xyxy_px, before.boxes_xyxy_px[[1]])
        np.testing.assert_array_equal(after.class_ids, [0])
        assert (after.split, after.path) == (before.split, before.path)
    swapped = frames.only_classes(["van", "car"])
    np.testing.assert_array_equal(swapped.images[0].class_ids, [1, 0, 1])
    with pytest.raises(ValueError, match="unknown class.*truck.*the dataset has car, van"):
        frames.only_classes(["truck"])
