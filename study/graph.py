"""The study as a graph of nodes, one per unit of work, per cell of the sweep and per seed where needed.

    data -> [subset] -> [tiles] --------------------------------> arm dataset[arm] -> detect[arm, seed]
                 \\-> crops -> generator[name] -> samples[tier] --/
                           \\-------------------------------------> classify[arm, seed]

Each node's ``params`` are exactly the config values its function reads (see :mod:`blendaug.study.nodes`)
and its fingerprint hashes them with its inputs' fingerprints. Which nodes repeat per seed follows
``replicate``: ``training`` redraws only the detector/classifier seed; ``synthetic`` also redraws GAN
sampling and compositing; ``full`` also the train subsample and GAN training. Nodes are shared between
cells when their fingerprints are equal (one GAN per train subset, not per arm); a node whose
fingerprint varies over the sweep gets the swept values it depends on in its id, e.g.
``detect/baseline/seed0/train_size=25``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from blendaug.study import costs, nodes
from blendaug.study.arms import SOURCES, ArmSpec, arm_key, samples_name
from blendaug.study.config import StudyConfig
from blendaug.study.config_io import Cell, cells
from blendaug.study.executor import Node, Resources
from blendaug.study.steps import fingerprint

FOLDER_OF_KIND = {"data": "data", "subset": "subset", "tiles": "tiles", "crops": "crops", "generator": "gan",
                  "samples": "samples", "arm": "arms", "detect": "detect", "classify": "classify"}


@dataclass(eq=False)
class _Spec:
    """A node before naming: what it runs, what it reads, and the nodes it reads from."""

    kind: str
    name: str
    seed: int | None  # the seed in its id, when the node is repeated per seed
    fn: Callable[..., Any]
    params: dict[str, Any]
    inputs: dict[str, _Spec] = field(default_factory=dict)
    resources: Resources = Resources()
    cost: float = 1.0

    @cached_property
    def key(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": self.params, "inputs": {k: v.fp for k, v in self.inputs.items()}}

    @cached_property
    def fp(self) -> str:
        return fingerprint(self.key)

    @property
    def proto(self) -> tuple[str, str, int | None]:
        return self.kind, self.name, self.seed


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class _CellBuilder:
    """Builds one cell's specs; within a cell each node is built once (memoised by its proto id)."""

    def __init__(self, cfg: StudyConfig, device: str) -> None:
        self.cfg, self.device = cfg, device
        self.specs: dict[tuple, _Spec] = {}
        self.arms = cfg.arm_specs()
        ex = cfg.executor
        gpu = 1.0 / ex.jobs_per_gpu if device.startswith("cuda") else 0.0
        self.heavy = Resources(cpus=ex.threads_per_job or 1, gpus=gpu)

    def _once(self, spec: _Spec) -> _Spec:
        return self.specs.setdefault(spec.proto, spec)

    # Which seed a node uses, and whether it appears per seed (its id carries the seed).
    def _per_seed(self, level: str) -> bool:
        order = ("training", "synthetic", "full")
        return order.index(self.cfg.replicate) >= order.index(level)

    def _seed(self, s: int, level: str) -> tuple[int, int | None]:
        return (s, s) if self._per_seed(level) else (self.cfg.seeds[0], None)

    def frames(self, s: int) -> _Spec:
        """The split dataset, or its train subsample (per seed under ``replicate: full``), before any tiling."""
        d = self.cfg.dataset
        # Keys left out when unset keep the fingerprints (and finished nodes) of configs written before them.
        unset = {"classes"} if d.classes is None else set()
        full = self._once(_Spec("data", "", None, nodes.node_data,
                                {"dataset": d.model_dump(mode="json", exclude={"train_size", "tile", *unset})},
                                cost=costs.data_cost(self.cfg)))
        if d.train_size is None:
            return full
        seed, shown = self._seed(s, "full")
        return self._once(_Spec("subset", "", shown, nodes.node_subset,
                                {"train_size": d.train_size, "seed": [d.split.seed, seed]}, {"data": full}))

    def data(self, s: int) -> _Spec:
        """What detectors train and are tested on: the frames, or their tiles with ``dataset.tile``."""
        frames, tile = self.frames(s), self.cfg.dataset.tile
        if tile is None:
            return frames
        return self._once(_Spec("tiles", "", frames.seed, nodes.node_tiles, {"tile": tile.model_dump(mode="json")},
                                {"data": frames}, cost=costs.tile_cost(self.cfg)))

    def crops(self, s: int) -> _Spec:
        # Crops come from whole frames: a tile would cut vehicles at its border.
        data = self.frames(s)
        return self._once(_Spec("crops", "", data.seed, nodes.node_crops,
                                {"crops": self.cfg.crops.model_dump(mode="json")}, {"data": data}))

    def generator(self, arch: str, s: int) -> _Spec:
        seed, shown = self._seed(s, "full")
        crops = self.crops(s)
        shown = shown if shown is not None else crops.seed
        g = self.cfg.gan
        return self._once(_Spec("generator", arch, shown, nodes.node_generator,
                                {"gan": g.model_dump(mode="json", exclude={"archs", "allow_unusable"}), "arch": arch,
                                 "seed": seed, "device": self.device},
                                {"crops": crops}, self.heavy, costs.generator_cost(self.cfg, arch)))

    def samples(self, spec: ArmSpec, s: int) -> _Spec:
        seed, shown = self._seed(s, "synthetic")
        archs = spec.generators or self.cfg.gan.archs
        gens = {f"gen:{a}": self.generator(a, s) for a in archs}
        shown = shown if shown is not None else next(iter(gens.values())).seed
        n = self.cfg.synthetic.samples_per_class
        return self._once(_Spec("samples", samples_name(spec), shown, nodes.node_samples,
                                {"tier": spec.tier, "generators": list(archs), "n": n, "seed": seed,
                                 "device": self.device, "allow_unusable": self.cfg.gan.allow_unusable},
                                gens, self.heavy, 0.01 * n))

    def arm(self, name: str, s: int) -> _Spec:
        """The arm's training set: the data node itself for an arm without synthetic images."""
        spec = self.arms[name]
        if spec.source == "none":
            return self.data(s)
        seed, shown = self._seed(s, "synthetic")
        inputs: dict[str, _Spec] = {"data": self.data(s)}
        if "samples" in SOURCES[spec.source].needs:
            inputs["samples"] = self.samples(spec, s)
        if "train_crops" in SOURCES[spec.source].needs:
            inputs["train_crops"] = self.crops(s)
        if shown is None:
            shown = max((v.seed for v in inputs.values() if v.seed is not None), default=None)
        return self._once(_Spec("arm", name, shown, nodes.node_arm, {"spec": arm_key(spec), "seed": seed},
                                inputs, Resources(), costs.arm_cost(self.cfg, spec.ratio)))

    def detect(self, name: str, s: int) -> _Spec:
        ratio = 0.0 if self.arms[name].source == "none" or self.arms[name].mode == "replace" else self.arms[name].ratio
        cost = costs.detect_cost(self.cfg, ratio)
        return self._once(_Spec("detect", name, s, nodes.node_detect,
                                {"detection": detection_params(self.cfg), "seed": s,
                                 "device": self.device},
                                {"train": self.arm(name, s), "data": self.data(s)}, self.heavy, cost))

    def classify(self, name: str, s: int) -> _Spec | None:
        spec = self.arms[name]
        if not SOURCES[spec.source].classifier:
            return None
        c = self.cfg.classification
        inputs: dict[str, _Spec] = {"crops": self.crops(s)}
        extra: dict[str, Any] = {}
        per_real = 0.0
        if spec.source == "classical":
            extra, per_real = {"classical_factor": int(spec.ratio)}, float(int(spec.ratio))
        elif spec.source != "none":
            per_real = c.synthetic_ratio if c.synthetic_ratio is not None else spec.ratio
            extra = {"tier": "low,mid,high", "synthetic_ratio": [per_real]}
            inputs["samples"] = self.samples(spec, s)
        cost = costs.classify_cost(self.cfg, per_real)
        return self._once(_Spec("classify", name, s, nodes.node_classify,
                                {"classification": c.model_dump(mode="json", exclude={"enabled", "synthetic_ratio"}),
                                 "seed": s, "device": self.device, "extra": extra, "synthetic_per_real": per_real},
                                inputs, self.heavy, cost))

    def jobs(self) -> dict[tuple[str, str, int], _Spec]:
        out: dict[tuple[str, str, int], _Spec] = {}
        for name in self.arms:
            for s in self.cfg.seeds:
                out[("detection", name, s)] = self.detect(name, s)
        if self.cfg.classification.enabled:
            for name in self.arms:
                for s in self.cfg.seeds:
                    spec = self.classify(name, s)
                    if spec is not None:
                        out[("classification", name, s)] = spec
        return out


