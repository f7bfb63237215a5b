"""Object crops: the exact cropping maths, and the folder + index.csv that extract_crops writes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from blendaug.data.crops import INDEX_COLUMNS, PAD_VALUE, crop_box, extract_crops
from blendaug.data.errors import BlendaugError, ConfigError, DataError, Warnings
from blendaug.data.imageio import encode_image, load_image_rgb, save_image
from blendaug.data.model import Dataset, ImageRecord

RED = (255, 0, 0)
GREEN = (0, 255, 0)


def _scene(box: tuple[int, int, int, int], colour=RED, hw=(100, 100)) -> np.ndarray:
    """A black image with a solid ``colour`` rectangle on pixel rows y1..y2-1, columns x1..x2-1."""
    img = np.zeros((*hw, 3), dtype=np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = colour
    return img


# ---------------------------------------------------------------- crop_box maths (exact)


def test_letterbox_without_pad_is_the_box_itself():
    out = crop_box(_scene((40, 30, 60, 50)), (40, 30, 60, 50), size=20, pad=0.0)
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8
    assert (out == RED).all()


def test_letterbox_pad_adds_context_on_each_side():
    # box 20x20, pad 0.5 -> 40x40 region [20, 10, 80, 60) scaled by 1/2 to 20x20: the box is the centre 10x10
    out = crop_box(_scene((40, 30, 60, 50)), (40, 30, 60, 50), size=20, pad=0.5)
    assert (out[5:15, 5:15] == RED).all()
    assert (out[:5] == 0).all() and (out[15:] == 0).all() and (out[:, :5] == 0).all() and (out[:, 15:] == 0).all()


def test_letterbox_bars_for_an_elongated_box():
    # 80x20 box -> 40x10 image centred vertically: 15 rows of grey 114 above and below
    out = crop_box(_scene((10, 40, 90, 60)), (10, 40, 90, 60), size=40, pad=0.0)
    assert (out[:15] == PAD_VALUE).all() and (out[25:] == PAD_VALUE).all()
    assert (out[15:25] == RED).all()


def test_letterbox_clips_the_padded_box_to_the_image():
    # box at the corner: padded region [-5, -5, 15, 15) clipped to [0, 0, 15, 15) -> square, no bars
    out = crop_box(_scene((0, 0, 10, 10)), (0, 0, 10, 10), size=15, pad=0.5)
    assert (out[:10, :10] == RED).all()
    assert (out[10:] == 0).all() and (out[:, 10:] == 0).all()


def test_square_fit_keeps_real_context_around_an_elongated_box():
    # side = max(80, 20) = 80 centred on (50, 50): region [10, 10, 90, 90), halved by INTER_AREA
    out = crop_box(_scene((10, 40, 90, 60)), (10, 40, 90, 60), size=40, pad=0.0, fit="square")
    assert (out[15:25] == RED).all()
    assert (out[:15] == 0).all() and (out[25:] == 0).all()


def test_square_fit_fills_outside_the_image_with_grey():
    # box [0, 0, 10, 10), pad 0.5 -> side 20 from (-5, -5): 5 grey rows/columns, then the box
    out = crop_box(_scene((0, 0, 10, 10)), (0, 0, 10, 10), size=20, pad=0.5, fit="square")
    assert (out[:5] == PAD_VALUE).all() and (out[:, :5] == PAD_VALUE).all()
    assert (out[5:15, 5:15] == RED).all()
    assert (out[15:, 5:] == 0).all() and (out[5:, 15:] == 0).all()


def test_upscaling_a_small_box_keeps_its_colour():
    out = crop_box(_scene((50, 50, 58, 58), GREEN), (50, 50, 58, 58), size=64, pad=0.0)
    assert (out[8:56, 8:56] == GREEN).all()


def test_unknown_fit_is_a_config_error():
    with pytest.raises(ConfigError, match="--fit"):
        crop_box(_scene((0, 0, 10, 10)), (0, 0, 10, 10), fit="stretch")


# ---------------------------------------------------------------- extract_crops (files)


def _dataset(tmp_path: Path) -> Dataset:
    """3 images: train with a big car, a big van and a 5-px car; val with one van; test with one car."""
    images = []
    specs = [
        ("a.png", "train", [(10, 10, 40, 30), (50, 50, 90, 70), (0, 90, 5, 95)], [0, 1, 0]),
        ("b.png", "val", [(20, 20, 60, 50)], [1]),
        ("c.png", "test", [(5, 5, 45, 35)], [0]),
    ]
    for name, split, boxes, ids in specs:
        img = np.zeros((100, 120, 3), dtype=np.uint8)
        for (x1, y1, x2, y2), c in zip(boxes, ids, strict=True):
            img[y1:y2, x1:x2] = RED if c == 0 else GREEN
        save_image(tmp_path / "src" / name, img)
        images.append(ImageRecord(path=tmp_path / "src" / name, width=120, height=100, boxes_xyxy_px=boxes,
                                  class_ids=ids, split=split))
    return Dataset(names=["car", "van"], images=images, root=tmp_path / "src")


def _index(out: Path) -> list[dict[str, str]]:
    with open(out / "index.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_extract_crops_writes_class_folders_and_index(tmp_path):
    warnings = Warnings()
    out = extract_crops(_dataset(tmp_path), tmp_path / "crops", size=32, pad=0.0, min_px=8, warnings=warnings)
    rows = _index(out)
    assert (out / "index.csv").read_text().splitlines()[0] == ",".join(INDEX_COLUMNS)
    assert [(r["file"], r["class"], r["class_id"], r["split"]) for r in rows] == [
        ("car/000000.png", "car", "0", "train"),
        ("van/000001.png", "van", "1", "train"),
    ]
    assert [float(rows[1][k]) for k in ("x1", "y1", "x2", "y2")] == [50, 50, 90, 70]
    assert rows[0]["source_image"] == (tmp_path / "src" / "a.png").as_posix()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["car/000000.png", "van/000001.png"]
    car = load_image_rgb(out / "car" / "000000.png")
    assert car.shape == (32, 32, 3) and (car[16] == RED).all()
    assert warnings.counts == {"box smaller than --min-px skipped": 1}


def test_extract_crops_counts_boxes_of_several_splits_and_is_deterministic(tmp_path):
    ds = _dataset(tmp_path)
    a = extract_crops(ds, tmp_path / "a", split="train,val", size=16, min_px=0)
    b = extract_crops(ds, tmp_path / "b", split="train,val", size=16, min_px=0)
    assert len(_index(a)) == 4 and [r["split"] for r in _index(a)] == ["train"] * 3 + ["val"]
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_extract_crops_refuses_test_unless_allowed(tmp_path):
    ds = _dataset(tmp_path)
    with pytest.raises(ConfigError, match="refuses the test split unless --allow-test"):
        extract_crops(ds, tmp_path / "crops", split="train,test")
    assert not (tmp_path / "crops").exists()
    out = extract_crops(ds, tmp_path / "crops", split="test", allow_test=True)
    assert [r["split"] for r in _index(out)] == ["test"]


def test_no_crop_at_all_is_a_data_error_and_leaves_no_folder(tmp_path):
    with pytest.raises(DataError, match="no crops"):
        extract_crops(_dataset(tmp_path), tmp_path / "crops", split="val", min_px=100)
    assert not (tmp_path / "crops").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_missing_split_and_bad_options_are_errors(tmp_path):
    ds = _dataset(tmp_path)
    train_only = ds.with_images(ds.split("train"))
    with pytest.raises(DataError, match="no 'val' split"):
        extract_crops(train_only, tmp_path / "o1", split="val")
    with pytest.raises(ConfigError, match="--split"):
        extract_crops(ds, tmp_path / "o2", split="training")
    with pytest.raises(ConfigError, match="--size"):
        extract_crops(ds, tmp_path / "o3", size=0)
    with pytest.raises(ConfigError, match="--pad"):
        extract_crops(ds, tmp_path / "o4", pad=-0.1)


def test_existing_output_needs_overwrite(tmp_path):
    ds = _dataset(tmp_path)
    out = extract_crops(ds, tmp_path / "crops")
    with pytest.raises(BlendaugError, match="already exists"):
        extract_crops(ds, out)
    extract_crops(ds, out, size=8, overwrite=True)
    assert load_image_rgb(out / "car" / "000000.png").shape == (8, 8, 3)


def test_embedded_image_bytes_are_used_when_the_file_is_missing(tmp_path):
    img = _scene((10, 10, 30, 30), GREEN)
    rec = ImageRecord(path=tmp_path / "gone.png", width=100, height=100, boxes_xyxy_px=[(10, 10, 30, 30)],
                      class_ids=[0], data=encode_image(img, ".png"))
    out = extract_crops(Dataset(names=["car"], images=[rec]), tmp_path / "crops", size=20, pad=0.0)
    assert (load_image_rgb(out / "car" / "000000.png") == GREEN).all()


def test_image_size_that_disagrees_with_the_labels_is_a_data_error(tmp_path):
    save_image(tmp_path / "x.png", _scene((0, 0, 20, 20)))
    rec = ImageRecord(path=tmp_path / "x.png", width=200, height=100, boxes_xyxy_px=[(0, 0, 20, 20)], class_ids=[0])
    with pytest.raises(DataError, match="x.png"):
        extract_crops(Dataset(names=["car"], images=[rec]), tmp_path / "crops")
