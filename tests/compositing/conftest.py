"""Fixtures for the compositing tests; the builders live in builders.py so test modules can import them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compositing.builders import make_backgrounds, make_crops


@pytest.fixture
def backgrounds(tmp_path) -> Path:
    return make_backgrounds(tmp_path)


@pytest.fixture
def gan_crops(tmp_path) -> Path:
    return make_crops(tmp_path, "gan")
