"""blendaug's own detection metrics on hand-built boxes, with hand-computed expectations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blendaug.detection.metrics import (
    APRecord,
    PackedAP,
    ap_record,
    average_precision,
    box_iou,
    count_mape,
    image_result,
    map_scores,
    match_at_thresholds,
    match_image,
    per_image_rows,
    summarize,
)

NAMES = ["car", "van"]
SQUARE = [0.0, 0.0, 10.0, 10.0]


def _result(pred, pred_cls, pred_conf, true, true_cls, conf=0.25, iou=0.5, name="a.jpg"):
    return image_result(name, len(NAMES), np.array(pred, dtype=float).reshape(-1, 4), np.array(pred_cls),
                        np.array(pred_conf), np.array(true, dtype=float).reshape(-1, 4), np.array(true_cls),
                        conf, iou)


def _summary(*results):
    return summarize(list(results), NAMES)


def test_box_iou_exact_values():
    a = np.array([[0, 0, 2, 2], [0, 0, 10, 10]])
    b = np.array([[1, 1, 3, 3], [20, 20, 30, 30], [0, 0, 10, 10]])
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou, [[1 / 7, 0, 0.04], [0.04, 0, 1.0]])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)


def test_perfect_predictions():
    s = _summary(_result([SQUARE, [20, 20, 30, 40]], [0, 1], [0.9, 0.8], [SQUARE, [20, 20, 30, 40]], [0, 1]))
    assert (s["tp"], s["fp"], s["fn"]) == (2, 0, 0)
    assert s["avg_iou_darknet"] == 1.0 and s["mean_matched_iou"] == 1.0 and s["count_mape"] == 0.0
    assert s["per_class"]["car"]["tp"] == 1 and s["per_class"]["van"]["tp"] == 1


def test_shifted_box_below_and_above_threshold():
    # x-shift by 5: intersection 50, union 150 -> IoU 1/3 < 0.5: one false positive and one miss.
    s = _summary(_result([[5, 0, 15, 10]], [0], [0.9], [SQUARE], [0]))
    assert (s["tp"], s["fp"], s["fn"]) == (0, 1, 1)
    assert s["avg_iou_darknet"] == 0.0
    assert math.isnan(s["mean_matched_iou"])
    assert s["count_mape"] == 0.0  # one predicted, one true: the count is right even if the box is not
    # x-shift by 2: intersection 80, union 120 -> IoU 2/3 >= 0.5: a true positive with IoU 2/3.
    s = _summary(_result([[2, 0, 12, 10]], [0], [0.9], [SQUARE], [0]))
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 0)
    assert s["avg_iou_darknet"] == pytest.approx(2 / 3) and s["mean_matched_iou"] == pytest.approx(2 / 3)
    # With --iou 0.3 the 1/3 overlap matches.
    s = _summary(_result([[5, 0, 15, 10]], [0], [0.9], [SQUARE], [0], iou=0.3))
    assert s["tp"] == 1 and s["avg_iou_darknet"] == pytest.approx(1 / 3)


def test_missing_prediction():
    s = _summary(_result([SQUARE], [0], [0.9], [SQUARE, [50, 50, 60, 60]], [0, 0]))
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 1)
    assert s["avg_iou_darknet"] == 1.0 and s["mean_matched_iou"] == 1.0
    assert s["count_mape"] == 50.0  # |1 - 2| / 2


def test_extra_prediction():
    s = _summary(_result([SQUARE, [50, 50, 60, 60]], [0, 0], [0.9, 0.7], [SQUARE], [0]))
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 0)
    assert s["avg_iou_darknet"] == 0.5  # (1 + 0) / (1 TP + 1 FP)
    assert s["mean_matched_iou"] == 1.0
    assert s["count_mape"] == 100.0  # |2 - 1| / 1


def test_wrong_class_is_a_false_positive_and_a_miss():
    s = _summary(_result([SQUARE], [1], [0.9], [SQUARE], [0]))
    assert (s["tp"], s["fp"], s["fn"]) == (0, 1, 1)
    assert s["avg_iou_darknet"] == 0.0
    assert s["count_mape"] == 0.0  # overall counts ignore the class
    car, van = s["per_class"]["car"], s["per_class"]["van"]
    assert (car["tp"], car["fp"], car["fn"], car["count_mape"]) == (0, 0, 1, 100.0)
    assert (van["tp"], van["fp"], van["fn"]) == (0, 1, 0)
    assert math.isnan(van["count_mape"])  # no image holds a van: undefined, not 0
    assert math.isnan(van["mean_matched_iou"]) and van["avg_iou_darknet"] == 0.0


def test_duplicate_predictions_match_in_confidence_order():
    # Both overlap the one true box; the MORE confident one (IoU 2/3) takes it, the better-fitting one is a duplicate.
    s = _summary(_result([[2, 0, 12, 10], SQUARE], [0, 0], [0.9, 0.8], [SQUARE], [0]))
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 0)
    assert s["mean_matched_iou"] == pytest.approx(2 / 3)
    assert s["avg_iou_darknet"] == pytest.approx(1 / 3)
    # Swap the confidences: now the exact box wins.
    s = _summary(_result([[2, 0, 12, 10], SQUARE], [0, 0], [0.8, 0.9], [SQUARE], [0]))
    assert s["mean_matched_iou"] == 1.0 and s["avg_iou_darknet"] == 0.5


def test_prediction_takes_the_best_overlapping_free_box():
    truths = [[0, 0, 10, 10], [4, 0, 14, 10]]  # pred [3,0,13,10]: IoU 7/13 with the first, 9/11 with the second
    matched = match_image(np.array([[3, 0, 13, 10]]), np.array([0]), np.array([0.9]), np.array(truths),
                          np.array([0, 0]), 0.5)
    assert matched[0] == pytest.approx(9 / 11)


def test_confidence_threshold_drops_weak_predictions():
    r = _result([SQUARE, [50, 50, 60, 60]], [0, 0], [0.9, 0.2], [SQUARE], [0], conf=0.25)
    assert int(r.n_pred.sum()) == 1 and int(r.fp.sum()) == 0
    r = _result([SQUARE, [50, 50, 60, 60]], [0, 0], [0.9, 0.25], [SQUARE], [0], conf=0.25)
    assert int(r.n_pred.sum()) == 2  # >= threshold is kept


def test_count_mape_skips_images_without_objects():
    a = _result([SQUARE], [0], [0.9], [SQUARE, [50, 50, 60, 60]], [0, 0], name="a")  # 1 vs 2: 50 %
    b = _result([SQUARE, SQUARE, SQUARE], [0, 0, 0], [0.9, 0.9, 0.9], [], [], name="b")  # no objects: left out
    c = _result([[0, 0, 5, 5]] * 5, [0] * 5, [0.9] * 5, [[0, 0, 5, 5], [20, 0, 25, 5], [40, 0, 45, 5],
                                                           [60, 0, 65, 5]], [0] * 4, name="c")  # 5 vs 4: 25 %
    s = _summary(a, b, c)
    assert s["count_mape"] == pytest.approx(37.5)
    assert count_mape(np.array([3, 0]), np.array([0, 0])) != count_mape(np.array([3, 0]), np.array([0, 0]))  # nan
    rows = per_image_rows([a, b, c])
    assert [r["image"] for r in rows] == ["a", "b", "c"]
    assert rows[0] == {"image": "a", "n_true": 2, "n_pred": 1, "tp": 1, "fp": 0, "fn": 1, "iou_sum": 1.0,
                       "count_ape": 50.0}
    assert math.isnan(rows[1]["count_ape"]) and rows[1]["fp"] == 3
    assert rows[2]["tp"] == 1 and rows[2]["fp"] == 4 and rows[2]["count_ape"] == 25.0


def test_no_images_gives_zero_counts_and_undefined_ratios():
    s = summarize([], NAMES)
    assert (s["tp"], s["fp"], s["fn"]) == (0, 0, 0)
    assert math.isnan(s["avg_iou_darknet"]) and math.isnan(s["count_mape"])


def _boxes(*rows):
    return np.array(rows, dtype=float).reshape(-1, 4)


def test_match_at_thresholds_follows_the_iou_of_each_match():
    # IoU of [0, 0, 10, 10] with [0, 0, 10, 7] is 0.70: a TP at 0.50 ... 0.70, a FP above.
    tp = match_at_thresholds(_boxes([0, 0, 10, 7]), np.array([0]), np.array([0.9]), _boxes(SQUARE), np.array([0]))
    assert tp[0].tolist() == [True] * 5 + [False] * 5


def test_match_at_thresholds_goes_by_confidence_not_by_iou():
    # The confident prediction overlaps less (0.8) than the weak one (1.0) but is matched first: COCO's rule.
    pred = _boxes([0, 0, 10, 8], SQUARE)
    tp = match_at_thresholds(pred, np.array([0, 0]), np.array([0.9, 0.3]), _boxes(SQUARE), np.array([0]))
    assert tp[:, 0].tolist() == [True, False]
    assert tp[:, 7].tolist() == [False, True]  # at IoU 0.85 the first no longer matches and the second takes the box
    wrong_class = match_at_thresholds(_boxes(SQUARE), np.array([1]), np.array([0.9]), _boxes(SQUARE), np.array([0]))
    assert not wrong_class.any()


def test_ap_hand_computed():
    # Two true boxes; predictions TP (0.9), FP (0.8), TP (0.7): precision 1 up to recall 0.5, then 2/3 up to 1.
    rec = ap_record(1, _boxes(SQUARE, [50, 50, 60, 60], [20, 20, 30, 30]), np.array([0, 0, 0]),
                    np.array([0.9, 0.8, 0.7]), _boxes(SQUARE, [20, 20, 30, 30]), np.array([0, 0]))
    expected = (51 * 1.0 + 50 * 2 / 3) / 101  # COCO's 101 recall points: 0.00..0.50 and 0.51..1.00
    assert math.isclose(map_scores([rec])["map50"], expected)
    # Split over two images, the same predictions give the same AP: it is computed over the pooled ranking.
    a = ap_record(1, _boxes(SQUARE, [50, 50, 60, 60]), np.array([0, 0]), np.array([0.9, 0.8]), _boxes(SQUARE),
                  np.array([0]))
    b = ap_record(1, _boxes([20, 20, 30, 30]), np.array([0]), np.array([0.7]), _boxes([20, 20, 30, 30]),
                  np.array([0]))
    assert math.isclose(map_scores([a, b])["map50"], expected)


def test_ap_envelope_takes_the_best_precision_at_a_later_recall():
    # Four true boxes; ranked TP, FP, FP, TP, TP: precision 1/1 at recall 0.25, then 2/4 at 0.5 and 3/5 at 0.75,
    # so the envelope is 1 up to recall 0.25 and 0.6 (the later, higher precision) from there to 0.75.
    rec = APRecord(n_true=np.array([4]), cls=np.zeros(5, dtype=int), conf=np.array([0.9, 0.8, 0.7, 0.6, 0.5]),
                   tp=np.array([[1], [0], [0], [1], [1]], dtype=bool))
    assert math.isclose(average_precision([rec])[0, 0], (26 * 1.0 + 50 * 0.6) / 101)


def test_packed_records_give_the_map_of_every_resample_to_the_bit():
    rng = np.random.default_rng(0)
    records = []
    for i in range(12):
        k = 0 if i % 5 == 0 else int(rng.integers(1, 20))  # some images without predictions
        n_true = rng.integers(0, 4, 3) * (np.arange(3) < 2)  # class 2 has no true boxes anywhere
        records.append(APRecord(n_true=n_true, cls=rng.integers(0, 3, k), conf=np.round(rng.random(k), 2),  # ties
                                tp=rng.random((k, 10)) < np.linspace(0.6, 0.1, 10)))
    packed = PackedAP.of(records)
    for row in [np.arange(12), *rng.integers(0, 12, size=(30, 12)), np.array([3, 3, 3]), np.array([0])]:
        expected = map_scores([records[i] for i in row])
        for key in ("map50", "map50_95"):
            got = packed.map_of(row, key)
            assert got == expected[key] or (math.isnan(got) and math.isnan(expected[key])), (row, key)
    assert math.isnan(packed.map_of(np.array([], dtype=int), "map50"))


def test_ap_edge_cases():
    perfect = ap_record(2, _boxes(SQUARE), np.array([0]), np.array([0.5]), _boxes(SQUARE), np.array([0]))
    assert map_scores([perfect]) == {"map50": 1.0, "map50_95": 1.0}
    # A class with true boxes but no prediction scores 0; a class without true boxes is left out (nan).
    missed = ap_record(2, _boxes(), np.array([]), np.array([]), _boxes(SQUARE), np.array([1]))
    ap = average_precision([perfect, missed])
    assert ap[0, 0] == 1.0 and ap[1, 0] == 0.0
    assert map_scores([perfect, missed])["map50"] == 0.5
    nothing = ap_record(2, _boxes(SQUARE), np.array([0]), np.array([0.5]), _boxes(), np.array([]))
    assert math.isnan(map_scores([nothing])["map50"]) and math.isnan(map_scores([])["map50"])


def test_ap_record_json_round_trip():
    rec = ap_record(2, _boxes([0, 0, 10, 7], SQUARE), np.array([0, 1]), np.array([0.123456789, 0.5]),
                    _boxes(SQUARE), np.array([0]))
    back = APRecord.from_json(rec.to_json("a.jpg"))
    assert rec.to_json("a.jpg")["image"] == "a.jpg"
    for field in ("n_true", "cls", "conf", "tp"):
        assert np.array_equal(getattr(back, field), getattr(rec, field)), field
