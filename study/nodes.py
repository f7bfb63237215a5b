"""What each kind of study node does. Every function reads only its ``params`` and ``inputs``.

A node function has the signature ``fn(folder, key, params, inputs) -> StepResult``: ``params`` are the
config values it needs (chosen by :mod:`blendaug.study.graph`), ``inputs`` the absolute folders of the
nodes it depends on, and ``key`` is ``{"kind", "params", "inputs": {name: fingerprint}}``, whose hash is
the node's fingerprint. Because a node function sees nothing but ``params`` and ``inputs``, a value it
uses cannot be left out of its fingerprint: a changed setting always reruns exactly the nodes that
read it (and what depends on them). Each runs through :func:`blendaug.study.steps.run_step`, so a
finished node is skipped and a killed one resumes or reruns in its own folder.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from blendaug.data.atomic import atomic_write_text
from blendaug.data.errors import ConfigError, Warnings
from blendaug.study.steps import StepResult, run_step


def dataset_yaml(data_folder: str | Path) -> Path:
    return Path(data_folder) / "dataset" / "data.yaml"


def arm_data_yaml(folder: str | Path) -> Path:
    """The training set of an arm node, or of the data node for the baseline (same layout)."""
    return Path(folder) / "dataset" / "data.yaml"


def _write_warnings(folder: Path, warnings: Warnings) -> None:
    atomic_write_text(folder / "warnings.json", json.dumps({"counts": warnings.counts,
                                                            "examples": warnings.examples}, indent=1))


def node_data(folder: Path, key: dict, params: dict, inputs: dict) -> StepResult:
    """Generate or import the images and split them (groups kept together) into train/val/test."""

    def build(out: Path) -> None:
        from blendaug.data.errors import DataError
        from blendaug.data.io import read_dataset
        from blendaug.data.split import split_dataset
        from blendaug.data.yolo import write_yolo

        d = params["dataset"]
        warnings = Warnings()
        if d["source"] == "toyworld":
            from blendaug.data.toyworld import ToyworldConfig, generate_toyworld

            t = d["toyworld"]
            src = generate_toyworld(out / "raw", ToyworldConfig(n_images=t["images"], seed=t["seed"], size=t["size"]),
                                    overwrite=True)
        else:
            src = Path(d["path"])
        try:
            ds = read_dataset(src, fmt=d["format"], names=d["names"], skip_bad=d["skip_bad"], warnings=warnings)
        except DataError as e:
            raise DataError(f"{e} (run `blendaug data check {src}` to list every problem; dataset.skip_bad=true "
                            "skips unreadable images and bad label lines, counted in the report)") from None
        s = d["split"]
        ds = split_dataset(ds, val=s["val"], test=s["test"], seed=s["seed"], group=s["group"], warnings=warnings)
        if d.get("classes") is not None:  # after the split, so that the split is the one without the filter
            try:
                ds = ds.only_classes(d["classes"])
            except ValueError as e:
                raise ConfigError(f"dataset.classes: {e} ({src})") from None
        write_yolo(ds, out / "dataset", overwrite=True)
        _write_warnings(out, warnings)

    return run_step(folder, key, build)


def node_subset(folder: Path, key: dict, params: dict, inputs: dict) -> StepResult:
    """The data-scarce regime: a seeded subsample of the train split (val and test untouched)."""

    def build(out: Path) -> None:
        from blendaug.data.split import subsample_train
        from blendaug.data.yolo import read_yolo, write_yolo

        ds = read_yolo(dataset_yaml(inputs["data"]))
        write_yolo(subsample_train(ds, params["train_size"], seed=params["seed"]), out / "dataset", overwrite=True)

    return run_step(folder, key, build)


def node_tiles(folder: Path, key: dict, params: dict, inputs: dict) -> StepResult:
    """Every split's frames cut into tiles at full resolution (what detectors train and are tested on)."""

    def build(out: Path) -> None:
        from blendaug.data.tiles import TileConfig, write_tiled
        from blendaug.data.yolo import read_yolo

        ds = read_yolo(dataset_yaml(inputs["data"]))
        write_tiled(ds, out / "dataset", TileConfig.model_validate(params["tile"]), overwrite=True)

    return run_step(folder, key, build)


def node_crops(folder: Path, key: dict, params: dict, inputs: dict) -> StepResult:
    """Object crops: train (generator training data, classifier train set), val (held out) and test."""

    def build(out: Path) -> None:
        from blendaug.data.crops import extract_crops
        from blendaug.data.yolo import read_yolo

        c = params["crops"]
        ds = read_yolo(dataset_yaml(inputs["data"]))
        for split in ("train", "val", "test"):
            # Test crops only ever evaluate the classifier; nothing trains on them.
            extract_crops(ds, out / split, split=split, size=c["size"], pad=c["pad"], min_px=c["min_px"],
                          allow_test=split == "test", fit=c["fit"], overwrite=True)

    return run_step(folder, key, build)


