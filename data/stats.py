"""What a dataset holds: images and boxes per class and split, box sizes per class.

:func:`dataset_stats` returns plain Python types (JSON-ready, for results folders);
:func:`format_stats` renders them as the text ``blendaug data stats`` prints.
"""

from __future__ import annotations

import numpy as np

from blendaug.data.model import Dataset, ImageRecord

PERCENTILES = (5, 25, 50, 75, 95)


def _counts(images: list[ImageRecord], n_classes: int) -> dict:
    boxes = np.zeros(n_classes, dtype=np.int64)
    holding = np.zeros(n_classes, dtype=np.int64)
    for im in images:
        per_class = np.bincount(im.class_ids, minlength=n_classes)[:n_classes]
        boxes += per_class
        holding += per_class > 0
    return {
        "images": len(images),
        "images_without_boxes": sum(1 for im in images if im.n_boxes == 0),
        "boxes": int(boxes.sum()),
        "boxes_per_class": [int(v) for v in boxes],
        "images_per_class": [int(v) for v in holding],
    }


def _percentiles(values: np.ndarray) -> dict[str, float] | None:
    if values.size == 0:
        return None
    return {f"p{p}": float(v) for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True)}


def dataset_stats(ds: Dataset) -> dict:
    """Counts and box sizes of ``ds``.

    Returns:
        ``{"names", "splits": {split: counts}, "total": counts, "box_size_px": {class: {"boxes",
        "width", "height"}}}`` where counts are ``{"images", "images_without_boxes", "boxes",
        "boxes_per_class", "images_per_class"}`` (per-class lists in class-id order) and width/height
        are ``{"p5", "p25", "p50", "p75", "p95"}`` in pixels over all splits (None for a class
        without boxes). ``images_per_class`` counts images holding at least one box of the class.
    """
    n = len(ds.names)
    boxes = np.concatenate([im.boxes_xyxy_px for im in ds.images] or [np.zeros((0, 4))])  # (B, 4)
    ids = np.concatenate([im.class_ids for im in ds.images] or [np.zeros((0,), dtype=np.int64)])  # (B,)
    wh = boxes[:, 2:] - boxes[:, :2]  # (B, 2)
    sizes = {
        name: {
            "boxes": int((ids == c).sum()),
            "width": _percentiles(wh[ids == c, 0]),
            "height": _percentiles(wh[ids == c, 1]),
        }
        for c, name in enumerate(ds.names)
    }
    return {
        "names": list(ds.names),
        "splits": {s: _counts(ds.split(s), n) for s in ds.splits_present()},
        "total": _counts(ds.images, n),
        "box_size_px": sizes,
    }


def _table(rows: list[list[str]]) -> list[str]:
    """First column left-aligned, the others right-aligned, two spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]


def _fmt_percentiles(values: dict[str, float] | None) -> str:
    return " / ".join(f"{v:.0f}" for v in values.values()) if values else "-"


def format_stats(stats: dict) -> str:
    """A plain-text report of :func:`dataset_stats`: counts per split and class, then box sizes."""
    names, splits, total = stats["names"], stats["splits"], stats["total"]
    cols = [*splits, "total"]
    per = [*splits.values(), total]
    lines = [
        f"{total['images']} images, {total['boxes']} boxes, {len(names)} classes",
        "",
        "images / boxes per class and split (images = images holding the class)",
    ]
    rows = [["class", *cols]]
    for c, name in enumerate(names):
        rows.append([name, *(f"{p['images_per_class'][c]} / {p['boxes_per_class'][c]}" for p in per)])
    rows.append(["all", *(f"{p['images']} / {p['boxes']}" for p in per)])
    rows.append(["no boxes", *(f"{p['images_without_boxes']}" for p in per)])
    lines += _table(rows)
    lines += ["", "box size in pixels, percentiles " + " / ".join(f"p{p}" for p in PERCENTILES)]
    rows = [["class", "boxes", "width", "height"]]
    for name, s in stats["box_size_px"].items():
        rows.append([name, str(s["boxes"]), _fmt_percentiles(s["width"]), _fmt_percentiles(s["height"])])
    lines += _table(rows)
    return "\n".join(lines)