def detection_params(cfg: StudyConfig) -> dict:
    """The detection section a detector node reads. ``images_seen`` only when set, so that configs without it keep
    the fingerprints (and finished jobs) they had before the key existed; with a ``dataset.train_size`` the
    baseline's epochs are known here and replace it, so a cell whose budget comes to the epochs it trained before
    (``images_seen: 1000`` at 25 frames is ``epochs: 40``) keeps its finished detectors."""
    from blendaug.study.nodes import baseline_epochs

    d = cfg.detection.model_dump(mode="json")
    seen = d.pop("images_seen")
    if seen is not None and cfg.dataset.train_size is not None and cfg.dataset.tile is None:
        # the subsample has exactly train_size images (its tiles' number is known only once they are cut)
        d["epochs"] = baseline_epochs({"images_seen": seen}, cfg.dataset.train_size)
    elif seen is not None:
        d["images_seen"] = seen
    return d


@dataclass
class Plan:
    """The study's nodes in run order, and which node holds each result.

    Attributes:
        nodes: every node, each after its inputs; kinds in pipeline order (data first, jobs last), each kind cell by
            cell in the sweep's order.
        jobs: ``{(cell, task, arm, seed): node}`` for every detector and classifier job.
        cells: the sweep's cells (one cell named ``''`` without a sweep).
    """

    nodes: list[Node]
    jobs: dict[tuple[str, str, str, int], Node]
    cells: list[Cell]

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)


