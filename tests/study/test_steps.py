import json

from blendaug.study.steps import DONE, fingerprint, run_step


def test_fingerprint_is_stable_and_order_free():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_finished_step_is_skipped_and_changed_key_reruns(tmp_path):
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "out.txt").write_text(str(len(calls)))

    first = run_step(tmp_path / "s", {"k": 1}, build)
    again = run_step(tmp_path / "s", {"k": 1}, build)
    assert not first.skipped and again.skipped and len(calls) == 1
    changed = run_step(tmp_path / "s", {"k": 2}, build)
    assert not changed.skipped and (tmp_path / "s" / "out.txt").read_text() == "2"
    assert json.loads((tmp_path / "s" / DONE).read_text())["key"] == {"k": 2}


def test_killed_step_keeps_its_folder_to_resume(tmp_path):
    def crash(folder):
        (folder / "checkpoint").write_text("epoch 3")
        raise RuntimeError("killed")

    try:
        run_step(tmp_path / "s", {"k": 1}, crash)
    except RuntimeError:
        pass
    assert not (tmp_path / "s" / DONE).exists()
    seen = []
    run_step(tmp_path / "s", {"k": 1}, lambda f: seen.append((f / "checkpoint").read_text()))
    assert seen == ["epoch 3"]
    # A different key must not resume from the old checkpoint.
    seen.clear()
    run_step(tmp_path / "s2", {"k": 1}, lambda f: (f / "checkpoint").write_text("x"))
    try:
        run_step(tmp_path / "s2", {"k": 9}, crash)
    except RuntimeError:
        pass
    run_step(tmp_path / "s2", {"k": 1}, lambda f: seen.append((f / "checkpoint").exists()))
    assert seen == [False]
