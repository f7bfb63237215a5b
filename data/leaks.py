"""Leaks between splits: the same file, identical bytes, or near-duplicate pixels in two splits.

Pure functions on what :mod:`blendaug.data.check` gathers per image (split, resolved path, SHA-256 of the bytes,
64-bit perceptual hash). The perceptual hash is ``imagehash.phash`` (DCT of a 32x32 grey thumbnail): robust to
re-encoding, resizing and small colour changes, which is what a copied or re-exported image goes through. Two
images whose hashes differ in at most ``max_bits`` of 64 bits are near-duplicates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

# Distances up to this many bits (of 64) count as near-duplicates: re-encoded, resized or lightly edited copies
# of one picture land at 0-4; unrelated photos at about 32, neighbouring video frames anywhere from 0 up.
DEFAULT_MAX_BITS = 4
_CHUNK = 2048


@dataclass(frozen=True)
class ImageKey:
    """What identifies one listed image for leak checks."""

    split: str
    path: Path  # resolved
    sha256: str
    phash: int  # 64-bit perceptual hash


def perceptual_hash(image_rgb: np.ndarray) -> int:
    """``imagehash.phash`` of a ``uint8`` RGB image as a 64-bit integer."""
    bits = imagehash.phash(Image.fromarray(image_rgb)).hash.reshape(-1)  # (64,) bool
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def same_file_in_splits(keys: list[ImageKey]) -> list[tuple[Path, list[str]]]:
    """Files (by resolved path) listed in more than one split: ``[(path, sorted splits)]``."""
    splits: dict[Path, set[str]] = defaultdict(set)
    for k in keys:
        splits[k.path].add(k.split)
    return [(p, sorted(s)) for p, s in sorted(splits.items()) if len(s) > 1]


def identical_bytes_in_splits(keys: list[ImageKey]) -> list[list[ImageKey]]:
    """Groups of different files with identical bytes that span more than one split."""
    groups: dict[str, dict[Path, ImageKey]] = defaultdict(dict)
    for k in keys:
        groups[k.sha256].setdefault(k.path, k)
    out = []
    for group in groups.values():
        members = sorted(group.values(), key=lambda k: (k.split, str(k.path)))
        if len(members) > 1 and len({k.split for k in members}) > 1:
            out.append(members)
    return sorted(out, key=lambda g: str(g[0].path))


def near_duplicates_across_splits(keys: list[ImageKey], max_bits: int = DEFAULT_MAX_BITS
                                  ) -> list[tuple[ImageKey, ImageKey, int]]:
    """Pairs of images in different splits whose perceptual hashes differ in at most ``max_bits`` bits.

    Pairs of one file, or of identical bytes (reported as exact leaks), are left out. Sorted by distance.

    Returns:
        ``[(a, b, bits)]`` with ``a.split < b.split``.
    """
    by_split: dict[str, list[ImageKey]] = defaultdict(list)
    for k in {(k.split, k.path): k for k in keys}.values():
        by_split[k.split].append(k)
    pairs = []
    names = sorted(by_split)
    for i, sa in enumerate(names):
        a = by_split[sa]
        ha = np.array([k.phash for k in a], dtype=np.uint64)
        for sb in names[i + 1:]:
            b = by_split[sb]
            hb = np.array([k.phash for k in b], dtype=np.uint64)
            for start in range(0, len(a), _CHUNK):
                dist = np.bitwise_count(ha[start:start + _CHUNK, None] ^ hb[None, :])  # (chunk, len(b))
                for r, c in zip(*np.nonzero(dist <= max_bits), strict=True):
                    ka, kb = a[start + r], b[c]
                    if ka.path != kb.path and ka.sha256 != kb.sha256:
                        pairs.append((ka, kb, int(dist[r, c])))
    return sorted(pairs, key=lambda t: (t[2], t[0].split, str(t[0].path), str(t[1].path)))