def node_generator(folder: Path, key: dict, params: dict, inputs: dict) -> StepResult:
    """Train one generator on the train crops (resuming a killed run), then score its snapshots on the
    val crops it never saw."""

    def build(out: Path) -> None:
        from blendaug.gan.api import GanConfig, score_generator, train_generator

        cfg, seed, device = GanConfig.model_validate(params["gan"]), params["seed"], params["device"]
        crops = Path(inputs["crops"])
        train_generator(params["arch"], crops / "train", out / "run", cfg, seed=seed, device=device, progress=True)
        score_generator(out / "run", crops / "train", crops / "val", cfg, seed=seed, device=device)

    return run_step(folder, key, build)


def _tier_classes(run: Path, tier: str, allow_unusable: bool) -> tuple[list[str] | None, list[str], list[str]]:
    """Which classes of a scored generator run to sample for ``tier``.

    Returns:
        ``(classes or None for all, classes left out, problems that make the arm's verdict invalid)``. A class
        without a usable snapshot of the tier (too few crops to learn or to judge it, say) is left out of the
        pastes and named in the report; when no class has one, the study stops here, before any detector
        trains on noise, unless ``allow_unusable`` (then every class is drawn and the verdict marked invalid).
    """
    from blendaug.gan.api import UnusableTierError, tier_availability

    avail = tier_availability(run)
    missing = avail.missing(tier)
    if not missing:
        return None, [], []
    if allow_unusable:
        return None, [], [avail.message(tier)]
    usable = [c for c in avail.classes if c not in missing]
    if not usable:
        raise UnusableTierError(f"{run}: {avail.message(tier)}; set gan.allow_unusable: true to run anyway (the "
                                "arm's verdict is then marked invalid)")
    return usable, missing, []


