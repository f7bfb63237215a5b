"""Compositing throughput at 640x640 with 4 objects per image, one core.

Printed in the same run, on the same images:
- composites/s for each blend mode (decode background + place/blend 4 objects + encode JPEG);
- the reference: decoding and encoding one image alone (the floor any compositor pays);
- a naive ``cv2.seamlessClone`` per object on the full image (full-size source and mask), against
  our ``poisson`` mode, which clones a small region around each object.

Targets: gaussian at most 1.5x the decode+encode cost, gaussian+color at most 1.6x; our poisson faster than the
naive clone.

Placement (toyworld, which knows its drivable and parking surfaces): the share of pasted boxes whose
centre lies on a drivable or parking surface, for ``uniform`` and ``context`` on the same seeds and
crops, and the compose time of each (no decode or encode: placement alone differs).
Backgrounds: ../shared/data/drone_view_vehicles_cats when present (crops cut from its own boxes),
else generated textured backgrounds and crops.

Allocator: glibc adapts its mmap and trim thresholds to the blocks freed so far, so the very same
decode+encode loop cost 2.6 or 4.1 ms per image here depending on what the process had run before
(page faults on the 1.2 MB image buffers), and the gaussian ratio swung between 1.35x and 1.63x from
run to run. The benchmark pins both thresholds (``mallopt``) before measuring anything, so that every
candidate, the reference included, runs with the same allocator. ``blendaug composite`` itself
leaves malloc alone: its wall time did not change measurably with the same settings (file writes dominate).

Usage: python benchmarks/bench_composite.py [--images 40] [--repeat 5]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]

from blendaug.compositing.blend import BLEND_MODES, poisson_clone  # noqa: E402
from blendaug.compositing.compose import CompositeConfig, compose_image, render_object  # noqa: E402
from blendaug.compositing.context import learn_neighbours  # noqa: E402
from blendaug.compositing.crops import CropPool, CropRecord, LoadedCrop  # noqa: E402
from blendaug.compositing.masks import MASKS, object_extent  # noqa: E402
from blendaug.compositing.placement import box_sizes_by_class, place_object, sample_box_size  # noqa: E402
from blendaug.data.errors import Warnings  # noqa: E402
from blendaug.data.imageio import encode_image, load_image_rgb  # noqa: E402
from blendaug.data.toyworld import ToyworldConfig, render_scene  # noqa: E402
from blendaug.data.toyworld_surfaces import centres_on_surface  # noqa: E402
from blendaug.data.yolo import read_yolo  # noqa: E402

REAL = REPO.parent / "shared" / "data" / "drone_view_vehicles_cats"
SIZE = 640
PER_IMAGE = 4


def pin_malloc_thresholds() -> str:
    """Fix glibc's mmap threshold (32 MiB) and trim threshold (128 MiB); a note on what was done."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
        ok = libc.mallopt(m_mmap_threshold, 32 << 20) == 1 and libc.mallopt(m_trim_threshold, 128 << 20) == 1
    except (OSError, AttributeError):
        ok = False
    return "malloc thresholds pinned" if ok else "malloc thresholds NOT pinned (not glibc): expect run-to-run swings"


class MemoryPool(CropPool):
    """Crops held in memory, masked once (as the workers' cache does after the first use)."""

    def __init__(self, crops: list[np.ndarray], class_ids: list[int] | None = None) -> None:
        ids = class_ids if class_ids is not None else [0] * len(crops)
        super().__init__([CropRecord(Path(f"{i}.png"), f"{i}.png", "car", c, "high") for i, c in enumerate(ids)],
                         "rect")
        for i, crop in enumerate(crops):
            m = MASKS["rect"](crop, None)
            self._cache[i] = LoadedCrop(crop, m, object_extent(m))


