"""The file layer: a YOLO dataset out, deterministic across workers, val/test untouched, bad input handled."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp

from blendaug.compositing.compose import CompositeConfig, compose_image
from blendaug.compositing.crops import CropPool, read_crop_index
from blendaug.compositing.placement import box_sizes_by_class
from blendaug.compositing.run import composite_counts, run_composite
from blendaug.data.errors import ConfigError, DataError, Warnings
from blendaug.data.imageio import load_image_rgb
from blendaug.data.yolo import read_yolo
from tests.compositing.builders import NAMES, make_backgrounds, make_crops
from tests.conftest import shared_dataset


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "data.yaml"}


def _label_lines(root: Path) -> list[tuple[Path, str]]:
    return [(f, line) for f in sorted((root / "labels").rglob("*.txt"))
            for line in f.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("mask", ["rect", "grabcut"])
def test_output_is_identical_for_one_and_two_workers(backgrounds, gan_crops, tmp_path, mask):
    cfg = CompositeConfig(blend="all+color+noise", rotate="any", truncate=0.2, mask=mask)
    for w in (1, 2):
        run_composite(backgrounds, gan_crops, tmp_path / f"w{w}", cfg, seed=7, copies=2, workers=w, progress=False)
    d1, d2 = _digest(tmp_path / "w1"), _digest(tmp_path / "w2")
    assert d1 == d2
    assert sum(".jpg" in k and "__cp" in k for k in d1) == 8  # 4 train images x 2 copies
    run_composite(backgrounds, gan_crops, tmp_path / "other", cfg, seed=8, copies=2, progress=False)
    assert _digest(tmp_path / "other") != d1


def test_each_copy_differs_from_its_background_only_at_its_own_pastes(backgrounds, gan_crops, tmp_path):
    # The worker composites earlier copies into a buffer and the last one into the background itself:
    # no copy may carry another copy's objects.
    import cv2

    out = tmp_path / "out"
    run_composite(backgrounds, gan_crops, out, CompositeConfig(blend="none", per_image=(1, 2)), seed=3, copies=3,
                  progress=False)
    metas = [json.loads(line) for line in (out / "meta.jsonl").read_text(encoding="utf-8").splitlines()]
    by_image: dict[tuple[str, str], list[list[int]]] = {}
    for m in metas:
        by_image.setdefault((m["image"], m["background"]), []).append(m["box_xyxy_px"])
    assert len(by_image) == 12  # 4 train images x 3 copies
    for (image, background), boxes in by_image.items():
        comp = load_image_rgb(out / image).astype(np.float32)
        original = load_image_rgb(out / "images" / background)  # the linked original
        diff = cv2.blur(np.abs(comp - original).mean(axis=2), (8, 8))  # block means: JPEG noise averages out
        outside = np.ones(diff.shape, bool)
        for x1, y1, x2, y2 in boxes:
            outside[max(0, y1 - 8):y2 + 8, max(0, x1 - 8):x2 + 8] = False
        assert diff[outside].max() < 12, image  # a pasted noise crop differs by ~35 grey levels on average


def test_every_label_line_is_valid_yolo_and_counts_add_up(backgrounds, gan_crops, tmp_path):
    cfg = CompositeConfig(per_image=(2, 5), blend="gaussian", max_overlap=0.7, min_visible=0.8, truncate=0.3,
                          rotate="any")
    summary = run_composite(backgrounds, gan_crops, tmp_path / "out", cfg, seed=1, copies=3, progress=False)
    out = tmp_path / "out"
    lines = _label_lines(out)
    assert lines
    for f, line in lines:
        fields = line.split()
        assert len(fields) == 5, f
        cls, coords = int(fields[0]), [float(v) for v in fields[1:]]
        assert 0 <= cls < len(NAMES)
        assert all(0.0 <= v <= 1.0 for v in coords) and coords[2] > 0 and coords[3] > 0
        cx, cy, w, h = coords
        assert cx - w / 2 >= -1e-7 and cx + w / 2 <= 1 + 1e-7 and cy - h / 2 >= -1e-7 and cy + h / 2 <= 1 + 1e-7
    bg = read_yolo(backgrounds)
    result = read_yolo(out)
    meta = [json.loads(x) for x in (out / "meta.jsonl").read_text().splitlines()]
    assert len(meta) == summary["pastes"] > 0
    bg_train_boxes = sum(im.n_boxes for im in bg.split("train"))
    composite_boxes = sum(im.n_boxes for im in result.split("train") if "__cp" in im.path.name)
    assert composite_boxes == 3 * bg_train_boxes + summary["pastes"] - summary["dropped_boxes"]
    assert summary["dropped_boxes"] > 0  # with max_overlap 0.7 and min_visible 0.8 some boxes are hidden
    assert sum(not m["kept"] for m in meta) <= summary["dropped_boxes"]
    for m in meta:
        assert set(m) >= {"image", "crop", "class", "tier", "box_xyxy_px", "blend", "mask", "angle"}
        x1, y1, x2, y2 = m["box_xyxy_px"]
        assert 0 <= x1 < x2 <= 160 and 0 <= y1 < y2 <= 160
        assert (out / m["image"]).is_file() and m["tier"] in ("high", "low")


def test_val_and_test_pass_through_as_links_and_originals_are_kept(backgrounds, gan_crops, tmp_path):
    run_composite(backgrounds, gan_crops, tmp_path / "out", CompositeConfig(), seed=0, copies=1, progress=False)
    src, out = read_yolo(backgrounds), read_yolo(tmp_path / "out")
    assert out.splits_present() == ["train", "val", "test"]
    for split in ("val", "test"):
        a, b = src.split(split), out.split(split)
        assert [im.rel_path for im in a] == [im.rel_path for im in b]
        for x, y in zip(a, b, strict=True):
            assert os.path.samefile(x.path, y.path)  # a hard link: no new pixels, and no paste
            assert np.array_equal(x.boxes_xyxy_px, y.boxes_xyxy_px)
    names = sorted(im.path.name for im in out.split("train"))
    assert names[:2] == ["train_00.jpg", "train_00__cp00.jpg"] and len(names) == 8
    meta = (tmp_path / "out" / "meta.jsonl").read_text()
    assert "images/test" not in meta and "images/val" not in meta
    run_composite(backgrounds, gan_crops, tmp_path / "no_orig", CompositeConfig(), copies=1, keep_originals=False,
                  progress=False)
    assert all("__cp" in im.path.name for im in read_yolo(tmp_path / "no_orig").split("train"))


def test_test_split_never_receives_pastes(backgrounds, gan_crops, tmp_path):
    with pytest.raises(ConfigError, match="test"):
        run_composite(backgrounds, gan_crops, tmp_path / "out", CompositeConfig(), split="test", progress=False)
    assert not (tmp_path / "out").exists()


def test_tiers_filter_and_real_crops_are_tier_real(backgrounds, gan_crops, tmp_path):
    names = list(NAMES)
    assert {r.tier for r in read_crop_index(gan_crops, names, ["high"])} == {"high"}
    real = make_crops(tmp_path, "real")
    assert {r.tier for r in read_crop_index(real, names)} == {"real"}
    with pytest.raises(ConfigError, match="tier"):
        read_crop_index(gan_crops, names, ["mid"])
    run_composite(backgrounds, real, tmp_path / "out", CompositeConfig(), tiers=["real"], progress=False)
    meta = [json.loads(x) for x in (tmp_path / "out" / "meta.jsonl").read_text().splitlines()]
    assert meta and {m["tier"] for m in meta} == {"real"}


def test_unknown_class_names_the_index_and_the_class(backgrounds, tmp_path):
    crops = make_crops(tmp_path, "gan", classes=("car", "tank"))
    with pytest.raises(DataError, match=r"index\.csv:\d+: unknown class 'tank'"):
        run_composite(backgrounds, crops, tmp_path / "out", CompositeConfig(), progress=False)
    assert not (tmp_path / "out").exists()


def test_unreadable_crop_is_an_error_naming_it_or_a_counted_skip(backgrounds, gan_crops, tmp_path):
    bad = gan_crops / "car" / "000001.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match="000001.png"):
        run_composite(backgrounds, gan_crops, tmp_path / "out", CompositeConfig(), progress=False)
    warnings = Warnings()
    summary = run_composite(backgrounds, gan_crops, tmp_path / "out", CompositeConfig(), skip_bad=True,
                            warnings=warnings, progress=False)
    assert warnings.counts["unreadable crop skipped"] == 1 and summary["crops_available"] == 5
    with (gan_crops / "index.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 6


def test_missing_index_and_missing_split(backgrounds, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="index.csv"):
        run_composite(backgrounds, tmp_path / "empty", tmp_path / "out", CompositeConfig(), progress=False)


def test_small_backgrounds_and_no_placement_are_counted_warnings(tmp_path):
    bg = make_backgrounds(tmp_path, n_train=2, size=160)
    crops = make_crops(tmp_path)
    warnings = Warnings()
    cfg = CompositeConfig(per_image=(30, 30), max_overlap=0.0)
    summary = run_composite(bg, crops, tmp_path / "out", cfg, copies=1, warnings=warnings, progress=False)
    assert warnings.counts["no valid placement (object skipped)"] > 0
    assert 0 < summary["pastes"] < 60


def test_backgrounds_smaller_than_every_real_box_are_skipped(tmp_path):
    from blendaug.data.imageio import save_image
    from blendaug.data.model import Dataset, ImageRecord
    from blendaug.data.yolo import write_yolo

    recs = []
    for i, size in enumerate((100, 20)):
        path = tmp_path / "src" / f"im{i}.png"
        save_image(path, np.full((size, size, 3), 90, np.uint8))
        boxes = np.array([[5, 5, 35, 35]], float) if size == 100 else np.zeros((0, 4))
        recs.append(ImageRecord(path=path, width=size, height=size, boxes_xyxy_px=boxes, class_ids=[0] * len(boxes)))
    bg = write_yolo(Dataset(names=list(NAMES), images=recs), tmp_path / "bg")
    warnings = Warnings()
    summary = run_composite(bg, make_crops(tmp_path), tmp_path / "out", CompositeConfig(), warnings=warnings,
                            progress=False)
    assert summary["background_images"] == 1
    assert "background smaller than the smallest real box (not composited)" in warnings.counts
    assert "class without real boxes (sizes drawn from all classes)" in warnings.counts  # no 'van' box at all


def test_pasted_widths_follow_the_real_box_widths(tmp_path):
    root = shared_dataset("drone_view_vehicles_cats")
    ds = read_yolo(root, names=["car"])
    sizes = box_sizes_by_class([im.boxes_xyxy_px for im in ds.images], [im.class_ids for im in ds.images], 1)
    crops = make_crops(tmp_path, classes=("car",), n_per_class=4, size=64)
    pool = CropPool(read_crop_index(crops, ["car"]), "rect")
    cfg = CompositeConfig(per_image=(4, 4), blend="none", placement="uniform")
    widths: list[int] = []
    k = 0
    while len(widths) < 500:
        im = ds.images[k % 8]
        comp = compose_image(load_image_rgb(im.path), im.boxes_xyxy_px, im.class_ids, pool, sizes, cfg,
                             np.random.default_rng([0, k]))
        widths += [p.box_xyxy_px[2] - p.box_xyxy_px[0] for p in comp.pastes]
        k += 1
    assert ks_2samp(widths[:500], sizes[0][:, 0]).pvalue > 0.01


def _rgba_crops(root: Path, with_alpha: bool = True) -> Path:
    from PIL import Image

    out = root / "rgba"
    (out / "car").mkdir(parents=True)
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., :3] = (220, 30, 30)
    rgba[10:30, 5:35, 3] = 255  # the object: a 30x20 opaque rectangle inside a transparent square
    img = Image.fromarray(rgba) if with_alpha else Image.fromarray(rgba[..., :3])
    img.save(out / "car" / "000000.png")
    (out / "index.csv").write_text("file,class,arch,snapshot,tier,seed,score\ncar/000000.png,car,dcgan,3,high,0,0.9\n")
    return out


def test_alpha_masks_come_from_the_crop_and_an_rgb_crop_is_an_error(backgrounds, tmp_path):
    pool = CropPool(read_crop_index(_rgba_crops(tmp_path), list(NAMES)), "alpha")
    assert pool.load(0).region == (5.0, 10.0, 35.0, 30.0)
    summary = run_composite(backgrounds, tmp_path / "rgba", tmp_path / "out", CompositeConfig(mask="alpha"),
                            progress=False)
    assert summary["pastes"] > 0
    with pytest.raises(DataError, match=r"000000\.png.*no alpha"):
        rgb = _rgba_crops(tmp_path / "rgb", with_alpha=False)
        run_composite(backgrounds, rgb, tmp_path / "out2", CompositeConfig(mask="alpha"), progress=False)


def test_crops_larger_than_the_background_are_scaled_to_real_sizes(backgrounds, tmp_path):
    crops = make_crops(tmp_path, size=400)  # crops 400 px, backgrounds 160 px, real boxes 16-32 px
    run_composite(backgrounds, crops, tmp_path / "out", CompositeConfig(size_jitter=0.0), progress=False)
    meta = [json.loads(x) for x in (tmp_path / "out" / "meta.jsonl").read_text().splitlines()]
    assert meta
    for m in meta:
        x1, y1, x2, y2 = m["box_xyxy_px"]
        assert max(x2 - x1, y2 - y1) <= 33


def test_unchanged_images_fall_back_to_symlinks(backgrounds, gan_crops, tmp_path, monkeypatch):
    import blendaug.compositing.run as run

    def no_hard_links(src, dst):
        raise OSError("cross-device link")

    monkeypatch.setattr(run.os, "link", no_hard_links)
    run_composite(backgrounds, gan_crops, tmp_path / "out", CompositeConfig(), progress=False)
    val = sorted((tmp_path / "out" / "images" / "val").iterdir())
    assert val and all(p.is_symlink() and p.resolve().is_file() for p in val)
    assert not any(p.is_symlink() for p in (tmp_path / "out" / "images" / "train").glob("*__cp*"))


def test_composite_counts_whole_and_fractional_ratios():
    assert composite_counts(8, 1.0, 0).tolist() == [1] * 8
    assert composite_counts(8, 3, 0).tolist() == [3] * 8
    quarter = composite_counts(8, 0.25, 0)
    assert sorted(quarter.tolist()) == [0] * 6 + [1] * 2
    assert np.array_equal(quarter, composite_counts(8, 0.25, 0))  # seeded
    assert any(not np.array_equal(quarter, composite_counts(8, 0.25, s)) for s in range(1, 6))
    mixed = composite_counts(10, 2.5, 3)
    assert sorted(mixed.tolist()) == [2] * 5 + [3] * 5 and mixed.sum() == 25
    assert composite_counts(3, 0.1, 0).sum() == 0  # round(0.3): nothing to draw


def _split_counts(root: Path) -> dict[str, int]:
    ds = read_yolo(root)
    return {s: len(ds.split(s)) for s in ds.splits_present()}


@pytest.mark.parametrize("ratio, expected", [(0.25, 1), (1, 4), (4, 16)])
def test_add_mode_writes_ratio_composites_per_real_image(backgrounds, gan_crops, tmp_path, ratio, expected):
    out = tmp_path / "out"
    summary = run_composite(backgrounds, gan_crops, out, CompositeConfig(), seed=2, ratio=ratio, progress=False)
    names = [im.path.name for im in read_yolo(out).split("train")]
    assert sum("__cp" in n for n in names) == expected == summary["synthetic_images"] == summary["composites"]
    assert summary["real_images"] == 4 and summary["split_images"] == 4 + expected == len(names)
    assert summary["ratio"] == ratio and summary["mode"] == "add" and summary["replaced"] == 0
    assert _split_counts(out)["val"] == 2 and _split_counts(out)["test"] == 1
    saved = json.loads((out / "composite.json").read_text())
    assert {k: saved[k] for k in ("real_images", "synthetic_images", "split_images")} == {
        "real_images": 4, "synthetic_images": expected, "split_images": 4 + expected}
    meta = [json.loads(x) for x in (out / "meta.jsonl").read_text().splitlines()]
    assert {m["image"].split("/")[1] for m in meta} == {"train"}  # val and test never receive a paste


@pytest.mark.parametrize("ratio", [0.5, 1.0])
def test_replace_mode_keeps_the_split_size(backgrounds, gan_crops, tmp_path, ratio):
    out = tmp_path / "out"
    summary = run_composite(backgrounds, gan_crops, out, CompositeConfig(), seed=4, ratio=ratio, mode="replace",
                            progress=False)
    train = read_yolo(out).split("train")
    stems = sorted(im.path.stem.split("__cp")[0] for im in train)
    assert len(train) == 4 == summary["split_images"] and stems == [f"train_{i:02d}" for i in range(4)]
    replaced = [im for im in train if "__cp" in im.path.name]
    assert len(replaced) == summary["replaced"] == summary["synthetic_images"] == int(4 * ratio)
    assert _split_counts(out) == {"train": 4, "val": 2, "test": 1}
    src = {im.path.stem: im for im in read_yolo(backgrounds).split("train")}
    meta = [json.loads(x) for x in (out / "meta.jsonl").read_text().splitlines()]
    for im in train:
        if "__cp" not in im.path.name:
            assert os.path.samefile(im.path, src[im.path.stem].path)  # the untouched real image, linked
        else:  # its composite: pastes recorded, the real boxes still labelled unless a paste hid them
            real = src[im.path.stem.split("__cp")[0]]
            pasted = [m for m in meta if m["image"].endswith(im.path.name)]
            assert pasted and im.n_boxes == real.n_boxes + sum(m["kept"] for m in pasted) - _hidden(real, im)


def _hidden(real, composite) -> int:
    """Real boxes missing from the composite's labels (hidden by a paste)."""
    kept = {tuple(np.round(b, 3)) for b in composite.boxes_xyxy_px.tolist()}
    return sum(tuple(np.round(b, 3)) not in kept for b in real.boxes_xyxy_px.tolist())


