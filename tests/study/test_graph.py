"""The study graph: fingerprints follow exactly what each node reads; sweeps share the nodes they should."""

from __future__ import annotations

from collections import Counter
from fnmatch import fnmatch

import pytest

from blendaug.data.cores import usable_cores
from blendaug.study import costs
from blendaug.study.config_io import load_config
from blendaug.study.executor import LocalExecutor
from blendaug.study.graph import build_plan

ARMS = "arms=[baseline, blended_mixed, paste_real, classical]"


def plan(tmp_path, *overrides):
    return build_plan(load_config("configs/smoke.yaml", [ARMS, *overrides]), tmp_path / "run")


def fingerprints(tmp_path, *overrides) -> dict[str, str]:
    return {n.id: n.fingerprint for n in plan(tmp_path, *overrides).nodes}


# For each setting: the nodes that read it, directly or through their inputs (hand-written, not derived).
CHANGES = {
    "synthetic.ratio=2": ["arms/blended_mixed/*", "arms/paste_real/*", "arms/classical/*", "detect/blended_mixed/*",
                          "detect/paste_real/*", "detect/classical/*", "classify/classical/*"],
    "synthetic.blend=box": ["arms/blended_mixed/*", "arms/paste_real/*", "detect/blended_mixed/*",
                            "detect/paste_real/*"],
    "synthetic.mode=replace": ["arms/blended_mixed/*", "arms/paste_real/*", "arms/classical/*",
                               "detect/blended_mixed/*", "detect/paste_real/*", "detect/classical/*"],
    "synthetic.samples_per_class=7": ["samples/*", "arms/blended_mixed/*", "detect/blended_mixed/*",
                                      "classify/blended_mixed/*"],
    "gan.score_n=11": ["gan/*", "samples/*", "arms/blended_mixed/*", "detect/blended_mixed/*",
                       "classify/blended_mixed/*"],
    "crops.pad=0.2": ["crops", "gan/*", "samples/*", "arms/blended_mixed/*", "arms/paste_real/*",
                      "detect/blended_mixed/*", "detect/paste_real/*", "classify/*"],
    "detection.epochs=3": ["detect/*"],
    "detection.conf=0.3": ["detect/*"],
    "classification.epochs=3": ["classify/*"],
    "classification.synthetic_ratio=2": ["classify/blended_mixed/*"],
    "dataset.split.seed=3": ["*"],
}


@pytest.mark.parametrize("override", list(CHANGES))
def test_a_changed_setting_changes_exactly_the_nodes_that_read_it(tmp_path, override):
    before = fingerprints(tmp_path)
    after = fingerprints(tmp_path, override)
    assert set(before) == set(after)
    changed = {i for i in before if before[i] != after[i]}
    expected = {i for i in before if any(fnmatch(i, p) for p in CHANGES[override])}
    assert changed == expected


def test_the_classical_classifier_reads_the_number_of_copies(tmp_path):
    # The bug this design removes: the classical arm's classifier used synthetic.copies without hashing it.
    before = fingerprints(tmp_path)
    after = fingerprints(tmp_path, "synthetic.copies=2")
    assert before["classify/classical/seed0"] != after["classify/classical/seed0"]
    assert before["classify/baseline/seed0"] == after["classify/baseline/seed0"]


def test_nodes_receive_only_their_params_and_inputs(tmp_path):
    p = plan(tmp_path)
    for node in p.nodes:
        assert set(node.kwargs) == {"folder", "key", "params", "inputs"}
        assert node.kwargs["key"]["params"] == node.kwargs["params"]
        assert set(node.kwargs["key"]["inputs"]) == set(node.kwargs["inputs"])
        assert all(d in {n.id for n in p.nodes} for d in node.deps)


def test_replicate_levels_decide_what_each_seed_redraws(tmp_path):
    ids = {lvl: {n.id for n in plan(tmp_path, f"replicate={lvl}", "dataset.train_size=4").nodes}
           for lvl in ("training", "synthetic", "full")}
    assert {"subset", "crops", "gan/cdcgan", "samples/mixed", "arms/blended_mixed"} <= ids["training"]
    assert {"samples/mixed/seed0", "samples/mixed/seed1", "arms/paste_real/seed1", "gan/cdcgan"} <= ids["synthetic"]
    assert {"subset/seed0", "subset/seed1", "crops/seed1", "gan/cdcgan/seed0", "gan/cdcgan/seed1",
            "samples/mixed/seed1"} <= ids["full"]
    assert "data" in ids["full"]  # the split itself never changes with the seed: the test set stays fixed


