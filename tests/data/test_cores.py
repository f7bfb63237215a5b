"""The one thread rule the detector and the classifier share (blendaug.data.cores)."""

from __future__ import annotations

import os

import pytest

from blendaug.data.cores import THREADS_VAR, torch_threads, usable_cores
from blendaug.data.errors import ConfigError


def test_usable_cores_follow_the_cpu_affinity():
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this OS")
    mask = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(mask)})
        assert usable_cores() == 1
    finally:
        os.sched_setaffinity(0, mask)
    assert usable_cores() == len(mask)


def test_torch_threads_default_to_every_usable_core(monkeypatch):
    monkeypatch.delenv(THREADS_VAR, raising=False)
    assert torch_threads() == usable_cores()
    monkeypatch.setenv(THREADS_VAR, " ")
    assert torch_threads() == usable_cores()


def test_torch_threads_take_the_executors_value(monkeypatch):
    monkeypatch.setenv(THREADS_VAR, "3")
    assert torch_threads() == 3


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_a_bad_thread_count_is_a_config_error_naming_the_variable(monkeypatch, bad):
    monkeypatch.setenv(THREADS_VAR, bad)
    with pytest.raises(ConfigError, match=f"{THREADS_VAR}: expected a positive integer, got '{bad}'"):
        torch_threads()
