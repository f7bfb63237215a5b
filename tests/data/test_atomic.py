"""Atomic outputs: complete or absent, with the permissions a plain write would give."""

import os

import pytest

from blendaug.data.atomic import atomic_dir, atomic_write_text
from blendaug.data.errors import BlendaugError


def test_atomic_dir_appears_only_on_success(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("killed")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(out) as tmp:
        (tmp / "done.txt").write_text("x")
    assert (out / "done.txt").read_text() == "x"
    with pytest.raises(BlendaugError, match="--overwrite"):
        with atomic_dir(out):
            pass


def test_outputs_get_umask_permissions_not_mkstemp_ones(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "f").write_text("y")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


def test_the_umask_is_read_without_ever_setting_it(tmp_path, monkeypatch):
    # Setting the umask to read it (os.umask(0), then back) leaves a window where files that other threads
    # create come out world-writable. The writes must read it without calling os.umask at all.
    old = os.umask(0o027)
    try:
        def no_umask(mask):
            raise AssertionError(f"os.umask({mask:o}) called: racy with threads creating files")

        monkeypatch.setattr(os, "umask", no_umask)
        atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "f").write_text("y")
        monkeypatch.undo()
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o750