def test_a_ratio_sweep_shares_everything_upstream_of_the_arms(tmp_path):
    p = plan(tmp_path, "sweep={synthetic.ratio: [1, 2]}")
    kinds = Counter(n.kind for n in p.nodes)
    assert kinds["data"] == kinds["crops"] == kinds["generator"] == 1
    assert kinds["samples"] == 2  # one per seed (replicate: synthetic)
    assert kinds["arm"] == 3 * 2 * 2  # three arms with synthetic data x two seeds x two cells
    ids = {n.id for n in p.nodes}
    assert {"detect/baseline/seed0", "classify/blended_mixed/seed0", "arms/classical/seed0/ratio=2"} <= ids
    assert p.jobs[("ratio=1", "detection", "baseline", 0)] is p.jobs[("ratio=2", "detection", "baseline", 0)]


def test_a_train_size_sweep_shares_the_split_and_runs_it_once(tmp_path):
    p = plan(tmp_path, "sweep={dataset.train_size: [2, 3]}", "dataset.toyworld.images=12")
    ids = {n.id for n in p.nodes}
    assert {"data", "subset/train_size=2", "subset/train_size=3", "gan/cdcgan/train_size=2",
            "detect/baseline/seed1/train_size=3"} <= ids
    events = []
    upstream = [n for n in p.nodes if n.kind in ("data", "subset")]
    LocalExecutor().run(upstream, on_event=lambda e: events.append((e.node.id, e.state)))
    ran = Counter(i for i, state in events if state == "done")
    assert ran == {"data": 1, "subset/train_size=2": 1, "subset/train_size=3": 1}
    from blendaug.data.yolo import read_yolo

    splits = {n.id: read_yolo(n.folder / "dataset" / "data.yaml") for n in upstream}
    assert len(splits["subset/train_size=2"].split("train")) == 2
    assert len(splits["subset/train_size=3"].split("train")) == 3
    tests = {k: sorted(str(r.rel_path) for r in ds.split("test")) for k, ds in splits.items()}
    assert tests["subset/train_size=2"] == tests["subset/train_size=3"] == tests["data"]


def test_arms_differing_only_in_blend_train_the_same_classifier_and_the_verdict_says_so(tmp_path):
    from blendaug.study.reportparts import same_jobs

    p = plan(tmp_path, "arms={baseline: {}, g: {source: gan, blend: gaussian}, p: {source: gan, blend: poisson}}")
    assert same_jobs(p, [0, 1], "", "classification", "p", "g")  # crops: the classifier never sees the blend
    assert not same_jobs(p, [0, 1], "", "detection", "p", "g")
    assert not same_jobs(p, [0, 1], "", "classification", "p", "baseline")


def test_images_seen_changes_only_the_detectors_and_keeps_old_fingerprints_when_unset(tmp_path):
    before = fingerprints(tmp_path)
    assert fingerprints(tmp_path, "detection.epochs=1") != before  # the smoke config's detectors read epochs
    p = plan(tmp_path)
    assert "images_seen" not in next(n for n in p.nodes if n.kind == "detect").kwargs["params"]["detection"]
    after = fingerprints(tmp_path, "detection.images_seen=40")
    changed = {i for i in before if before[i] != after[i]}
    assert changed == {i for i in before if i.startswith("detect/")}


def test_images_seen_over_a_train_size_is_the_epochs_it_comes_to(tmp_path):
    # A sweep moved from epochs to images_seen keeps the cells whose budget it leaves unchanged (their detectors
    # are not retrained) and retrains only the others.
    sweep, size = "sweep={dataset.train_size: [2, 3]}", "dataset.toyworld.images=12"
    by_epochs = fingerprints(tmp_path, sweep, size, "detection.epochs=6")
    by_images = fingerprints(tmp_path, sweep, size, "detection.images_seen=18")  # 6 epochs at 3 frames, 9 at 2
    changed = {i for i in by_epochs if by_epochs[i] != by_images[i]}
    assert changed == {i for i in by_epochs if i.startswith("detect/") and i.endswith("train_size=2")}
    assert changed
    p = plan(tmp_path, sweep, size, "detection.images_seen=18")
    epochs = {n.id: n.kwargs["params"]["detection"]["epochs"] for n in p.nodes if n.kind == "detect"}
    assert epochs["detect/baseline/seed0/train_size=2"] == 9 and epochs["detect/baseline/seed0/train_size=3"] == 6


def test_a_detectors_cost_counts_its_val_passes(tmp_path):
    # Equal images seen in fewer, larger epochs validate fewer times: the estimate (dry run, ETA) says so.
    sweep, size = "sweep={dataset.train_size: [2, 3]}", "dataset.toyworld.images=12"
    cost = {n.id: n.cost for n in plan(tmp_path, sweep, size, "detection.images_seen=18").nodes if n.kind == "detect"}
    assert cost["detect/baseline/seed0/train_size=2"] > cost["detect/baseline/seed0/train_size=3"]
    assert cost["detect/blended_mixed/seed0/train_size=2"] < cost["detect/baseline/seed0/train_size=2"]
    # Under an epochs budget an arm with composites trains on more images in as many epochs.
    cost = {n.id: n.cost for n in plan(tmp_path, "detection.budget=epochs").nodes if n.kind == "detect"}
    assert cost["detect/blended_mixed/seed0"] > cost["detect/baseline/seed0"]