def load_inputs(n: int) -> tuple[list[bytes], list[np.ndarray], list[np.ndarray], list[np.ndarray], str]:
    """``(encoded backgrounds, their boxes, crops, sizes per class, description)``."""
    rng = np.random.default_rng(0)
    if REAL.is_dir():
        ds = read_yolo(REAL, names=["car"])
        images = [im for im in ds.images if (im.width, im.height) == (SIZE, SIZE)][:n]
        encoded = [im.path.read_bytes() for im in images]
        crops = []
        for im in images[:8]:
            rgb = load_image_rgb(im.path)
            for x1, y1, x2, y2 in im.boxes_xyxy_px[:4]:
                p = 0.1 * max(x2 - x1, y2 - y1)
                cut = rgb[int(max(0, y1 - p)):int(y2 + p), int(max(0, x1 - p)):int(x2 + p)]
                crops.append(cv2.resize(cut, (64, 64), interpolation=cv2.INTER_AREA))
        sizes = box_sizes_by_class([im.boxes_xyxy_px for im in ds.images], [im.class_ids for im in ds.images], 1)
        return encoded, [im.boxes_xyxy_px for im in images], crops, sizes, f"{len(images)} real images from {REAL.name}"
    encoded = []
    for _ in range(n):
        base = cv2.GaussianBlur(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8), (0, 0), 3)
        encoded.append(encode_image(base, ".jpg"))
    crops = [cv2.GaussianBlur(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), (0, 0), 1) for _ in range(16)]
    sizes = [np.stack([rng.uniform(30, 90, 200), rng.uniform(30, 90, 200)], axis=1)]
    return encoded, [np.zeros((0, 4))] * n, crops, sizes, f"{n} generated {SIZE}px images (real set not found)"


