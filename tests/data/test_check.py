"""``blendaug data check``: one folder with one example of every kind of problem, every kind reported and counted."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from blendaug.data import leaks
from blendaug.data.check import check_dataset
from blendaug.data.imageio import encode_image, save_image

GOOD = "0 0.5 0.5 0.2 0.2\n"


def _noise(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _scene(h: int = 96, w: int = 128) -> np.ndarray:
    """A smooth picture (gradients and a few shapes) whose perceptual hash survives resizing and re-encoding."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], axis=2).astype(np.uint8)
    cv2.rectangle(img, (20, 15), (60, 50), (250, 30, 30), -1)
    cv2.circle(img, (95, 60), 20, (20, 20, 240), -1)
    return img


def bomb_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A PNG whose header declares ``width x height`` RGB pixels (10 GB), a few dozen bytes on disk."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# kind -> how many problems of it build_broken_dataset plants
PLANTED = {
    "unreadable image": 4,  # zero-byte, truncated, not an image, decompression bomb
    "bad label line": 3,  # field count, unknown class, undecodable bytes
    "degenerate box (zero or negative width or height)": 1,
    "box outside the image (coordinates beyond [0, 1])": 1,
    "images sharing one label file": 1,  # a.jpg + a.png -> a.txt
    "label file without an image": 1,
    "box crosses the image border (clipped when read)": 1,
    "box under 1 pixel wide or high": 1,
    "leak: same file in two splits": 1,
    "leak: identical image bytes in two splits": 1,
    "leak: near-duplicate images across splits (perceptual hash)": 1,
    "data.yaml 'path' points away from the yaml's folder": 1,
}


