"""toyworld: a readable YOLO dataset of three vehicle classes, deterministic per seed, written atomically."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

import blendaug.data.toyworld as toyworld
from blendaug.data.errors import BlendaugError, ConfigError
from blendaug.data.imageio import load_image_rgb
from blendaug.data.split import group_images
from blendaug.data.toyworld import GROUP_REGEX, TOYWORLD_NAMES, ToyworldConfig, generate_toyworld, render_scene
from blendaug.data.toyworld_draw import Vehicle, box_xyxy, draw_vehicle
from blendaug.data.toyworld_surfaces import (
    SURFACE_DRIVABLE,
    SURFACE_OTHER,
    SURFACE_PARKING,
    centres_on_surface,
    read_surface,
    surface_path_for,
)
from blendaug.data.yolo import read_yolo


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "data.yaml"}


@pytest.fixture(scope="module")
def medium(tmp_path_factory) -> Path:
    """12 images at 320 px (3 scenes): big enough that every class shows up."""
    out = tmp_path_factory.mktemp("tw") / "tw"
    generate_toyworld(out, ToyworldConfig(n_images=12, seed=0, size=320))
    return out


def test_writes_a_readable_yolo_dataset_with_valid_labels(tmp_path):
    path = generate_toyworld(tmp_path / "tw", ToyworldConfig(n_images=6, seed=1, size=256))
    assert path == (tmp_path / "tw" / "data.yaml").absolute()
    cfg = yaml.safe_load(path.read_text())
    assert Path(cfg["path"]).is_absolute() and cfg["nc"] == 3
    ds = read_yolo(path)
    assert ds.names == ["car", "van", "truck"] == list(TOYWORLD_NAMES)
    assert len(ds.images) == 6 and ds.splits_present() == ["train"]
    assert all((tmp_path / "tw" / "labels" / "train" / f"{r.path.stem}.txt").is_file() for r in ds.images)
    assert sum(r.n_boxes for r in ds.images) > 0
    for rec in ds.images:
        assert (rec.width, rec.height) == (256, 256)
        assert load_image_rgb(rec.path).shape == (256, 256, 3)
        b = rec.boxes_xyxy_px
        assert (b >= -1e-6).all() and (b <= 256 + 1e-6).all()
        assert (b[:, 2] - b[:, 0] >= 2).all() and (b[:, 3] - b[:, 1] >= 2).all()
        assert set(rec.class_ids.tolist()) <= {0, 1, 2}


def test_every_class_appears_with_car_smaller_than_van_smaller_than_truck(medium):
    ds = read_yolo(medium)
    boxes = np.concatenate([r.boxes_xyxy_px for r in ds.images])
    ids = np.concatenate([r.class_ids for r in ds.images])
    assert np.bincount(ids, minlength=3).min() > 0
    # Boxes cut by the image border have the wrong shape; compare whole vehicles only.
    whole = (boxes[:, :2] > 0.5).all(axis=1) & (boxes[:, 2:] < 319.5).all(axis=1)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    long, short = np.maximum(w, h), np.minimum(w, h)
    mean_long = [long[whole & (ids == c)].mean() for c in range(3)]
    mean_area = [(w * h)[whole & (ids == c)].mean() for c in range(3)]
    mean_aspect = [(long / short)[whole & (ids == c)].mean() for c in range(3)]
    assert mean_long[0] < mean_long[1] < mean_long[2]
    assert mean_area[0] < mean_area[1] < mean_area[2]
    assert mean_aspect[0] < mean_aspect[1] < mean_aspect[2]
    assert 28 < mean_long[0] < 42 and 60 < mean_long[2] < 100  # pixel sizes do not depend on the image size


def test_names_group_frames_by_scene(medium):
    names = sorted(p.name for p in (medium / "images" / "train").iterdir())
    assert names[:5] == ["scene0000_00.jpg", "scene0000_01.jpg", "scene0000_02.jpg", "scene0000_03.jpg",
                         "scene0001_00.jpg"]
    assert all(re.fullmatch(r"scene\d{4}_\d{2}\.jpg", n) for n in names)
    groups = group_images(read_yolo(medium).images, GROUP_REGEX)
    assert sorted(groups) == ["scene0000", "scene0001", "scene0002"]
    assert all(len(g) == 4 for g in groups.values())


def test_same_seed_gives_identical_bytes_another_seed_differs(tmp_path):
    cfg = ToyworldConfig(n_images=5, seed=3, size=192)
    generate_toyworld(tmp_path / "a", cfg)
    generate_toyworld(tmp_path / "b", cfg)
    generate_toyworld(tmp_path / "c", ToyworldConfig(n_images=5, seed=4, size=192))
    generate_toyworld(tmp_path / "d", ToyworldConfig(n_images=2, seed=3, size=192))
    a, b, c, d = (_digests(tmp_path / x) for x in "abcd")
    assert len(a) == 15 and a == b  # 5 images, 5 label files, 5 surface masks
    images_a = {k: v for k, v in a.items() if k.endswith(".jpg")}
    assert all(c[k] != v for k, v in images_a.items())
    # A scene does not depend on how many images were asked for: the 2-image run is a prefix.
    assert d == {k: a[k] for k in d} and len(d) == 6


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "tw"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    cfg = ToyworldConfig(n_images=1, seed=0, size=128)
    with pytest.raises(BlendaugError, match="already exists"):
        generate_toyworld(out, cfg)
    assert (out / "old.txt").read_text() == "keep me"
    generate_toyworld(out, cfg, overwrite=True)
    assert not (out / "old.txt").exists() and (out / "images" / "train" / "scene0000_00.jpg").is_file()


def test_a_failure_midway_leaves_no_output(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = toyworld.draw_vehicle

    def flaky(img, v):
        calls["n"] += 1
        if calls["n"] > 20:
            raise RuntimeError("boom")
        real(img, v)

    monkeypatch.setattr(toyworld, "draw_vehicle", flaky)
    with pytest.raises(RuntimeError, match="boom"):
        generate_toyworld(tmp_path / "tw", ToyworldConfig(n_images=40, seed=0, size=256))
    assert calls["n"] > 20
    assert list(tmp_path.iterdir()) == []  # neither OUT nor a temporary sibling


def test_config_rejects_bad_values_naming_the_key():
    with pytest.raises(ConfigError, match=r"toyworld\.n_images"):
        ToyworldConfig(n_images=0)
    with pytest.raises(ConfigError, match=r"toyworld\.vehicles_per_frame"):
        ToyworldConfig(vehicles_per_frame=(5, 2))


def test_box_of_a_turned_vehicle_is_the_hand_computed_hull():
    def car(heading: float) -> Vehicle:
        return Vehicle(0, (50.0, 50.0), 34.0, 16.0, heading, (200.0, 0.0, 0.0), (200.0, 0.0, 0.0))

    np.testing.assert_allclose(box_xyxy(car(0)), [33, 42, 67, 58], atol=1e-9)
    np.testing.assert_allclose(box_xyxy(car(90)), [42, 33, 58, 67], atol=1e-9)
    np.testing.assert_allclose(box_xyxy(car(270)), [42, 33, 58, 67], atol=1e-9)
    half = (17 + 8 - 0.22 * 16) / math.sqrt(2)  # the cut corners (0.22 of the width) are the extreme points
    np.testing.assert_allclose(box_xyxy(car(45)), [50 - half, 50 - half, 50 + half, 50 + half], atol=1e-9)


@pytest.mark.parametrize("cls, heading", [(0, 0.0), (1, 90.0), (2, 180.0), (2, 273.0), (0, 33.0), (1, 358.0)])
def test_label_box_is_tight_around_the_drawn_vehicle(cls, heading):
    v = Vehicle(cls, (100.3, 99.6), [34.0, 46.0, 80.0][cls], [16.0, 20.0, 24.0][cls], heading,
                (200.0, 30.0, 30.0), (90.0, 90.0, 90.0))
    changed = np.zeros((200, 200), np.int16)
    for background in (0, 255):  # dark windows show on white, a light roof on black
        img = np.full((200, 200, 3), background, np.uint8)
        draw_vehicle(img, v)
        changed = np.maximum(changed, np.abs(img.astype(np.int16) - background).max(axis=2))
    ys, xs = np.nonzero(changed > 40)
    drawn = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
    np.testing.assert_allclose(drawn, box_xyxy(v), atol=1.0)


def test_boxes_follow_the_quarter_turns_of_the_canvas():
    img = np.zeros((5, 10), np.uint8)
    img[2:3, 1:4] = 1  # the box (1, 2, 4, 3) on a 10-wide image
    turned = np.rot90(img)
    ys, xs = np.nonzero(turned)
    expected = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    np.testing.assert_allclose(toyworld._rot90_boxes(np.array([[1.0, 2.0, 4.0, 3.0]]), 10)[0], expected)
    assert expected == [2, 6, 3, 9]


def test_frames_of_a_scene_are_shifted_views_of_one_canvas():
    frames = render_scene(ToyworldConfig(n_images=4, seed=5, size=160, frame_shift=0.1), 0)
    assert [f.name for f in frames] == [f"scene0000_{k:02d}" for k in range(4)]
    # Neighbouring frames see mostly the same ground: they match far better after the right shift.
    a, b = (f.image_rgb.astype(np.float32).mean(axis=2) for f in frames[:2])
    best = min(
        np.abs(a[max(dy, 0):160 + min(dy, 0), max(dx, 0):160 + min(dx, 0)]
               - b[max(-dy, 0):160 + min(-dy, 0), max(-dx, 0):160 + min(-dx, 0)]).mean()
        for dy in range(-17, 18) for dx in range(-17, 18)
    )
    assert best < 0.5 * np.abs(a - b).mean()


def test_each_image_has_a_surface_mask_and_every_vehicle_stands_on_a_surface(medium):
    ds = read_yolo(medium)
    masks = sorted((medium / "surfaces" / "train").iterdir())
    assert [m.stem for m in masks] == sorted(r.path.stem for r in ds.images)
    seen = set()
    for rec in ds.images:
        surface = read_surface(surface_path_for(rec.path))
        assert surface.shape == (rec.height, rec.width) and surface.dtype == np.uint8
        seen |= set(np.unique(surface).tolist())
        assert centres_on_surface(rec.boxes_xyxy_px, surface).all(), rec.path.name
    assert seen == {SURFACE_OTHER, SURFACE_DRIVABLE, SURFACE_PARKING}
    # The mask follows the picture: asphalt is darker and greyer than grass, wherever no vehicle stands.
    rec = ds.images[0]
    img = load_image_rgb(rec.path).astype(np.float32)
    surface = read_surface(surface_path_for(rec.path))
    greenness = img[:, :, 1] - (img[:, :, 0] + img[:, :, 2]) / 2
    if (surface == SURFACE_OTHER).any():
        assert np.median(greenness[surface != SURFACE_OTHER]) < np.median(greenness[surface == SURFACE_OTHER])


def test_centres_on_surface_reads_the_centre_pixel():
    surface = np.zeros((10, 20), np.uint8)
    surface[2:5, 10:15] = SURFACE_PARKING
    boxes = np.array([[10, 2, 14, 6], [0, 0, 4, 4], [18, 8, 30, 20], [-10, -10, -2, -2], [12, 4, 12.9, 4.9]], float)
    assert centres_on_surface(boxes, surface).tolist() == [True, False, False, False, True]


def test_surface_path_mirrors_the_image_path():
    assert surface_path_for(Path("/d/images/train/a.jpg")) == Path("/d/surfaces/train/a.png")
    assert surface_path_for("images/x/images/val/b.jpeg") == Path("images/x/surfaces/val/b.png")
    with pytest.raises(ValueError):
        surface_path_for("/d/pictures/a.jpg")


def test_surface_masks_are_invisible_to_the_yolo_readers(medium, tmp_path):
    """blendaug's reader and ultralytics' dataset loader see the same images and labels, no mask."""
    ds = read_yolo(medium)
    assert len(ds.images) == 12 and all("surfaces" not in r.path.parts for r in ds.images)
    bare = tmp_path / "bare"  # without data.yaml the reader scans images/ only
    import shutil

    shutil.copytree(medium, bare)
    (bare / "data.yaml").unlink()
    assert len(read_yolo(bare, names=list(TOYWORLD_NAMES)).images) == 12

    from blendaug.detection.yolo import ultralytics

    ultralytics()
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    # ultralytics wants a val split too, and caches labels beside them: point it at the copy.
    yaml_path = tmp_path / "data.yaml"
    yaml_path.write_text(yaml.safe_dump({"path": str(bare), "train": "images/train", "val": "images/train",
                                         "names": dict(enumerate(TOYWORLD_NAMES))}))
    data = check_det_dataset(str(yaml_path))
    loaded = YOLODataset(img_path=data["train"], data=data, task="detect", imgsz=320, augment=False)
    assert sorted(Path(f).name for f in loaded.im_files) == sorted(r.path.name for r in ds.images)
    assert all(Path(f).parent.name == "train" and Path(f).parent.parent.name == "images" for f in loaded.im_files)
    assert sum(len(lb["cls"]) for lb in loaded.labels) == sum(r.n_boxes for r in ds.images)