def interleaved(candidates: dict, repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` CPU seconds per candidate, run in turn each round so load drifts hit all alike.

    CPU time of this process (one thread: OpenCV is set to one) is the cost per core, and it is far
    less disturbed than wall time when other jobs share the machine.
    """
    best = dict.fromkeys(candidates, np.inf)
    for _ in range(repeat):
        for name, fn in candidates.items():
            t0 = time.process_time()
            fn()
            best[name] = min(best[name], time.process_time() - t0)
    return best


def run_mode(encoded, boxes, pool, sizes, mode: str, neighbours=None) -> None:
    """Decode, composite (in place, as the workers do for one copy per background) and encode every background.

    ``mode`` is a blend spec, placed uniformly (the placement these targets were set with), or
    ``<blend> @<placement>``.
    """
    blend, _, placement = mode.partition(" @")
    cfg = CompositeConfig(per_image=(PER_IMAGE, PER_IMAGE), blend=blend, placement=placement or "uniform")
    for i, (data, b) in enumerate(zip(encoded, boxes, strict=True)):
        bg = load_image_rgb(data)
        comp = compose_image(bg, b, np.zeros(len(b), np.int64), pool, sizes, cfg, np.random.default_rng([0, i]),
                             out=bg, neighbours=neighbours)
        encode_image(comp.image, ".jpg")


def run_reference(encoded) -> None:
    for data in encoded:
        encode_image(load_image_rgb(data), ".jpg")


def naive_clone_inputs(encoded, boxes, pool, sizes) -> list[list[tuple[np.ndarray, np.ndarray, tuple[int, int]]]]:
    """Per image, 4 full-size (source, mask, centre) triples at the positions our placement picks."""
    rng = np.random.default_rng(1)
    out = []
    for b in boxes:
        objs, occupied = [], np.asarray(b, float).reshape(-1, 4)
        while len(objs) < PER_IMAGE:
            crop = pool.load(int(rng.integers(len(pool))))
            box_wh = sample_box_size(rng, sizes[0])
            rgb, mask = render_object(crop, box_wh, 0.0, box_wh)
            p = place_object(rng, mask > 0.5, (SIZE, SIZE), occupied, 1.0)
            if p is None:
                continue
            src, full = np.zeros((SIZE, SIZE, 3), np.uint8), np.zeros((SIZE, SIZE), np.uint8)
            x0, y0 = max(p.x0, 0), max(p.y0, 0)
            h, w = min(mask.shape[0] - (y0 - p.y0), SIZE - y0), min(mask.shape[1] - (x0 - p.x0), SIZE - x0)
            src[y0:y0 + h, x0:x0 + w] = rgb[y0 - p.y0:y0 - p.y0 + h, x0 - p.x0:x0 - p.x0 + w]
            full[y0:y0 + h, x0:x0 + w] = (mask[y0 - p.y0:y0 - p.y0 + h, x0 - p.x0:x0 - p.x0 + w] > 0.5) * 255
            full[0, :] = full[-1, :] = full[:, 0] = full[:, -1] = 0
            x, y, bw, bh = cv2.boundingRect(full)
            objs.append((src, full, (x + bw // 2, y + bh // 2)))
        out.append(objs)
    return out


def run_naive(encoded, clone_inputs) -> None:
    for data, objs in zip(encoded, clone_inputs, strict=True):
        img = load_image_rgb(data)
        for src, mask, centre in objs:
            img = cv2.seamlessClone(src, img, mask, centre, cv2.NORMAL_CLONE)
        encode_image(img, ".jpg")


def clone_only(clone_inputs, bg: np.ndarray, ours: bool) -> None:
    """Just the cloning of every object: our ROI solve, or cv2.seamlessClone on the full image."""
    for objs in clone_inputs:
        for src, mask, centre in objs:
            if ours:
                x, y, w, h = cv2.boundingRect(mask)
                y1, y2, x1, x2 = max(0, y - 8), min(SIZE, y + h + 8), max(0, x - 8), min(SIZE, x + w + 8)
                poisson_clone(bg[y1:y2, x1:x2], src[y1:y2, x1:x2], mask[y1:y2, x1:x2] > 0)
            else:
                cv2.seamlessClone(src, bg, mask, centre, cv2.NORMAL_CLONE)


def square_crop(rgb: np.ndarray, box, size: int = 64) -> np.ndarray:
    """The box with 10 % context on each side, squared and resized (as ``data crops`` cuts them)."""
    x1, y1, x2, y2 = box
    half = 0.6 * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    cut = rgb[int(max(0, cy - half)):int(cy + half), int(max(0, cx - half)):int(cx + half)]
    return cv2.resize(cut, (size, size), interpolation=cv2.INTER_AREA)


def placement_lines(n_scenes: int, repeat: int) -> list[str]:
    """Share of pasted centres on toyworld's drivable/parking surfaces and compose time, per placement mode."""
    frames = [f for s in range(n_scenes) for f in render_scene(ToyworldConfig(n_images=4 * n_scenes, seed=11), s)]
    cut = [(f, box, c) for f in frames for box, c in zip(f.boxes_xyxy_px, f.class_ids.tolist(), strict=True)][:48]
    pool = MemoryPool([square_crop(f.image_rgb, box) for f, box, _ in cut], [c for *_, c in cut])
    boxes, ids = [f.boxes_xyxy_px for f in frames], [f.class_ids for f in frames]
    sizes = box_sizes_by_class(boxes, ids, 3)
    neighbours = learn_neighbours(boxes, ids, [f.image_rgb.shape[1::-1] for f in frames])
    shares, fallbacks = {}, {}

    def compose_all(placement: str, record: bool = False) -> None:
        cfg = CompositeConfig(per_image=(PER_IMAGE, PER_IMAGE), placement=placement)
        on, fell = [], 0
        for i, f in enumerate(frames):
            comp = compose_image(f.image_rgb, f.boxes_xyxy_px, f.class_ids, pool, sizes, cfg,
                                 np.random.default_rng([0, i]), Warnings(), neighbours=neighbours)
            if record:
                on += centres_on_surface(np.reshape([p.box_xyxy_px for p in comp.pastes], (-1, 4)), f.surface).tolist()
                fell += sum(p.placement != placement for p in comp.pastes)
        if record:
            shares[placement], fallbacks[placement] = float(np.mean(on)), (fell, len(on))

    modes = ("uniform", "context")
    for m in modes:
        compose_all(m, record=True)
    t = interleaved({m: (lambda m=m: compose_all(m)) for m in modes}, repeat)
    lines = [f"placement on toyworld ({len(frames)} images of {frames[0].image_rgb.shape[1]} px, {PER_IMAGE} "
             f"objects each, the same seeds and crops; real vehicles: "
             f"{np.mean(np.concatenate([centres_on_surface(f.boxes_xyxy_px, f.surface) for f in frames])):.3f}):"]
    for m in modes:
        fell, n = fallbacks[m]
        lines.append(f"  {m:<8}: {shares[m]:.3f} of pasted centres on a drivable or parking surface "
                     f"({n} pastes, {fell} placed by the fallback), compose {t[m] / len(frames) * 1e3:5.2f} ms/image")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the fastest counts")
    parser.add_argument("--scenes", type=int, default=16, help="toyworld scenes (4 images each) for placement")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # per core: one process, one OpenCV thread
    malloc_note = pin_malloc_thresholds()
    encoded, boxes, crops, sizes, what = load_inputs(args.images)
    pool = MemoryPool(crops)
    n = len(encoded)
    print(f"compositing benchmark: {what}, {PER_IMAGE} objects/image, JPEG out, 1 core (cv2 threads = 1), "
          f"CPU time, best of {args.repeat}, {malloc_note}")
    modes = [*BLEND_MODES, "all", "gaussian+color", "gaussian+noise", "gaussian+color+noise", "gaussian @context"]
    neighbours = learn_neighbours(boxes, [np.zeros(len(b), np.int64) for b in boxes], [(SIZE, SIZE)] * len(boxes))
    for mode in modes:
        run_mode(encoded[:2], boxes[:2], pool, sizes, mode, neighbours)  # warm up (imports, first conversions)
    clone_inputs = naive_clone_inputs(encoded, boxes, pool, sizes)
    bg = load_image_rgb(encoded[0])
    candidates = {"reference": lambda: run_reference(encoded)}
    candidates.update({m: (lambda m=m: run_mode(encoded, boxes, pool, sizes, m, neighbours)) for m in modes})
    candidates["naive"] = lambda: run_naive(encoded, clone_inputs)
    candidates["clone ours"] = lambda: clone_only(clone_inputs, bg, True)
    candidates["clone naive"] = lambda: clone_only(clone_inputs, bg, False)
    t = {k: v / n for k, v in interleaved(candidates, args.repeat).items()}
    ref = t["reference"]
    print(f"  reference decode+encode only  : {1 / ref:7.1f} images/s     ({ref * 1e3:6.2f} ms/image)")
    for mode in modes:
        dt = t[mode]
        print(f"  {mode:<22}        : {1 / dt:7.1f} composites/s ({dt * 1e3:6.2f} ms, {dt / ref:4.2f}x decode+encode,"
              f" {(dt - ref) / PER_IMAGE * 1e3:5.2f} ms/object over it)")
    naive = t["naive"]
    print(f"  naive full-image seamlessClone: {1 / naive:7.1f} composites/s ({naive * 1e3:6.2f} ms, "
          f"{(naive - ref) / PER_IMAGE * 1e3:5.2f} ms/object over decode+encode)")
    print(f"  cloning alone, per object     : ours {t['clone ours'] / PER_IMAGE * 1e3:5.2f} ms, "
          f"cv2.seamlessClone on the full image {t['clone naive'] / PER_IMAGE * 1e3:5.2f} ms")
    g, c, p = t["gaussian"] / ref, t["gaussian+color"] / ref, t["poisson"]
    print(f"targets: gaussian <= 1.5x decode+encode: {g:.2f}x {'OK' if g <= 1.5 else 'MISSED'}; "
          f"gaussian+color <= 1.6x: {c:.2f}x {'OK' if c <= 1.6 else 'MISSED'}; "
          f"poisson faster than naive seamlessClone: {naive / p:.2f}x {'OK' if p < naive else 'MISSED'}")
    for line in placement_lines(args.scenes, args.repeat):
        print(line)


if __name__ == "__main__":
    main()
