"""The file layer of compositing: read backgrounds and crops, compose in worker processes, write a YOLO dataset.

Output layout (``OUT``), a YOLO dataset ultralytics can train on directly:

- ``images/<split>/...`` and ``labels/<split>/...``: the composited split (``train`` by default)
  holds, with ``mode="add"``, the original images (hard links, or symlinks across filesystems) *and*
  ``ratio`` composites per original (``floor(ratio)`` of each, one more of a seeded subset for the
  fraction), named ``<stem>__cp<k><suffix>``; with ``mode="replace"``, each chosen original is
  replaced by its composite, so the split keeps its size. Every other split (``val``, ``test``) is
  passed through unchanged, as links: the test split never receives a paste.
- ``meta.jsonl``: one JSON line per paste (output image, crop file, class, tier, box, blend, mask, angle,
  the placement mode that placed it).
- ``composite.json``: the settings, the seed and the counts (real, synthetic and replaced images, the
  split's final size, pastes, dropped boxes, warnings).
- ``data.yaml``.

Determinism: composite ``k`` of background ``i`` (in the dataset's sorted order) uses
``np.random.default_rng([seed, i, k])`` and the fractional subset its own stream, so the bytes do not
depend on the number of workers. The context placement's neighbour templates are learned once, here,
from the split's real boxes.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from blendaug.compositing.blend import parse_blend
from blendaug.compositing.compose import CompositeConfig, compose_image
from blendaug.compositing.context import learn_neighbours
from blendaug.compositing.crops import CropPool, CropRecord, read_crop_index
from blendaug.compositing.placement import box_sizes_by_class, get_placement
from blendaug.data.atomic import atomic_dir
from blendaug.data.errors import ConfigError, DataError, Warnings, did_you_mean
from blendaug.data.imageio import encode_image, load_image_rgb
from blendaug.data.model import ImageRecord
from blendaug.data.yolo import data_yaml_text, read_yolo, write_record

COPY_TAG = "__cp"
ARM_MODES = ("add", "replace")  # composites beside the real images, or instead of them
SUBSET_STREAM = 2**32 - 1  # the seed words of the fractional-ratio subset draw (see composite_counts)


def link_or_symlink(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst``; across filesystems, a symlink (an arm costs only its new images)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        os.symlink(Path(src).absolute(), dst)


def composite_rel_path(rel_path: Path, copy: int) -> Path:
    return rel_path.with_name(f"{rel_path.stem}{COPY_TAG}{copy:02d}{rel_path.suffix}")


def _write_record(out: Path, rec: ImageRecord, image_bytes: bytes | None = None) -> None:
    write_record(out, rec, image_bytes, link=link_or_symlink)


class _Job:
    """Everything a worker needs; pickled once per worker (its crop cache fills in the worker)."""

    def __init__(self, images, records, sizes, cfg, seed, counts, tmp, split, names, neighbours=None):
        self.images, self.sizes, self.cfg, self.seed = images, sizes, cfg, seed
        self.neighbours = neighbours
        self.counts, self.tmp, self.split, self.names = counts, tmp, split, names
        self.pool = CropPool(records, cfg.mask)
        self.modifiers = parse_blend(cfg.blend)[1]
        self.buffer: np.ndarray | None = None  # reused composite buffer (see compose_image's ``out``)

    def __call__(self, idx: int) -> tuple[list[dict], Warnings, int, int, list[int]]:
        """Write the composites of background ``idx``; return its meta lines, warnings, pastes, drops and the
        copies written."""
        rec = self.images[idx]
        copies = int(self.counts[idx])
        name = str(Path(self.split) / rec.rel_path)
        warnings = Warnings()
        background = load_image_rgb(rec.read_bytes(), name=str(rec.path))
        if background.shape[:2] != (rec.height, rec.width):
            raise DataError(f"{rec.path}: decoded size differs from the header size")
        meta: list[dict] = []
        written: list[int] = []
        n_pastes = n_dropped = 0
        if copies > 1 and (self.buffer is None or self.buffer.shape != background.shape):
            self.buffer = np.empty_like(background)
        for copy in range(copies):
            rng = np.random.default_rng([self.seed, idx, copy])
            # The last copy may overwrite the background itself: it is not needed afterwards.
            out = background if copy == copies - 1 else self.buffer
            comp = compose_image(background, rec.boxes_xyxy_px, rec.class_ids, self.pool, self.sizes, self.cfg, rng,
                                 warnings, name, out=out, neighbours=self.neighbours)
            if not comp.pastes:
                warnings.add("composite without any paste (not written)", f"{name} copy {copy}")
                continue
            out_rec = ImageRecord(path=rec.path, width=rec.width, height=rec.height, boxes_xyxy_px=comp.boxes_xyxy_px,
                                  class_ids=comp.class_ids, split=self.split,
                                  rel_path=composite_rel_path(rec.rel_path, copy))
            _write_record(self.tmp, out_rec, encode_image(comp.image, rec.rel_path.suffix or ".png"))
            n_pastes += len(comp.pastes)
            n_dropped += comp.dropped
            written.append(copy)
            image_rel = (Path("images") / self.split / out_rec.rel_path).as_posix()
            for p in comp.pastes:
                crop = self.pool.records[p.crop_index]
                meta.append({"image": image_rel, "background": name, "copy": copy, "crop": crop.file,
                             "class": self.names[p.class_id], "class_id": p.class_id, "tier": crop.tier,
                             "box_xyxy_px": list(p.box_xyxy_px), "blend": p.blend,
                             "modifiers": self.modifiers, "mask": self.cfg.mask, "angle": p.angle,
                             "placement": p.placement, "kept": p.kept})
        return meta, warnings, n_pastes, n_dropped, written


_WORKER_JOB: _Job | None = None


def _init_worker(job: _Job) -> None:
    global _WORKER_JOB
    cv2.setNumThreads(1)  # one process per core already; OpenCV threads would oversubscribe
    _WORKER_JOB = job


def _run_in_worker(idx: int):
    return _WORKER_JOB(idx)


def class_sizes(images: list[ImageRecord], names: list[str], needed: set[int], warnings: Warnings,
                source: str) -> list[np.ndarray]:
    """Real box sizes per class; a class without boxes borrows every class's sizes (with a warning)."""
    sizes = box_sizes_by_class([im.boxes_xyxy_px for im in images], [im.class_ids for im in images], len(names))
    pooled = np.concatenate(sizes) if sizes else np.zeros((0, 2))
    if len(pooled) == 0:
        raise DataError(f"{source}: the backgrounds hold no boxes, so there are no real sizes to draw from")
    for c in sorted(needed):
        if len(sizes[c]) == 0:
            warnings.add("class without real boxes (sizes drawn from all classes)", f"{source}: {names[c]}")
            sizes[c] = pooled
    return sizes


