"""Seeded train/val/test splits that keep near-duplicate frames (a video clip, a flight) in one split.

The rule, so a split can be explained and reproduced:

1. Pool every image of the dataset, whatever split it had, each file once (a file listed under two
   source splits is kept once, counted), and sort by ``rel_path`` (then ``path``), so the result does
   not depend on the order the reader listed files in.
2. Group images. With ``group`` (a regex), ``re.search`` on the file NAME (basename); the key is the
   first capture group that took part in the match (so ``^(\\d+)_|^(Drone2)`` works as an alternation).
   A name that does not match is a group of its own and is counted as a warning. Without ``group``,
   every image is its own group.
3. Shuffle the groups (sorted by key first) with ``np.random.default_rng(seed)``.
4. Fill ``test``, then ``val``: walk the shuffled groups not yet taken, and take a group while the
   split is below its target ``fraction * n_images`` and taking the group brings the split's image
   count closer to the target (groups that would overshoot further are skipped, later smaller ones
   may still fit). A split asked for (fraction > 0) that is still empty takes the smallest remaining
   group. Everything left is ``train``. With singleton groups this gives ``round(fraction * n)``.
5. ``train_size=N``: keep the first N train images of a seeded permutation (the same seed gives
   nested subsets: the 50-image train set is inside the 100-image one). ``train_per_class=N``: walk
   the same permutation once per class (in class-id order) and add images holding that class until
   N selected images hold it, or the class runs out (a counted warning); images with no box of any
   class are never added. Dropped train images leave the dataset; val and test are untouched.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

from blendaug.data.errors import ConfigError, DataError, Warnings
from blendaug.data.model import SPLITS, Dataset, ImageRecord


def compile_group_regex(group: str) -> re.Pattern:
    """Compile a ``--group`` regex; it must have at least one capture group.

    Raises:
        ConfigError: naming ``--group`` for an invalid pattern or one without a capture group.
    """
    try:
        pattern = re.compile(group)
    except re.error as e:
        raise ConfigError(f"--group: invalid regex {group!r} ({e})") from None
    if pattern.groups < 1:
        raise ConfigError(f"--group: regex {group!r} has no capture group; put the shared part in (...)")
    return pattern


def group_key(pattern: re.Pattern, name: str) -> str | None:
    """The group of file name ``name``: the first capture group that took part in the match, else None."""
    m = pattern.search(name)
    if m is None:
        return None
    return next((g for g in m.groups() if g is not None), None)


def group_images(
    images: list[ImageRecord], group: str | None, warnings: Warnings | None = None
) -> dict[str, list[ImageRecord]]:
    """Group ``images`` by the ``group`` regex on their file names (see the module docstring).

    Returns:
        ``{key: [records]}``; singleton keys for unmatched names start with ``"\\0"`` so they never
        collide with a matched key.
    """
    groups: dict[str, list[ImageRecord]] = {}
    pattern = compile_group_regex(group) if group is not None else None
    for rec in images:
        key = group_key(pattern, rec.path.name) if pattern is not None else None
        if key is None:
            if pattern is not None and warnings is not None:
                warnings.add("file name does not match --group (kept as its own group)", f"{rec.path.name}")
            key = f"\0{rec.rel_path.as_posix()}"
        groups.setdefault(key, []).append(rec)
    return groups


def _check_fractions(val: float, test: float) -> None:
    for flag, f in (("--val", val), ("--test", test)):
        if not (math.isfinite(f) and 0.0 <= f < 1.0):
            raise ConfigError(f"{flag}: fraction must be in [0, 1), got {f}")
    if val + test >= 1.0:
        raise ConfigError(f"--val + --test must be < 1 so train keeps images, got {val} + {test}")


def _pooled(ds: Dataset, warnings: Warnings) -> list[ImageRecord]:
    """Copies of every image, each file once, sorted; a ``rel_path`` used by two splits gets its old split as a prefix.

    A file listed under two source splits (a data.yaml with ``val: images/train``, or test equal to val) is
    one image: kept once (its first split in train, val, test order), counted, so it can never be in two splits.
    """
    order = {s: i for i, s in enumerate(SPLITS)}
    by_file: dict[Path, ImageRecord] = {}
    for im in sorted(ds.images, key=lambda im: (order.get(im.split, len(order)), str(im.path))):
        key = im.path.resolve()
        if key in by_file:
            warnings.add("file listed in two source splits, pooled once",
                         f"{im.path}: in '{by_file[key].split}' and '{im.split}'")
            continue
        by_file[key] = im
    unique = list(by_file.values())
    seen = Counter(im.rel_path.as_posix() for im in unique)
    out = []
    for im in unique:
        rel = im.rel_path if seen[im.rel_path.as_posix()] == 1 else Path(im.split) / im.rel_path
        out.append(dataclasses.replace(im, rel_path=rel))
    out.sort(key=lambda im: (im.rel_path.as_posix(), str(im.path), im.split))
    return out


def _fill(sizes: list[int], order: list[int], taken: set[int], target: float, want: bool) -> list[int]:
    """Indices of groups for one split (step 4 of the module docstring)."""
    chosen: list[int] = []
    count = 0
    for i in order:
        if count >= target:
            break
        if i in taken:
            continue
        if abs(count + sizes[i] - target) < abs(count - target):
            chosen.append(i)
            taken.add(i)
            count += sizes[i]
    if want and not chosen:
        free = [i for i in order if i not in taken]
        if free:
            i = min(free, key=lambda j: sizes[j])  # min keeps the first in shuffled order on ties
            chosen.append(i)
            taken.add(i)
    return chosen


def _subsample_train(
    train: list[ImageRecord],
    rng: np.random.Generator,
    n_classes: int,
    names: list[str],
    train_size: int | None,
    train_per_class: int | None,
    warnings: Warnings,
) -> list[ImageRecord]:
    perm = [train[i] for i in rng.permutation(len(train))]
    if train_size is not None:
        if train_size > len(train):
            raise ConfigError(f"--train-size {train_size}: the train split has only {len(train)} images")
        keep = perm[:train_size]
    else:
        assert train_per_class is not None
        picked: set[int] = set()
        has_class = [set(rec.class_ids.tolist()) for rec in perm]
        for c in range(n_classes):
            have = sum(1 for i in picked if c in has_class[i])
            for i, classes in enumerate(has_class):
                if have >= train_per_class:
                    break
                if i not in picked and c in classes:
                    picked.add(i)
                    have += 1
            if have < train_per_class:
                warnings.add(
                    "class has fewer train images than --train-per-class",
                    f"class {names[c]!r}: {have} train images < {train_per_class}",
                )
        keep = [perm[i] for i in sorted(picked)]
    keep_ids = {id(r) for r in keep}
    return [r for r in train if id(r) in keep_ids]


def split_dataset(
    ds: Dataset,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    group: str | None = None,
    train_size: int | None = None,
    train_per_class: int | None = None,
    warnings: Warnings | None = None,
) -> Dataset:
    """Assign every image of ``ds`` to train/val/test; see the module docstring for the exact rule.

    Args:
        val, test: fractions of all images, ``0 <= f`` and ``val + test < 1``.
        seed: the only source of randomness; same inputs and seed give the same split.
        group: regex on file names; images with the same first capture group share a split.
        train_size: keep only this many train images (``<=`` the train split, else ConfigError).
        train_per_class: keep train images until each class is in at least this many of them.
        warnings: collects unmatched names and classes short of ``train_per_class``.

    Returns:
        a new Dataset (input untouched), images sorted by ``rel_path``.

    Raises:
        ConfigError: bad fractions, bad ``group`` regex, both subsample options, or a size < 1.
        DataError: no images, or a split asked for (or train) ends up empty, e.g. too few groups.
    """
    warnings = warnings if warnings is not None else Warnings()
    _check_fractions(val, test)
    if train_size is not None and train_per_class is not None:
        raise ConfigError("--train-size and --train-per-class are mutually exclusive; give one")
    for flag, n in (("--train-size", train_size), ("--train-per-class", train_per_class)):
        if n is not None and n < 1:
            raise ConfigError(f"{flag}: must be >= 1, got {n}")
    images = _pooled(ds, warnings)
    where_ = ds.root or "dataset"
    if not images:
        raise DataError(f"{where_}: nothing to split, the dataset has no images")

    groups = group_images(images, group, warnings)
    keys = sorted(groups)
    rng = np.random.default_rng(seed)
    order = [int(i) for i in rng.permutation(len(keys))]
    sizes = [len(groups[k]) for k in keys]
    n = len(images)
    taken: set[int] = set()
    split_of: dict[int, str] = {}
    for name, frac in (("test", test), ("val", val)):
        for i in _fill(sizes, order, taken, frac * n, want=frac > 0):
            split_of[i] = name
    counts = Counter(split_of.values())
    for name, frac in (("test", test), ("val", val)):
        if frac > 0 and counts[name] == 0:
            raise DataError(
                f"{where_}: split '{name}' would be empty: {len(keys)} group(s) of images are too few "
                f"for train/val/test (use a finer --group, or set --{name} 0)"
            )
    if len(split_of) == len(keys):
        raise DataError(
            f"{where_}: split 'train' would be empty: all {len(keys)} group(s) went to val/test "
            "(use a finer --group or smaller --val/--test)"
        )

    out: list[ImageRecord] = []
    for i, key in enumerate(keys):
        for rec in groups[key]:
            rec.split = split_of.get(i, "train")  # rec is already a copy (see _pooled)
            out.append(rec)
    out.sort(key=lambda im: (im.rel_path.as_posix(), str(im.path)))

    if train_size is not None or train_per_class is not None:
        train = [r for r in out if r.split == "train"]
        keep = _subsample_train(train, rng, len(ds.names), ds.names, train_size, train_per_class, warnings)
        keep_ids = {id(r) for r in keep}
        out = [r for r in out if r.split != "train" or id(r) in keep_ids]
        if not keep:
            raise DataError(f"{where_}: no train image holds a labeled object, nothing to keep for --train-per-class")
    return ds.with_images(out)


def subsample_train(ds: Dataset, train_size: int, seed: int | list[int], warnings: Warnings | None = None) -> Dataset:
    """Keep ``train_size`` train images of an already split ``ds`` (a seeded permutation); val/test untouched.

    The study uses it to redraw only the train subsample per seed while the test split stays fixed.

    Raises:
        ConfigError: ``train_size`` < 1 or larger than the train split.
    """
    if train_size < 1:
        raise ConfigError(f"--train-size: must be >= 1, got {train_size}")
    train = sorted(ds.split("train"), key=lambda im: (im.rel_path.as_posix(), str(im.path)))
    keep = _subsample_train(train, np.random.default_rng(seed), len(ds.names), ds.names, train_size, None,
                            warnings if warnings is not None else Warnings())
    keep_ids = {id(r) for r in keep}
    return ds.with_images([r for r in ds.images if r.split != "train" or id(r) in keep_ids])
