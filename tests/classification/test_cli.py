"""``blendaug classify train|eval`` as subprocesses, the way users run them."""

from __future__ import annotations

import json


def test_train_then_eval_reproduces_the_test_metrics(run_cli, crops, tmp_path):
    out = tmp_path / "run"
    proc = run_cli("classify", "train", crops, out, "--model", "smallcnn", "--size", "16", "--epochs", "1",
                   "--batch", "8", "--device", "cpu", "--classes", "car,van", "--val", "0.25", "--test", "0.25",
                   "--train-per-class", "4", check=True)
    assert "test acc" in proc.stdout
    trained = json.loads((out / "metrics.json").read_text())
    assert trained["classes"] == ["car", "van"] and trained["train_set"]["n_real"] == 8
    ev = run_cli("classify", "eval", out, crops, "--split", "test", "--device", "cpu", check=True)
    assert "accuracy" in ev.stdout
    evaluated = json.loads((out / "eval_test" / "metrics.json").read_text())["test"]
    assert evaluated == trained["test"]  # the same held-out images, the same best weights
    assert (out / "eval_test" / "confusion_matrix.png").is_file()


def test_user_errors_are_one_line_without_output(run_cli, tmp_path, crop_writer):
    one = crop_writer(tmp_path / "one", {"car": 6})
    proc = run_cli("classify", "train", one, tmp_path / "out", "--device", "cpu")
    assert proc.returncode == 2
    assert "at least 2" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
    proc = run_cli("classify", "eval", tmp_path / "nowhere", one)
    assert proc.returncode == 2 and "not a classifier run folder" in proc.stderr and "Traceback" not in proc.stderr


def test_help_lists_train_and_eval(run_cli):
    proc = run_cli("classify", "--help", check=True)
    assert "train" in proc.stdout and "eval" in proc.stdout