def test_replace_keeps_a_real_image_whose_composite_got_no_paste(tmp_path):
    bg = make_backgrounds(tmp_path, n_train=3, size=160)
    crops = make_crops(tmp_path)
    cfg = CompositeConfig(per_image=(0, 0))  # no composite receives a paste, so none is written
    summary = run_composite(bg, crops, tmp_path / "out", cfg, ratio=1, mode="replace", progress=False)
    assert summary["replaced"] == 0 and summary["split_images"] == 3
    assert sorted(im.path.name for im in read_yolo(tmp_path / "out").split("train")) == [
        "train_00.jpg", "train_01.jpg", "train_02.jpg"]


def test_ratio_k_is_copies_k_byte_for_byte(backgrounds, gan_crops, tmp_path):
    cfg = CompositeConfig(blend="all", rotate="any")
    run_composite(backgrounds, gan_crops, tmp_path / "copies", cfg, seed=3, copies=2, progress=False)
    run_composite(backgrounds, gan_crops, tmp_path / "ratio", cfg, seed=3, ratio=2, progress=False)
    assert _digest(tmp_path / "copies") == _digest(tmp_path / "ratio")  # images, labels, meta and summary


@pytest.mark.parametrize("ratio, mode", [(0.5, "replace"), (1.5, "add")])
def test_fractional_ratios_are_identical_for_one_and_two_workers(backgrounds, gan_crops, tmp_path, ratio, mode):
    cfg = CompositeConfig(blend="gaussian+color")
    for w in (1, 2):
        run_composite(backgrounds, gan_crops, tmp_path / f"w{w}", cfg, seed=6, ratio=ratio, mode=mode, workers=w,
                      progress=False)
    assert _digest(tmp_path / "w1") == _digest(tmp_path / "w2")


def test_bad_ratio_and_mode_are_config_errors(backgrounds, gan_crops, tmp_path):
    for kwargs, message in (({"ratio": 2, "mode": "replace"}, "<= 1"), ({"ratio": 0}, "> 0"),
                            ({"mode": "replce"}, "did you mean 'replace'"), ({"ratio": 1, "copies": 1}, "not both"),
                            ({"mode": "replace", "keep_originals": False}, "no-originals"),
                            ({"copies": 0}, "copies")):
        with pytest.raises(ConfigError, match=message):
            run_composite(backgrounds, gan_crops, tmp_path / "out", CompositeConfig(), progress=False, **kwargs)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="did you mean 'context'"):
        run_composite(backgrounds, gan_crops, tmp_path / "out", CompositeConfig(placement="contxt"), progress=False)
