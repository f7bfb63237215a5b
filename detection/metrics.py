"""Detection metrics computed by blendaug from the predictions kept at a confidence threshold.

Pure numpy, no ultralytics. mAP comes from ultralytics; these are the numbers the seed study (darknet)
reported next to it, plus a count error:

- Matching, per image: predictions above the threshold are taken in order of confidence (highest first,
  ties in input order); each takes the still-unmatched true box of the SAME class with the highest IoU,
  if that IoU is >= ``iou_thr``, and is then a true positive (TP); otherwise it is a false positive (FP).
  True boxes left unmatched are false negatives (FN).
- ``avg_iou_darknet`` = sum of the TPs' IoU / (TP + FP): darknet's "average IoU" (the seed paper's IoU);
  it falls with every false positive.
- ``mean_matched_iou`` = sum of the TPs' IoU / TP: how tight the matched boxes are.
- ``count_mape`` = mean over images with at least one true object of ``|pred count - true count| / true
  count * 100``; all predictions above the threshold count, whatever their class. Per class, the counts are
  of that class and the mean runs over images holding that class. Images without objects are left out
  (the error would divide by zero). This is blendaug's definition; the seed paper's "MAPE" is ambiguous.

A ratio with a zero denominator is ``nan`` (``null`` in JSON): undefined, not zero.

mAP recomputed from per-image records (``APRecord``), so that it can be bootstrapped over test images:
every prediction the val pass kept (conf >= 0.001) is matched to the true boxes at each IoU threshold
0.50, 0.55, ..., 0.95 (as above, highest confidence first: COCO's rule);
AP per class is COCO's 101-point interpolated area under the precision envelope; mAP is the mean over
the classes that have true boxes. It is blendaug's number, close to but not the same as ultralytics'
(which integrates a linearly interpolated curve): the evaluation stores both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

METRIC_KEYS = ("tp", "fp", "fn", "avg_iou_darknet", "mean_matched_iou", "count_mape")


def box_iou(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4): an (N, M) array."""
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    inter = np.clip(rb - lt, 0, None).prod(axis=2)  # (N, M)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(axis=1)  # (N,)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(axis=1)  # (M,)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def match_image(pred_xyxy: np.ndarray, pred_cls: np.ndarray, pred_conf: np.ndarray,
                true_xyxy: np.ndarray, true_cls: np.ndarray, iou_thr: float) -> np.ndarray:
    """Greedy matching of one image's predictions to its true boxes (see the module docstring).

    Returns:
        ``(n_pred,)`` float64: the IoU of each prediction's matched true box, ``nan`` for a false positive.
    """
    pred_cls = np.asarray(pred_cls).reshape(-1)
    true_cls = np.asarray(true_cls).reshape(-1)
    iou = box_iou(pred_xyxy, true_xyxy)  # (n_pred, n_true)
    iou[pred_cls[:, None] != true_cls[None, :]] = -1.0
    matched = np.full(len(pred_cls), np.nan)
    free = np.ones(len(true_cls), dtype=bool)
    for p in np.argsort(-np.asarray(pred_conf, dtype=np.float64).reshape(-1), kind="stable"):
        cand = np.where(free, iou[p], -1.0)
        if len(cand) == 0:
            continue
        t = int(np.argmax(cand))
        if cand[t] >= iou_thr and cand[t] >= 0:
            matched[p] = cand[t]
            free[t] = False
    return matched


@dataclass
class ImageResult:
    """Per-class tallies of one image; every array is ``(n_classes,)``."""

    name: str
    n_true: np.ndarray
    n_pred: np.ndarray
    tp: np.ndarray
    iou_sum: np.ndarray  # sum of the TPs' IoU

    @property
    def fp(self) -> np.ndarray:
        return self.n_pred - self.tp

    @property
    def fn(self) -> np.ndarray:
        return self.n_true - self.tp


