"""``dataset.skip_bad``: one corrupt image in a user's folder stops the study's data node with the file named, or,
when the user asks for it, is skipped, counted, and shown in the report's Data section."""

from __future__ import annotations

import json

import pytest

from blendaug.data.errors import BlendaugError
from blendaug.data.toyworld import ToyworldConfig, generate_toyworld
from blendaug.study.config_io import load_config
from blendaug.study.graph import build_plan
from blendaug.study.reportparts import data_section


@pytest.fixture
def folder_with_a_corrupt_image(tmp_path):
    src = generate_toyworld(tmp_path / "tw", ToyworldConfig(n_images=24, seed=0, size=128))
    broken = sorted((src.parent / "images" / "train").glob("*.jpg"))[3]
    broken.write_bytes(broken.read_bytes()[:200])  # truncated: a JPEG header and nothing else
    return src, broken


def data_node(tmp_path, src, *overrides):
    cfg = load_config("configs/smoke.yaml", ["dataset.source=path", f"dataset.path={src}", "dataset.format=yolo",
                                             *overrides])
    plan = build_plan(cfg, tmp_path / "run")
    return plan, next(n for n in plan.nodes if n.kind == "data")


def test_a_corrupt_image_stops_the_data_node_naming_the_file(tmp_path, folder_with_a_corrupt_image):
    src, broken = folder_with_a_corrupt_image
    _, node = data_node(tmp_path, src)
    with pytest.raises(BlendaugError, match=broken.name) as err:
        node.fn(**node.kwargs)
    assert "blendaug data check" in str(err.value) and "dataset.skip_bad=true" in str(err.value)
    assert "\n" not in str(err.value)
    assert not (node.folder / "dataset").exists()  # nothing half-written


def test_skip_bad_skips_counts_and_reports_the_corrupt_image(tmp_path, folder_with_a_corrupt_image):
    src, broken = folder_with_a_corrupt_image
    plan, node = data_node(tmp_path, src, "dataset.skip_bad=true")
    node.fn(**node.kwargs)
    images = [p for split in ("train", "val", "test") for p in (node.folder / "dataset" / "images" / split).glob("*")]
    assert len(images) == 23 and broken.name not in {p.name for p in images}
    counts = json.loads((node.folder / "warnings.json").read_text(encoding="utf-8"))["counts"]
    assert sum(counts.values()) == 1
    sec = data_section(plan)
    assert len(sec.paragraphs) == 1 and "skipped or warned 1 x" in sec.paragraphs[0]
    assert broken.name in sec.paragraphs[0]
    table = sec.tables[0][1]
    assert table[["train images", "val images", "test images"]].to_numpy().sum() == 23