def composite_counts(n_images: int, ratio: float, seed: int) -> np.ndarray:
    """Composites per background, (n_images,) int: ``floor(ratio)`` each, one more for a seeded subset.

    The subset holds ``round(frac(ratio) * n_images)`` images, drawn without replacement from its own
    stream (``[seed, SUBSET_STREAM, SUBSET_STREAM]``, which no composite's ``[seed, i, k]`` reaches), so a
    whole ratio draws nothing and ``ratio=k`` is exactly the former ``copies=k``.
    """
    whole = int(math.floor(ratio + 1e-9))
    counts = np.full(n_images, whole, dtype=np.int64)
    extra = int(math.floor((ratio - whole) * n_images + 0.5))
    if extra > 0:
        chosen = np.random.default_rng([seed, SUBSET_STREAM, SUBSET_STREAM]).choice(n_images, extra, replace=False)
        counts[chosen] += 1
    return counts


def _check_arm(ratio: float, mode: str, keep_originals: bool, workers: int) -> None:
    if mode not in ARM_MODES:
        raise ConfigError(f"--mode: unknown mode {mode!r} ({did_you_mean(mode, ARM_MODES)})")
    if not ratio > 0 or not math.isfinite(ratio):
        raise ConfigError(f"--ratio: synthetic images per real image must be > 0, got {ratio}")
    if mode == "replace" and ratio > 1:
        raise ConfigError(f"--ratio {ratio:g} with --mode replace: a real image is replaced by one composite at most, "
                          "so the ratio must be <= 1")
    if mode == "replace" and not keep_originals:
        raise ConfigError("--mode replace keeps the real images it does not replace: drop --no-originals")
    if workers < 1:
        raise ConfigError("--workers must be >= 1")