def image_result(name: str, n_classes: int, pred_xyxy: np.ndarray, pred_cls: np.ndarray, pred_conf: np.ndarray,
                 true_xyxy: np.ndarray, true_cls: np.ndarray, conf_thr: float, iou_thr: float) -> ImageResult:
    """Tally one image: keep predictions with ``conf >= conf_thr``, match them, count per class."""
    pred_conf = np.asarray(pred_conf, dtype=np.float64).reshape(-1)
    keep = pred_conf >= conf_thr
    pred_cls = np.asarray(pred_cls, dtype=np.int64).reshape(-1)[keep]
    true_cls = np.asarray(true_cls, dtype=np.int64).reshape(-1)
    matched = match_image(np.asarray(pred_xyxy).reshape(-1, 4)[keep], pred_cls, pred_conf[keep],
                          true_xyxy, true_cls, iou_thr)
    is_tp = ~np.isnan(matched)
    return ImageResult(
        name=name,
        n_true=np.bincount(true_cls, minlength=n_classes)[:n_classes],
        n_pred=np.bincount(pred_cls, minlength=n_classes)[:n_classes],
        tp=np.bincount(pred_cls[is_tp], minlength=n_classes)[:n_classes],
        iou_sum=np.bincount(pred_cls[is_tp], weights=matched[is_tp], minlength=n_classes)[:n_classes],
    )


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else float("nan")


def count_mape(n_pred: np.ndarray, n_true: np.ndarray) -> float:
    """Mean of ``|n_pred - n_true| / n_true * 100`` over entries with ``n_true > 0`` (nan if none)."""
    n_pred = np.asarray(n_pred, dtype=np.float64)
    n_true = np.asarray(n_true, dtype=np.float64)
    has = n_true > 0
    if not has.any():
        return float("nan")
    return float(np.mean(np.abs(n_pred[has] - n_true[has]) / n_true[has] * 100.0))


def _summary(n_true: np.ndarray, n_pred: np.ndarray, tp: np.ndarray, iou_sum: np.ndarray) -> dict[str, float | int]:
    """Metrics from per-image tallies, each ``(n_images,)``."""
    tp_all, pred_all = int(tp.sum()), int(n_pred.sum())
    return {
        "tp": tp_all,
        "fp": pred_all - tp_all,
        "fn": int(n_true.sum()) - tp_all,
        "avg_iou_darknet": _ratio(iou_sum.sum(), pred_all),
        "mean_matched_iou": _ratio(iou_sum.sum(), tp_all),
        "count_mape": count_mape(n_pred, n_true),
    }


def summarize(results: Sequence[ImageResult], names: list[str]) -> dict:
    """Overall and per-class metrics over images.

    Returns:
        ``{"tp", "fp", "fn", "avg_iou_darknet", "mean_matched_iou", "count_mape", "per_class": {name: {...}}}``;
        overall counts are summed over classes, and the overall count error uses each image's total count.
    """
    c = len(names)
    stack = {k: np.stack([getattr(r, k) for r in results]) if results else np.zeros((0, c))
             for k in ("n_true", "n_pred", "tp", "iou_sum")}  # each (n_images, n_classes)
    out: dict = _summary(*(stack[k].sum(axis=1) for k in ("n_true", "n_pred", "tp", "iou_sum")))
    out["per_class"] = {
        name: _summary(*(stack[k][:, i] for k in ("n_true", "n_pred", "tp", "iou_sum"))) for i, name in enumerate(names)
    }
    return out


def per_image_rows(results: Sequence[ImageResult]) -> list[dict]:
    """One row per image for ``per_image.csv`` (all classes together)."""
    rows = []
    for r in results:
        n_true, n_pred, tp = int(r.n_true.sum()), int(r.n_pred.sum()), int(r.tp.sum())
        rows.append({
            "image": r.name, "n_true": n_true, "n_pred": n_pred, "tp": tp, "fp": n_pred - tp, "fn": n_true - tp,
            "iou_sum": float(r.iou_sum.sum()),
            "count_ape": abs(n_pred - n_true) / n_true * 100.0 if n_true > 0 else float("nan"),
        })
    return rows