def _labels(present: dict[str, _Spec], cell_values: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Per cell, the swept values this node depends on (``''`` when it is the same node in every cell)."""
    if len({s.fp for s in present.values()}) <= 1:
        return dict.fromkeys(present, "")
    names = list(present)
    keys = list(cell_values[names[0]])
    relevant = [k for k in keys if any(
        present[a].fp != present[b].fp and cell_values[a][k] != cell_values[b][k]
        and all(cell_values[a][o] == cell_values[b][o] for o in keys if o != k)
        for a in names for b in names)]
    labels = {c: ",".join(f"{k.split('.')[-1]}={cell_values[c][k]}" for k in relevant) for c in names}
    by_label: dict[str, set[str]] = {}
    for c in names:
        by_label.setdefault(labels[c], set()).add(present[c].fp)
    if any(len(fps) > 1 for fps in by_label.values()):  # the dependence is not separable: name the whole cell
        labels = {c: ",".join(f"{k.split('.')[-1]}={v}" for k, v in cell_values[c].items()) for c in names}
    return labels


def build_plan(cfg: StudyConfig, run: Path) -> Plan:
    """Every node of the study ``cfg`` in the run folder ``run`` (absolute paths), shared where equal."""
    run = Path(run).absolute()
    device = resolve_device(cfg.device)
    grid = cells(cfg)
    built: dict[str, tuple[_CellBuilder, dict]] = {}
    for cell in grid:
        b = _CellBuilder(cell.cfg, device)
        built[cell.name] = (b, b.jobs())
    protos: dict[tuple, dict[str, _Spec]] = {}
    for cell_name, (b, _) in built.items():
        for proto, spec in b.specs.items():
            protos.setdefault(proto, {})[cell_name] = spec
    values = {c.name: c.values for c in grid}
    ids: dict[int, str] = {}
    for (kind, name, seed), present in protos.items():
        for cell_name, label in _labels(present, values).items():
            parts = [FOLDER_OF_KIND[kind], name, f"seed{seed}" if seed is not None else "", label]
            ids[id(present[cell_name])] = "/".join(p for p in parts if p)
    order, cell_index = list(FOLDER_OF_KIND), {c.name: i for i, c in enumerate(grid)}
    out: dict[str, Node] = {}
    # kind by kind, and within a kind cell by cell: a sweep stopped part-way has whole cells of jobs to read
    ranked = sorted(((order.index(s.kind), cell_index[c], s) for p in protos.values() for c, s in p.items()),
                    key=lambda t: t[:2])
    for spec in (s for _, _, s in ranked):
        node_id = ids[id(spec)]
        if node_id in out:
            if out[node_id].fingerprint != spec.fp:
                raise RuntimeError(f"two different nodes named {node_id}")  # a bug in the naming above
            continue
        folder = run / node_id
        inputs = {k: str(run / ids[id(v)]) for k, v in spec.inputs.items()}
        out[node_id] = Node(node_id, spec.kind, spec.fp, folder, spec.fn,
                            {"folder": folder, "key": spec.key, "params": spec.params, "inputs": inputs},
                            tuple(dict.fromkeys(ids[id(v)] for v in spec.inputs.values())), spec.resources,
                            spec.cost)
    jobs = {(cell_name, task, arm, s): out[ids[id(spec)]]
            for cell_name, (_, cell_jobs) in built.items() for (task, arm, s), spec in cell_jobs.items()}
    return Plan(list(out.values()), jobs, grid)
