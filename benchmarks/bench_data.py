"""Data-stage throughput: toyworld images/s, and import/export on the real aerial set.

Each number is printed next to a reference measured in the same run on the same machine:
- toyworld: the cost of just encoding the same number of 640 px JPEGs (the floor any generator pays);
- import/export: reading the same image headers with Pillow (import) and copying the same files (export).

Usage: python benchmarks/bench_data.py [--images 500] [--size 640]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

from blendaug.data.coco import write_coco  # noqa: E402
from blendaug.data.imageio import encode_image  # noqa: E402
from blendaug.data.toyworld import ToyworldConfig, generate_toyworld  # noqa: E402
from blendaug.data.yolo import read_yolo, write_yolo  # noqa: E402

AERIAL = REPO.parent / "shared" / "data" / "aerial_cars_jekhor"


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def bench_toyworld(tmp: Path, n: int, size: int) -> None:
    _, dt = timed(lambda: generate_toyworld(tmp / "tw", ToyworldConfig(n_images=n, seed=0, size=size)))
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    _, dt_ref = timed(lambda: [encode_image(frame, ".jpg") for _ in range(n)])
    print(f"toyworld  {n} images at {size}px: {n / dt:8.1f} images/s ({dt:.1f} s)   "
          f"reference JPEG encode only: {n / dt_ref:8.1f} images/s   target: {n} images in < 60 s on one core")


def bench_import_export(tmp: Path) -> None:
    if not AERIAL.is_dir():
        print(f"import/export: skipped, {AERIAL} not found")
        return
    ds, dt_read = timed(lambda: read_yolo(AERIAL))
    files = [im.path for im in ds.images]
    _, dt_ref_read = timed(lambda: [Image.open(f).size for f in files])
    n = len(ds.images)
    print(f"import    yolo, {n} real images: {n / dt_read:8.1f} images/s   "
          f"reference header read only: {n / dt_ref_read:8.1f} images/s")
    _, dt_yolo = timed(lambda: write_yolo(ds, tmp / "yolo"))
    _, dt_coco = timed(lambda: write_coco(ds, tmp / "coco"))
    (tmp / "copy").mkdir()
    _, dt_ref = timed(lambda: [shutil.copy2(f, tmp / "copy" / f"{i}{f.suffix}") for i, f in enumerate(files)])
    print(f"export    yolo: {n / dt_yolo:8.1f} images/s, coco: {n / dt_coco:8.1f} images/s   "
          f"reference plain copy: {n / dt_ref:8.1f} images/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--size", type=int, default=640)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_toyworld(Path(tmp), args.images, args.size)
        bench_import_export(Path(tmp))


if __name__ == "__main__":
    main()