def run_composite(
    backgrounds: str | os.PathLike,
    crops: str | os.PathLike,
    out: str | os.PathLike,
    cfg: CompositeConfig,
    seed: int = 0,
    copies: int | None = None,
    workers: int = 1,
    split: str = "train",
    tiers: list[str] | None = None,
    names: list[str] | None = None,
    keep_originals: bool = True,
    overwrite: bool = False,
    skip_bad: bool = False,
    warnings: Warnings | None = None,
    progress: bool = True,
    ratio: float | None = None,
    mode: str = "add",
) -> dict:
    """Composite the ``split`` images of the ``backgrounds`` YOLO dataset into a new YOLO dataset ``out``.

    Args:
        ratio: synthetic images per real ``split`` image: ``floor(ratio)`` composites of every image,
            plus one of a seeded subset for the fraction (0.25: a quarter of the images get one).
        copies: the former name of a whole ``ratio`` (give one of the two; default 1).
        mode: ``add`` writes the composites beside the real images; ``replace`` writes each chosen
            image's composite instead of it, so the split keeps its size (``ratio <= 1``).
        keep_originals: in ``add`` mode, also write the real images of the split.

    Returns:
        the summary written to ``composite.json`` (settings and counts: ``real_images``,
        ``synthetic_images``, ``replaced``, ``split_images``, pastes, dropped boxes, warnings).

    Raises:
        ConfigError: a bad setting (``split`` test, a missing split, a bad config field or ratio/mode).
        DataError: unreadable backgrounds or crops, an unknown crop class.
    """
    warnings = warnings if warnings is not None else Warnings()
    try:
        cfg.check()
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if split == "test":
        raise ConfigError("--split test: the test split never receives pastes (it measures real-data performance)")
    if copies is not None and ratio is not None:
        raise ConfigError("give --ratio or --copies, not both (copies=k is ratio=k)")
    if copies is not None and (copies < 1 or copies != int(copies)):
        raise ConfigError(f"--copies must be a whole number >= 1, got {copies}")
    ratio = float(ratio if ratio is not None else copies if copies is not None else 1)
    _check_arm(ratio, mode, keep_originals, workers)
    ds = read_yolo(backgrounds, names=names, skip_bad=skip_bad, warnings=warnings)
    if split not in ds.splits_present():
        raise ConfigError(f"--split {split}: {backgrounds} has no such split ({', '.join(ds.splits_present())})")
    records: list[CropRecord] = read_crop_index(crops, ds.names, tiers, skip_bad, warnings)
    images = ds.split(split)
    sizes = class_sizes(images, ds.names, {r.class_id for r in records}, warnings, str(backgrounds))
    smallest = np.concatenate([s for s in sizes if len(s)]).min(axis=0)
    usable = []
    for im in images:
        if im.width < smallest[0] or im.height < smallest[1]:
            warnings.add("background smaller than the smallest real box (not composited)",
                         f"{im.path}: {im.width}x{im.height}")
        else:
            usable.append(im)
    counts = composite_counts(len(usable), ratio, seed)
    if not counts.any():
        warnings.add("ratio too small for the number of images (no composite)", f"ratio {ratio:g} of {len(usable)}")
    clashes = {composite_rel_path(im.rel_path, k) for im in images for k in range(int(counts.max(initial=0)))} & {
        im.rel_path for im in images}
    if clashes:
        raise DataError(f"{backgrounds}: image names ending in {COPY_TAG}NN clash with composite names: "
                        f"{sorted(map(str, clashes))[0]}")
    neighbours = None
    if get_placement(cfg.placement).needs_boxes:
        neighbours = learn_neighbours([im.boxes_xyxy_px for im in images], [im.class_ids for im in images],
                                      [(im.width, im.height) for im in images])
    chosen = {id(im) for im, n in zip(usable, counts.tolist(), strict=True) if n > 0} if mode == "replace" else set()
    out = Path(out).absolute()
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for rec in ds.images:
            if rec.split != split or (keep_originals and id(rec) not in chosen):
                _write_record(tmp, rec)
        job = _Job(usable, records, sizes, cfg, seed, counts, tmp, split, ds.names, neighbours)
        results = _map(job, len(usable), workers, progress)
        replaced = 0
        for im, r in zip(usable, results, strict=True):
            if id(im) in chosen:
                if r[4]:
                    replaced += 1
                else:  # its composite got no paste: the real image stays, so the split keeps its size
                    _write_record(tmp, im)
        meta = [line for r in results for line in r[0]]
        for r in results:
            for kind, n in r[1].counts.items():
                for _ in range(n):
                    warnings.add(kind, r[1].examples[kind])
        n_synthetic = sum(len(r[4]) for r in results)
        kept_real = len(images) - replaced if mode == "replace" or keep_originals else 0
        summary = {
            "backgrounds": str(Path(backgrounds).absolute()), "crops": str(Path(crops).absolute()), "seed": seed,
            "ratio": ratio, "mode": mode, "split": split, "tiers": tiers, "keep_originals": keep_originals,
            "config": asdict(cfg), "background_images": len(usable), "crops_available": len(records),
            "real_images": len(images), "composites_planned": int(counts.sum()), "synthetic_images": n_synthetic,
            "replaced": replaced, "split_images": kept_real + n_synthetic,
            "composites": len({m["image"] for m in meta}), "pastes": sum(r[2] for r in results),
            "dropped_boxes": sum(r[3] for r in results), "warnings": warnings.summary(),
        }
        (tmp / "meta.jsonl").write_text("".join(json.dumps(m) + "\n" for m in meta), encoding="utf-8")
        (tmp / "composite.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        (tmp / "data.yaml").write_text(data_yaml_text(out, ds.names, ds.splits_present()), encoding="utf-8")
    return summary


def _map(job: _Job, n: int, workers: int, progress: bool) -> list:
    """Run ``job`` on every background index, in order; ``workers`` processes (1: in this process)."""
    from tqdm import tqdm

    bar = tqdm(total=n, desc="composite", unit="img", disable=not progress, dynamic_ncols=True)
    results = []
    try:
        if workers == 1 or n <= 1:
            for i in range(n):
                results.append(job(i))
                bar.update()
        else:
            # Never plain fork: a parent that already ran OpenCV holds its thread pool's locks, and a forked
            # child that touches OpenCV deadlocks on them. forkserver forks from a clean server process.
            ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
            with ctx.Pool(min(workers, n), initializer=_init_worker, initargs=(job,)) as pool:
                for r in pool.imap(_run_in_worker, range(n), chunksize=1):
                    results.append(r)
                    bar.update()
    finally:
        bar.close()
    return results