def node_samples(folder: Path, key: dict, params: dict, inputs: dict) -> StepResult:
    """Sample generated crops of one tier from every generator into one crop folder with one index.csv
    (see :func:`_tier_classes` for classes without a usable snapshot of the tier)."""

    def build(out: Path) -> None:
        from blendaug.gan.api import sample_tier

        n, tier, seed, device = params["n"], params["tier"], params["seed"], params["device"]
        gens = [(name.removeprefix("gen:"), Path(p)) for name, p in inputs.items() if name.startswith("gen:")]
        rows: list[dict] = []
        notes: dict[str, list[str]] = {"left_out": [], "invalid": []}
        per_gen = [n // len(gens) + (1 if i < n % len(gens) else 0) for i in range(len(gens))]
        for (arch, gen_folder), k in zip(gens, per_gen, strict=True):
            classes, left_out, invalid = _tier_classes(gen_folder / "run", tier, params["allow_unusable"])
            notes["left_out"] += [f"{arch}: {c}" for c in left_out]
            notes["invalid"] += [f"{arch}: {p}" for p in invalid]
            for cls in classes or [None]:
                if k == 0:
                    continue
                part = out / "parts" / arch / (cls or "all")
                sample_tier(gen_folder / "run", part, tier, n=k, seed=seed, device=device, class_name=cls,
                            allow_unusable=params["allow_unusable"], overwrite=True)
                with open(part / "index.csv", newline="", encoding="utf-8") as f:
                    for row in csv.DictReader(f):
                        src = part / row["file"]
                        row["file"] = f"{row['class']}/{arch}_{src.name}"
                        (out / "crops" / row["class"]).mkdir(parents=True, exist_ok=True)
                        shutil.move(src, out / "crops" / row["file"])
                        rows.append(row)
        shutil.rmtree(out / "parts", ignore_errors=True)
        if not rows:
            raise ConfigError(f"samples/{tier}: the generators gave no crops of tier {tier}")
        with open(out / "crops" / "index.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        if notes["invalid"]:
            atomic_write_text(out / "unusable.json", json.dumps(notes["invalid"], indent=1))
        if notes["left_out"]:
            atomic_write_text(out / "left_out.json", json.dumps(notes["left_out"], indent=1))

    return run_step(folder, key, build)


def node_arm(folder: Path, key: dict, params: dict, inputs: dict) -> StepResult:
    """An arm's detection training set: the real data plus (or replaced by) its synthetic images."""

    def build(out: Path) -> None:
        spec, seed = params["spec"], params["seed"]
        data = dataset_yaml(inputs["data"])
        if spec["source"] == "classical":
            from blendaug.data.yolo import read_yolo
            from blendaug.study.classical import write_classical_dataset

            write_classical_dataset(read_yolo(data), out / "dataset", spec["ratio"], seed,
                                    replace=spec["mode"] == "replace")
            return
        from blendaug.compositing.compose import CompositeConfig
        from blendaug.compositing.placement import parse_range
        from blendaug.compositing.run import run_composite

        crops = Path(inputs["samples"]) / "crops" if "samples" in inputs else Path(inputs["train_crops"]) / "train"
        cfg = CompositeConfig(per_image=parse_range(spec["per_image"]), blend=spec["blend"], mask=spec["mask"],
                              placement=spec["placement"])
        run_composite(data, crops, out / "dataset", cfg, seed=seed, ratio=spec["ratio"], mode=spec["mode"],
                      overwrite=True, progress=False)

    return run_step(folder, key, build)


def train_images(data_yaml: Path) -> int:
    from blendaug.data.yolo import read_yolo

    return len(read_yolo(data_yaml).split("train"))


def crops_per_class(crops: Path) -> list[int]:
    """Crops per class in a crops folder's ``index.csv`` (the classifier's real training set)."""
    from collections import Counter

    with open(crops / "index.csv", newline="", encoding="utf-8") as f:
        counts = Counter(row["class"] for row in csv.DictReader(f))
    return [counts[c] for c in sorted(counts)]


def baseline_epochs(detection: dict, n_train_reference: int) -> int:
    """The baseline's epochs: ``detection.epochs``, or with ``detection.images_seen`` that many images over the
    baseline's train images (rounded half up, at least 1)."""
    from fractions import Fraction

    from blendaug.data.budget import round_half_up

    seen = detection.get("images_seen")
    if seen is None:
        return int(detection["epochs"])
    return max(1, round_half_up(Fraction(int(seen), max(int(n_train_reference), 1))))


def node_detect(folder: Path, key: dict, params: dict, inputs: dict) -> StepResult:
    """Train YOLO on the arm's data with one seed (epochs from the budget), evaluate on the real test split.

    Under ``budget: images`` the epochs (and ultralytics' epoch-based settings) are scaled so the arm sees
    as many training images as the baseline, whose set is the (subsampled) real train split.
    """

    def build(out: Path) -> None:
        from blendaug.detection.budget import resolve_detector_budget
        from blendaug.detection.evaluate import evaluate_detector
        from blendaug.detection.train import train_detector

        d, seed, device = params["detection"], params["seed"], params["device"]
        train_yaml, data = arm_data_yaml(inputs["train"]), dataset_yaml(inputs["data"])
        n_reference = train_images(data)
        b = resolve_detector_budget(d["recipe"], d["args"], baseline_epochs(d, n_reference),
                                    n_train=train_images(train_yaml), n_train_reference=n_reference, budget=d["budget"])
        atomic_write_text(out / "budget.json", json.dumps(b.to_dict(), indent=1))
        train_detector(train_yaml, out / "train", model=d["model"], recipe=d["recipe"], epochs=b.epochs,
                       imgsz=d["imgsz"], batch=d["batch"], seed=seed, device=device,
                       overrides={**d["args"], **b.settings}, overwrite=True)
        evaluate_detector(out / "train" / "weights" / "best.pt", data, out / "eval", split="test", conf=d["conf"],
                          iou=d["iou"], device=device, imgsz=d["imgsz"], overwrite=True)

    return run_step(folder, key, build)


def node_classify(folder: Path, key: dict, params: dict, inputs: dict) -> StepResult:
    """Train the crop classifier for one arm and seed (epochs from the budget); the crops' test split scores it."""

    def build(out: Path) -> None:
        from blendaug.classification.budget import classifier_budget, train_set_size
        from blendaug.classification.run import TrainArgs, train_run

        c, seed, device, extra = params["classification"], params["seed"], params["device"], dict(params["extra"])
        if "samples" in inputs:
            extra["synthetic"] = Path(inputs["samples"]) / "crops"
        real = crops_per_class(Path(inputs["crops"]) / "train")
        n_train = train_set_size(real, extra.get("classical_factor", 0), params["synthetic_per_real"])
        b = classifier_budget(c["epochs"], n_train, sum(real), c["budget"])
        atomic_write_text(out / "budget.json", json.dumps(b.to_dict(), indent=1))
        train_run(TrainArgs(data=Path(inputs["crops"]), out=out / "run", model=c["model"], size=c["size"],
                            epochs=b.epochs, seed=seed, device=device, overwrite=True, **extra),
                  log=lambda m: None)

    return run_step(folder, key, build)