def build_broken_dataset(root: Path) -> Path:
    """A YOLO dataset with one example of every kind of problem (counts in PLANTED); returns its data.yaml.

    The yaml sits in ``root`` and its absolute ``path:`` names ``root/real``, where the images are (a copied
    dataset that still reads the original).
    """
    real = root / "real"
    img, lbl = real / "images", real / "labels"
    for split in ("train", "val", "test"):
        (lbl / split).mkdir(parents=True, exist_ok=True)
    save_image(img / "train" / "good.png", _noise(1))
    (lbl / "train" / "good.txt").write_text(GOOD)
    (img / "train" / "zero.jpg").write_bytes(b"")
    jpeg = encode_image(_noise(2), ".jpg")
    (img / "train" / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (img / "train" / "notes.jpg").write_text("not an image\n")
    (img / "train" / "bomb.png").write_bytes(bomb_png())
    save_image(img / "train" / "a.jpg", _noise(3))
    save_image(img / "train" / "a.png", _noise(4))
    (lbl / "train" / "a.txt").write_text(GOOD)
    save_image(img / "train" / "lines.png", _noise(5))
    lines = [GOOD.strip(), "0 0.5 0.5 0.2", "7 0.5 0.5 0.2 0.2", "0 0.5 0.5 0.0 0.2", "0 0.5 1.5 0.2 0.2"]
    (lbl / "train" / "lines.txt").write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n0 0.5 \xff\n")
    save_image(img / "train" / "edge.png", _noise(6))
    (lbl / "train" / "edge.txt").write_text("0 0.95 0.5 0.2 0.2\n")  # right edge at 1.05 of the width
    save_image(img / "train" / "tiny.png", _noise(7))
    (lbl / "train" / "tiny.txt").write_text("0 0.5 0.5 0.005 0.2\n")  # 0.32 px wide
    (lbl / "train" / "orphan.txt").write_text(GOOD)
    scene = _scene()
    save_image(img / "train" / "scene.png", scene)
    # val: an exact copy of a train file, a resized re-encoded copy of the scene, a file test lists too.
    (img / "val").mkdir(parents=True)
    (img / "val" / "copy.png").write_bytes((img / "train" / "good.png").read_bytes())
    save_image(img / "val" / "scene_small.jpg", cv2.resize(scene, (112, 84), interpolation=cv2.INTER_AREA))
    save_image(img / "val" / "shared.png", _noise(8))
    save_image(img / "test" / "t.png", _noise(9))
    (real / "test.txt").write_text("./images/test/t.png\n./images/val/shared.png\n")
    (root / "data.yaml").write_text(f"path: {real}\ntrain: images/train\nval: images/val\ntest: test.txt\n"
                                    "names: [car, van]\n")
    return root / "data.yaml"


def test_every_kind_of_problem_is_reported_with_its_count(tmp_path):
    report = check_dataset(build_broken_dataset(tmp_path), max_examples=5)
    assert report.counts == PLANTED
    assert report.fatal_kinds == {k for k in PLANTED if not k.startswith(("label file", "box crosses", "box under",
                                                                           "leak: near", "data.yaml"))}
    assert report.fatal == 12
    shown = "\n".join(m for ms in report.examples.values() for m in ms)
    for expected in ("images/train/zero.jpg: zero-byte image file", "images/train/cut.jpg: not a readable image",
                     "images/train/notes.jpg: not a readable image", "bomb.png: refused as a possible decompression",
                     "labels/train/lines.txt:2: expected 5 fields", "labels/train/lines.txt:3: unknown class id 7",
                     "labels/train/lines.txt:6: not UTF-8 text (byte 0xff at column 7)",
                     "labels/train/lines.txt:4: box width and height", "labels/train/lines.txt:5: coordinate out",
                     "images/train/a.jpg, images/train/a.png -> labels/train/a.txt", "labels/train/orphan.txt",
                     "images/val/shared.png is in test and val",
                     "train:images/train/good.png = val:images/val/copy.png",
                     "train:images/train/scene.png ~ val:images/val/scene_small.jpg"):
        assert expected in shown, expected
    # The BOM before line 1 is accepted: line 1 is good, so it is not among the bad lines.
    assert "lines.txt:1" not in shown
    text = report.format()
    assert "FATAL 4 x unreadable image" in text and "WARN  1 x label file without an image" in text
    assert "12 fatal problem(s) of 7 kind(s), 5 warning(s)" in text


def test_a_clean_dataset_has_no_problems(tmp_path):
    for i, split in enumerate(("train", "val")):
        save_image(tmp_path / "images" / split / f"{split}.png", _noise(i))
        (tmp_path / "labels" / split).mkdir(parents=True)
        (tmp_path / "labels" / split / f"{split}.txt").write_text(GOOD)
    (tmp_path / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [car]\n")
    report = check_dataset(tmp_path)
    assert report.counts == {} and report.fatal == 0
    assert report.images == {"train": 1, "val": 1} and report.boxes == 2 and report.label_files == 2
    assert report.format().endswith("no problems found")


def test_other_formats_report_their_readers_skips_and_the_leaks(tmp_path):
    # A COCO folder: train and val share one image file name under different folders but with the same bytes.
    for split in ("train", "val"):
        folder = tmp_path / split
        save_image(folder / "x.png", _noise(0))
        save_image(folder / f"only_{split}.png", _noise(1 if split == "train" else 2))
        anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10]},
                {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 0, 10]},  # zero-area: skipped
                {"id": 3, "image_id": 5, "category_id": 1, "bbox": [1, 1, 4, 4]}]  # no such image: skipped
        coco = {"images": [{"id": 1, "file_name": "x.png"}, {"id": 2, "file_name": f"only_{split}.png"}],
                "annotations": anns, "categories": [{"id": 1, "name": "car"}]}
        (folder / "_annotations.coco.json").write_text(json.dumps(coco))
    report = check_dataset(tmp_path)
    assert report.fmt == "coco"
    assert report.counts == {"zero-area COCO bbox skipped": 2, "COCO annotation without an image skipped": 2,
                             "leak: identical image bytes in two splits": 1}
    assert report.fatal_kinds == set(report.counts)


def test_perceptual_hash_distance_is_small_for_a_copy_and_large_for_another_picture():
    scene = _scene()
    small = cv2.resize(scene, (100, 75), interpolation=cv2.INTER_AREA)
    a, b, c = (leaks.perceptual_hash(x) for x in (scene, small, _noise(3, 96, 128)))
    assert bin(a ^ b).count("1") <= leaks.DEFAULT_MAX_BITS < bin(a ^ c).count("1")


def test_check_command_lists_every_kind_and_exits_1_stats_points_to_it(run_cli, tmp_path):
    yaml_path = build_broken_dataset(tmp_path / "ds")
    proc = run_cli("data", "check", yaml_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    for kind, n in PLANTED.items():
        assert f"{n} x {kind}" in proc.stdout, kind
    proc = run_cli("data", "stats", yaml_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"run `blendaug data check {yaml_path}` to list every problem" in lines[0]
    clean = tmp_path / "clean"
    save_image(clean / "images" / "a.png", _noise(0))
    (clean / "classes.txt").write_text("car\n")
    proc = run_cli("data", "check", clean)
    assert proc.returncode == 0 and "no problems found" in proc.stdout