def test_a_sweep_runs_each_kind_cell_by_cell(tmp_path):
    # Stopped part-way through the detectors, a sweep has whole cells to read, not a few jobs of each.
    p = plan(tmp_path, "sweep={dataset.train_size: [3, 2]}", "dataset.toyworld.images=12")
    detect = [n.id.rsplit("/", 1)[-1] for n in p.nodes if n.kind == "detect"]
    assert detect == sorted(detect, key=["train_size=3", "train_size=2"].index)
    assert len(set(detect)) == 2
    position = {n.id: i for i, n in enumerate(p.nodes)}
    assert all(position[d] < position[n.id] for n in p.nodes for d in n.deps)


@pytest.mark.parametrize(("seen", "n", "epochs"), [(None, 10, 40), (1500, 10, 150), (1500, 25, 60), (1000, 24, 42),
                                                   (3, 10, 1)])
def test_images_seen_gives_every_cell_the_same_images(seen, n, epochs):
    from blendaug.study.nodes import baseline_epochs

    assert baseline_epochs({"epochs": 40, "images_seen": seen}, n) == epochs


def test_tiles_feed_every_detector_while_crops_keep_whole_frames(tmp_path):
    # Tiling changes what detectors train and are tested on, and nothing upstream: finished splits, crops and
    # generators are kept, and a config without tiles keeps its fingerprints.
    before = fingerprints(tmp_path)
    tiled = plan(tmp_path, "dataset.tile={size: 160}")
    after = {n.id: n.fingerprint for n in tiled.nodes}
    assert set(after) == set(before) | {"tiles"}
    changed = {i for i in before if before[i] != after[i]}
    assert changed == {i for i in before if i.startswith(("arms/", "detect/"))}
    for node in tiled.nodes:
        if node.kind in ("detect", "arm"):
            assert "tiles" in node.deps or any(d.startswith("arms/") for d in node.deps), node.id
        if node.kind == "crops":
            assert node.deps == ("data",)
    detect = tiled.node("detect/baseline/seed0")
    assert detect.deps == ("tiles",)
    assert tiled.node("tiles").kwargs["params"] == {"tile": {"size": 160, "overlap": 0.1, "min_visible": 0.5}}


def test_tiles_keep_images_seen_as_images_and_count_tiles_in_the_cost(tmp_path):
    sweep, size = "sweep={dataset.train_size: [2, 3]}", "dataset.toyworld.images=12"
    p = plan(tmp_path, sweep, size, "detection.images_seen=18", "dataset.tile={size: 96}")
    detect = p.node("detect/baseline/seed0/train_size=2")
    # the number of tiles is known once they are cut: the node turns images into epochs then
    assert detect.kwargs["params"]["detection"]["images_seen"] == 18
    # The 160 px frames are 2 x 2 tiles of 96: an epoch of tiles costs four epochs of frames.
    untiled = plan(tmp_path, sweep, size).node("detect/baseline/seed0/train_size=2")
    tiled = plan(tmp_path, sweep, size, "dataset.tile={size: 96}").node("detect/baseline/seed0/train_size=2")
    fixed = costs.DETECT_FIXED_S_256 * (160 / 256) ** 2 / costs.thread_speedup(load_config("configs/smoke.yaml"))
    assert tiled.cost - fixed == pytest.approx(4 * (untiled.cost - fixed))


def test_training_costs_shrink_with_the_threads_a_node_gets(tmp_path):
    def cost(*overrides):
        nodes = plan(tmp_path, *overrides).nodes
        return {n.id: n.cost for n in nodes}

    one, four = cost("executor.threads_per_job=1"), cost("executor.threads_per_job=4")
    for node, c in one.items():
        trains = node.startswith(("detect/", "gan/", "classify/"))
        assert four[node] == pytest.approx(c / 4 ** costs.THREAD_EXPONENT if trains else c), node
    assert any(n.startswith("classify/") for n in one)
    # local gives its lone node every core; a pool's nodes reserve one CPU each
    assert costs.node_threads(load_config("configs/smoke.yaml")) == usable_cores()
    assert costs.node_threads(load_config("configs/smoke.yaml", ["executor.kind=local-parallel"])) == 1


def test_a_class_filter_changes_every_node_and_is_absent_from_configs_without_one(tmp_path):
    p = plan(tmp_path)
    assert "classes" not in p.node("data").kwargs["params"]["dataset"]  # old fingerprints stay valid
    before, after = fingerprints(tmp_path), fingerprints(tmp_path, "dataset.classes=[car]")
    assert all(before[i] != after[i] for i in before)
