"""``blendaug detect`` end to end on a tiny dataset, on CPU, as users run it (subprocesses)."""

from __future__ import annotations

import csv
import json
import math

import yaml

from blendaug.detection.metrics import APRecord, map_scores

METRIC_KEYS = ("map50", "map50_95", "precision", "recall", "tp", "fp", "fn", "avg_iou_darknet", "mean_matched_iou",
               "count_mape")
CSV_COLUMNS = ["image", "n_true", "n_pred", "tp", "fp", "fn", "iou_sum", "count_ape"]


def _check_metrics(m: dict, n_images: int, n_objects: int, names: list[str]) -> None:
    assert m["split"] == "test" and m["n_images"] == n_images and m["n_objects"] == n_objects
    for block in (m, *m["per_class"].values()):
        for key in ("map50", "map50_95", "precision", "recall"):
            assert block[key] is None or 0.0 <= block[key] <= 1.0, key
        for key in ("avg_iou_darknet", "mean_matched_iou"):
            assert block[key] is None or 0.0 <= block[key] <= 1.0, key
        assert block["count_mape"] is None or block["count_mape"] >= 0.0
        assert all(isinstance(block[k], int) and block[k] >= 0 for k in ("tp", "fp", "fn"))
    assert list(m["per_class"]) == names
    assert m["tp"] + m["fn"] == n_objects
    assert sum(c["tp"] for c in m["per_class"].values()) == m["tp"]
    assert sum(c["n_objects"] for c in m["per_class"].values()) == n_objects
    assert m["versions"]["ultralytics"] and m["conf"] == 0.25 and m["iou"] == 0.5


def test_train_eval_predict(run_cli, rect_data, tmp_path):
    run = tmp_path / "run"
    proc = run_cli("detect", "train", rect_data, run, "--epochs", "2", "--imgsz", "128", "--batch", "4",
                   "--seed", "1", "--device", "cpu", "plots=False", "workers=0", check=True)
    assert "trained 2 epochs" in proc.stdout
    record = json.loads((run / "run.json").read_text())
    assert (run / record["weights"]).is_file() and record["weights"] == "weights/best.pt"
    assert record["seed"] == 1 and record["device"] == "cpu" and record["args"]["epochs"] == 2
    assert record["args"]["optimizer"] == "SGD" and record["args"]["plots"] is False  # recipe + key=value
    assert record["n_images"] == {"train": 12, "val": 4} and record["wall_s"] > 0
    assert {"torch", "ultralytics", "numpy"} <= set(record["versions"])
    trained_on = yaml.safe_load((run / "data" / "data.yaml").read_text())
    assert trained_on["path"] == str(run / "data") and "test" not in trained_on
    assert "/images/val/" in (run / "data" / trained_on["val"]).read_text()
    assert not list((rect_data.parent / "labels").glob("*.cache"))  # no cache left to leak into another dataset
    assert not list(tmp_path.glob(".tmp-*")) and not (tmp_path / "runs").exists()

    from blendaug.detection.yolo import _model

    seeded = _model("yolov8n.yaml", run / "weights" / "best.pt")  # what --weights does before training
    assert seeded.ckpt is not None and str(seeded.ckpt_path).endswith("best.pt")

    # A finished run with the same request is a no-op; another request needs --overwrite.
    again = run_cli("detect", "train", rect_data, run, "--epochs", "2", "--imgsz", "128", "--batch", "4",
                    "--seed", "1", "--device", "cpu", "plots=False", "workers=0", check=True)
    assert "trained 2 epochs" in again.stdout
    other = run_cli("detect", "train", rect_data, run, "--epochs", "3", "--device", "cpu")
    assert other.returncode == 2 and "--overwrite" in other.stderr

    proc = run_cli("detect", "eval", run / "weights" / "best.pt", rect_data, "--split", "test", "--device", "cpu",
                   check=True)
    out = run / "eval_test"
    m = json.loads((out / "metrics.json").read_text())
    truth = [len(p.read_text().splitlines()) for p in sorted((rect_data.parent / "labels" / "test").glob("*.txt"))]
    _check_metrics(m, 4, sum(truth), ["red", "blue"])
    with open(out / "per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == CSV_COLUMNS
    assert [r["image"] for r in rows] == [f"test_{i:03d}.png" for i in range(4)]
    assert [int(r["n_true"]) for r in rows] == truth
    assert sum(int(r["tp"]) for r in rows) == m["tp"] and sum(int(r["fp"]) for r in rows) == m["fp"]
    apes = [abs(int(r["n_pred"]) - int(r["n_true"])) / int(r["n_true"]) * 100 for r in rows]
    assert math.isclose(sum(apes) / len(apes), m["count_mape"])
    ap_lines = [json.loads(line) for line in (out / "ap_records.jsonl").read_text().splitlines()]
    assert [d["image"] for d in ap_lines] == [r["image"] for r in rows]
    assert [sum(d["n_true"]) for d in ap_lines] == truth
    records = [APRecord.from_json(d) for d in ap_lines]
    assert all(len(r.cls) == len(r.conf) == len(r.tp) for r in records)
    scores = map_scores(records)
    for key in ("map50", "map50_95"):
        stored = m[f"{key}_recomputed"]  # null in JSON when undefined
        assert (stored is None and math.isnan(scores[key])) or math.isclose(scores[key], stored, abs_tol=1e-12)

    pred = tmp_path / "pred"
    proc = run_cli("detect", "predict", run / "weights" / "best.pt", rect_data.parent / "images" / "test", pred,
                   "--conf", "0.001", "--device", "cpu", check=True)
    assert "predicted 4 images" in proc.stdout
    labels = sorted((pred / "labels").glob("*.txt"))
    assert [p.stem for p in labels] == [f"test_{i:03d}" for i in range(4)]
    assert sorted(p.name for p in (pred / "images").iterdir()) == [f"test_{i:03d}.png" for i in range(4)]
    for line in "".join(p.read_text() for p in labels).splitlines():
        fields = line.split()
        assert len(fields) == 6 and int(fields[0]) in (0, 1)
        assert all(0.0 <= float(v) <= 1.0 for v in fields[1:])


def test_bad_inputs_give_one_line_errors(run_cli, rect_data, tmp_path):
    fake = tmp_path / "fake.pt"
    fake.write_text("not torch")
    proc = run_cli("detect", "eval", fake, rect_data, "--device", "cpu")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {fake}: not a YOLO checkpoint")
    empty = tmp_path / "empty"
    (empty / "images" / "test").mkdir(parents=True)
    cfg = {"path": str(empty), "train": str(rect_data.parent / "images/train"), "val": "images/test",
           "test": "images/test", "names": ["red", "blue"]}
    (empty / "data.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_cli("detect", "eval", fake, empty / "data.yaml", "--device", "cpu")
    assert proc.returncode == 2 and "holds no images" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("detect", "train", rect_data, tmp_path / "r", "--device", "cpu", "mosiac=0")
    assert proc.returncode == 2 and "did you mean mosaic" in proc.stderr
    assert not (tmp_path / "r").exists()
