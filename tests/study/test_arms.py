"""Arms as data: presets build today's datasets, new arms need only config, replace keeps the set size."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from blendaug.study.config_io import load_config
from blendaug.study.executor import LocalExecutor
from blendaug.study.graph import build_plan

# Tiny: a 1-epoch GAN on 12 toyworld images; only the nodes up to the arm datasets run.
TINY = ["dataset.toyworld.images=12", "dataset.toyworld.size=128", "gan.epochs=1", "gan.snapshots=[1]",
        "gan.score_n=10", "synthetic.samples_per_class=10", "synthetic.placement=uniform"]


def tree_digest(root: Path) -> dict[str, str]:
    """Bytes of every image and label file under ``root`` (the files a detector trains on)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.parts[-3] in ("images", "labels")}


def build_arms(run: Path, *overrides: str):
    plan = build_plan(load_config("configs/smoke.yaml", [*TINY, *overrides]), run)
    LocalExecutor().run([n for n in plan.nodes if n.kind in ("data", "subset", "crops", "generator", "samples",
                                                             "arm")])
    return plan


@pytest.fixture(scope="module")
def preset_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("arms") / "run"
    return build_arms(run, "arms=[baseline, blended_mixed, paste_real, classical]")


def test_presets_build_what_the_stages_build_when_called_directly(preset_run, tmp_path):
    from blendaug.compositing.compose import CompositeConfig
    from blendaug.compositing.run import run_composite
    from blendaug.data.yolo import read_yolo
    from blendaug.study.classical import write_classical_dataset

    node = {n.id: n for n in preset_run.nodes}
    data = node["data"].folder / "dataset" / "data.yaml"
    # The calls the study made for these arms before arms were data (seed 0, copies 1, smoke's paste settings,
    # uniform placement as it was then).
    paste = CompositeConfig(per_image=(1, 2), blend="gaussian", mask="rect", placement="uniform")
    run_composite(data, node["samples/mixed/seed0"].folder / "crops", tmp_path / "gan", paste, seed=0, copies=1,
                  progress=False)
    run_composite(data, node["crops"].folder / "train", tmp_path / "real", paste, seed=0, copies=1, progress=False)
    write_classical_dataset(read_yolo(data), tmp_path / "classical", 1, 0)
    for arm, ref in (("blended_mixed", "gan"), ("paste_real", "real"), ("classical", "classical")):
        built = tree_digest(node[f"arms/{arm}/seed0"].folder / "dataset")
        assert built and built == tree_digest(tmp_path / ref), arm
    assert tree_digest(node["arms/blended_mixed/seed1"].folder / "dataset") != tree_digest(tmp_path / "gan")


def test_a_new_arm_needs_only_config(tmp_path):
    plan = build_arms(tmp_path / "run", "arms={baseline: {}, gan_box_x2: {source: gan, tier: mixed, blend: box, "
                                        "ratio: 2}, real_replace: {source: real_crops, mode: replace}}",
                      "seeds=[0]")
    from blendaug.data.yolo import read_yolo

    node = {n.id: n for n in plan.nodes}
    real = len(read_yolo(node["data"].folder / "dataset" / "data.yaml").split("train"))
    doubled = read_yolo(node["arms/gan_box_x2/seed0"].folder / "dataset" / "data.yaml").split("train")
    replaced = read_yolo(node["arms/real_replace/seed0"].folder / "dataset" / "data.yaml").split("train")
    assert len(doubled) == 3 * real  # the real images plus two composites of each
    assert len(replaced) == real  # mode replace keeps the training-set size
    assert all("__cp" in str(r.rel_path) for r in replaced)
    assert {"detect/gan_box_x2/seed0", "detect/real_replace/seed0"} <= set(node)