IOU_THRESHOLDS = np.round(np.linspace(0.5, 0.95, 10), 2)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def match_at_thresholds(pred_xyxy: np.ndarray, pred_cls: np.ndarray, pred_conf: np.ndarray, true_xyxy: np.ndarray,
                        true_cls: np.ndarray, thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """Which predictions are true positives at each IoU threshold (COCO's matching).

    At each threshold, predictions in order of confidence (highest first, ties in input order) each take
    the still-unmatched true box of the same class with the highest IoU, if that IoU reaches the threshold.

    Returns:
        ``(n_pred, n_thresholds)`` bool.
    """
    pred_cls = np.asarray(pred_cls).reshape(-1)
    true_cls = np.asarray(true_cls).reshape(-1)
    tp = np.zeros((len(pred_cls), len(thresholds)), dtype=bool)
    if len(pred_cls) == 0 or len(true_cls) == 0:
        return tp
    iou = box_iou(pred_xyxy, true_xyxy)
    iou[pred_cls[:, None] != true_cls[None, :]] = -1.0
    order = np.argsort(-np.asarray(pred_conf, dtype=np.float64).reshape(-1), kind="stable")
    order = order[iou[order].max(axis=1) >= thresholds.min()]  # the rest are false positives at every threshold
    for k, thr in enumerate(thresholds):
        free = np.ones(len(true_cls), dtype=bool)
        for p in order:
            cand = np.where(free, iou[p], -1.0)
            t = int(np.argmax(cand))
            if cand[t] >= thr:
                tp[p, k] = True
                free[t] = False
    return tp


@dataclass
class APRecord:
    """One image's input to mAP: its true boxes per class and its predictions with their TP flags."""

    n_true: np.ndarray  # (n_classes,) int
    cls: np.ndarray  # (n_pred,) int
    conf: np.ndarray  # (n_pred,) float
    tp: np.ndarray  # (n_pred, n_thresholds) bool

    def to_json(self, image: str) -> dict:
        """A compact JSON line: TP flags as one integer per prediction (bit k = threshold k)."""
        bits = (self.tp.astype(np.int64) << np.arange(self.tp.shape[1])).sum(axis=1)
        return {"image": image, "n_true": self.n_true.astype(int).tolist(), "cls": self.cls.astype(int).tolist(),
                "conf": np.round(self.conf, 6).tolist(), "tp": bits.astype(int).tolist()}

    @classmethod
    def from_json(cls, d: dict, n_thresholds: int = len(IOU_THRESHOLDS)) -> APRecord:
        bits = np.asarray(d["tp"], dtype=np.int64).reshape(-1)
        return cls(n_true=np.asarray(d["n_true"], dtype=np.int64), cls=np.asarray(d["cls"], dtype=np.int64),
                   conf=np.asarray(d["conf"], dtype=np.float64),
                   tp=((bits[:, None] >> np.arange(n_thresholds)) & 1).astype(bool))


def ap_record(n_classes: int, pred_xyxy: np.ndarray, pred_cls: np.ndarray, pred_conf: np.ndarray,
              true_xyxy: np.ndarray, true_cls: np.ndarray) -> APRecord:
    """The ``APRecord`` of one image from all its predictions (no confidence threshold)."""
    pred_cls = np.asarray(pred_cls, dtype=np.int64).reshape(-1)
    true_cls = np.asarray(true_cls, dtype=np.int64).reshape(-1)
    # Confidences rounded as ap_records.jsonl stores them, so a record read back ranks its predictions alike.
    return APRecord(n_true=np.bincount(true_cls, minlength=n_classes)[:n_classes], cls=pred_cls,
                    conf=np.round(np.asarray(pred_conf, dtype=np.float64).reshape(-1), 6),
                    tp=match_at_thresholds(pred_xyxy, pred_cls, pred_conf, true_xyxy, true_cls))


def average_precision(records: Sequence[APRecord]) -> np.ndarray:
    """AP per class and IoU threshold over ``records`` (COCO 101-point); ``nan`` for a class without true boxes.

    Returns:
        ``(n_classes, n_thresholds)`` float64.
    """
    return _average_precision(np.sum([r.n_true for r in records], axis=0), np.concatenate([r.cls for r in records]),
                              np.concatenate([r.conf for r in records]), np.concatenate([r.tp for r in records]))


def _average_precision(n_true: np.ndarray, cls: np.ndarray, conf: np.ndarray, tp: np.ndarray) -> np.ndarray:
    """:func:`average_precision` of the predictions of a set of images, concatenated in image order. Each IoU
    threshold (column of ``tp``) is computed on its own, so a slice of the columns gives their APs alone."""
    ap = np.full((len(n_true), tp.shape[1]), np.nan)
    order = np.argsort(-conf, kind="stable")  # ties in the images' order, as COCO's mergesort
    cls, tp = cls[order], tp[order]
    for c in np.flatnonzero(n_true > 0):
        hits = tp[cls == c]  # (k, T), by confidence
        for t in range(tp.shape[1]):
            rank = np.flatnonzero(hits[:, t])  # where the true positives stand
            found = np.arange(1, len(rank) + 1)
            # Precision rises only at a true positive, so the envelope (the best precision at this recall or
            # beyond) is a running maximum over them, and each recall is first reached at one of them.
            envelope = np.maximum.accumulate((found / (rank + 1))[::-1])[::-1]
            first = np.searchsorted(found / n_true[c], RECALL_POINTS, side="left")
            ap[c, t] = envelope[first[first < len(rank)]].sum() / len(RECALL_POINTS)
    return ap


def _mean_ap(ap: np.ndarray, key: str) -> float:
    """mAP50 (``key="map50"``: column 0) or mAP50-95 (every column) over the classes with true boxes."""
    present = ~np.isnan(ap[:, 0])
    if not present.any():
        return float("nan")
    return float(ap[present, 0].mean() if key == "map50" else ap[present].mean())


@dataclass(frozen=True)
class PackedAP:
    """The ``APRecord`` s of one test set in flat arrays, for mAP over many resamples of its images.

    ``map_of(images)`` equals ``map_scores([records[i] for i in images])`` to the bit (the same predictions in
    the same order go through the same computation), without rebuilding and concatenating a list per
    resample, and mAP50 alone computes one IoU threshold instead of ten: the image bootstrap of the study's
    contrasts calls it a few hundred times per run and metric.
    """

    n_true: np.ndarray  # (n_images, n_classes) int
    cls: np.ndarray  # (n_pred,) int, images one after another
    conf: np.ndarray  # (n_pred,) float
    tp: np.ndarray  # (n_pred, n_thresholds) bool
    start: np.ndarray  # (n_images,) index of each image's first prediction
    count: np.ndarray  # (n_images,) its number of predictions

    @classmethod
    def of(cls, records: Sequence[APRecord]) -> PackedAP:
        count = np.array([len(r.cls) for r in records], dtype=np.int64)
        return cls(n_true=np.stack([r.n_true for r in records]), cls=np.concatenate([r.cls for r in records]),
                   conf=np.concatenate([r.conf for r in records]), tp=np.concatenate([r.tp for r in records]),
                   start=np.cumsum(count) - count, count=count)

    def map_of(self, images: np.ndarray, key: str) -> float:
        """``map_scores`` of the images ``images`` (indices, repeats allowed, in this order) for ``key``
        (``"map50"`` or ``"map50_95"``)."""
        images = np.asarray(images, dtype=np.int64)
        if len(images) == 0:
            return float("nan")
        lengths = self.count[images]
        # The prediction indices of images[0], then images[1], ...: each image's start plus 0, 1, ...
        pred = np.repeat(self.start[images] - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())
        columns = slice(0, 1) if key == "map50" else slice(None)
        return _mean_ap(_average_precision(self.n_true[images].sum(axis=0), self.cls[pred], self.conf[pred],
                                           self.tp[pred, columns]), key)


def map_scores(records: Sequence[APRecord]) -> dict[str, float]:
    """``{"map50", "map50_95"}``: mean AP over the classes with true boxes (``nan`` when there are none)."""
    ap = average_precision(records) if records else np.zeros((0, len(IOU_THRESHOLDS)))
    return {key: _mean_ap(ap, key) for key in ("map50", "map50_95")}
