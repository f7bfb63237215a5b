"""The study config: one typed model per stage, composed into ``StudyConfig``.

Every field carries a one-line description (``blendaug study --show-config`` prints them). Unknown
keys are errors that suggest the closest valid key; values that name a registry entry (blend modes,
masks, placements, recipes, models, executors, arm sources) are checked when the config loads, not
when their stage runs hours later. ``key.sub=value`` overrides from the command line are applied
before validation (see :mod:`blendaug.study.config_io`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from blendaug.data.tiles import TileConfig
from blendaug.gan.config import GanConfig
from blendaug.study import arms as arms_mod


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ToyworldSection(_Strict):
    images: int = Field(120, ge=4, description="number of toyworld images to generate")
    size: int = Field(320, ge=64, description="toyworld image side in pixels")
    seed: int = Field(0, description="seed of the generated scenes")


class SplitSection(_Strict):
    val: float = Field(0.2, ge=0, lt=1, description="fraction of images for the val split")
    test: float = Field(0.2, ge=0, lt=1, description="fraction of images for the test split (never trained on)")
    seed: int = Field(0, description="seed of the split")
    group: str | None = Field(None, description="regex; file names with the same first group stay in one split")


class DatasetSection(_Strict):
    source: Literal["toyworld", "path"] = Field("toyworld", description="toyworld (generated) or path (your data)")
    path: str | None = Field(None, description="dataset path when source is path (YOLO, labelme or COCO)")
    format: str = Field("auto", description="format of dataset.path (auto or one of the importers)")
    names: list[str] | None = Field(None, description="class names in id order, if the dataset does not say")
    toyworld: ToyworldSection = Field(default_factory=ToyworldSection, description="toyworld generator settings")
    split: SplitSection = Field(default_factory=SplitSection, description="train/val/test split rules")
    classes: list[str] | None = Field(None, description="keep only these classes (after the split; ids in this "
                                      "order): boxes of the others are dropped from every split, images kept")
    train_size: int | None = Field(None, ge=1, description="subsample train to N images (data-scarce regime)")
    tile: TileConfig | None = Field(None, description="cut every split's frames (after splitting and subsampling) "
                                    "into tiles at full resolution; detectors train and are tested on tiles")
    skip_bad: bool = Field(False, description="skip unreadable images and bad label lines (counted in the "
                           "report) instead of stopping; `blendaug data check` lists them")


class CropsSection(_Strict):
    size: int = Field(64, ge=16, description="crop side in pixels (the GAN image size)")
    pad: float = Field(0.1, ge=0, description="context padding per side, as a fraction of the box size")
    min_px: int = Field(8, ge=1, description="skip boxes whose shorter side is below this many pixels")
    fit: Literal["letterbox", "square"] = Field("letterbox", description="letterbox (keep aspect) or square")


class SyntheticSection(_Strict):
    """Defaults every arm inherits (an arm's own fields override them)."""

    source: str = Field("gan", description="default arm source: none, gan, real_crops or classical")
    generators: list[str] | None = Field(None, description="generators feeding gan arms (None: every trained one)")
    tier: Literal["high", "mid", "low", "mixed"] = Field("mixed", description="GAN quality tier of gan arms")
    blend: str = Field("gaussian", description="blend: none, gaussian, box, poisson, poisson-mixed, motion or all, "
                       "plus +color/+noise")
    mask: str = Field("rect", description="object mask: rect (feathered rounded rectangle), ellipse, grabcut, alpha")
    per_image: str = Field("1-4", description="objects pasted per image, a range 'lo-hi'")
    placement: str = Field("context", description="where pasted objects go: context (beside real objects, as "
                           "they stand) or uniform (anywhere free; the placement before context existed)")
    ratio: float = Field(1.0, gt=0, description="synthetic training images per real one (classifier: synthetic "
                         "crops per real crop)")
    mode: Literal["add", "replace"] = Field("add", description="add composites beside the real images, or replace "
                                            "real images by their composites (same set size)")
    samples_per_class: int = Field(200, ge=1, description="generated crops sampled per class for each tier")

    @model_validator(mode="before")
    @classmethod
    def _copies(cls, data: Any) -> Any:
        # `copies: k` (composited copies of each train image) is the older name of `ratio: k`.
        if isinstance(data, dict) and "copies" in data:
            data = dict(data)
            copies = data.pop("copies")
            data.setdefault("ratio", copies)
        return data


class DetectionSection(_Strict):
    model: str = Field("yolov8n.yaml", description="ultralytics model yaml (trained from scratch)")
    recipe: str = Field("cpu-small", description="hyper-parameter preset: cpu-small (tiny data) or ultralytics")
    epochs: int = Field(30, ge=1, description="YOLO training epochs (of the baseline, under budget: images)")
    images_seen: int | None = Field(
        None, ge=1, description="when set, replaces epochs: the baseline trains round(images_seen / its train "
        "images) epochs (at least 1), so every train_size cell of a sweep gets the same budget of images seen")
    budget: Literal["images", "epochs"] = Field(
        "images", description="images: every arm sees as many training images as the baseline (epochs scaled by "
        "the training-set size); epochs: every arm trains the same epochs (the seed paper's protocol)")
    imgsz: int = Field(320, ge=32, description="YOLO input size")
    batch: int = Field(16, ge=1, description="YOLO batch size")
    conf: float = Field(0.25, gt=0, lt=1, description="confidence threshold for tp/fp/fn, IoU and count MAPE")
    iou: float = Field(0.5, gt=0, lt=1, description="IoU threshold for matching predictions to truth")
    args: dict[str, Any] = Field(default_factory=dict, description="extra ultralytics train arguments")


class ClassificationSection(_Strict):
    enabled: bool = Field(True, description="train the crop classifier per arm and seed")
    model: str = Field("smallcnn", description="classifier: resnet18, vgg16 or smallcnn")
    size: int = Field(32, ge=16, description="classifier input size")
    epochs: int = Field(15, ge=1, description="classifier training epochs (of the baseline, under budget: images)")
    budget: Literal["images", "epochs"] = Field("images", description="images: every arm's classifier sees as many "
                                                "training crops as the baseline's; epochs: the same epochs")
    synthetic_ratio: float | None = Field(None, ge=0, description="synthetic:real crop ratio of gan arms (None: "
                                          "the arm's ratio)")


class ExecutorSection(_Strict):
    kind: str = Field("local", description="local (one node after another), local-parallel (a process pool) or "
                      "ray (a Ray cluster)")
    address: str | None = Field(None, description="ray: auto, ray://host:port, or null to start a local cluster")
    workers: int | None = Field(None, ge=1, description="local-parallel/ray: nodes at once (None: one per "
                                "threads_per_job CPUs)")
    threads_per_job: int | None = Field(None, ge=1, description="CPU threads per node (None: all cores for local)")
    jobs_per_gpu: int = Field(1, ge=1, description="detector/classifier jobs packed on one GPU")

    @field_validator("kind")
    @classmethod
    def _known(cls, v: str) -> str:
        from blendaug.data.errors import ConfigError
        from blendaug.study.executor import check_kind

        try:
            check_kind(v)
        except ConfigError as e:
            raise ConfigError(f"executor.kind: {e}") from None
        return v


class StudyConfig(_Strict):
    name: str = Field("study", description="study name, shown in the report")
    seeds: list[int] = Field(default_factory=lambda: [0, 1], description="seeds; each arm runs once per seed")
    replicate: Literal["training", "synthetic", "full"] = Field(
        "synthetic", description="what each seed redraws: training (the detector/classifier seed), synthetic "
        "(also GAN sampling and compositing), full (also the train subsample and GAN training)")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    arms: list[str] | dict[str, dict[str, Any] | None] = Field(
        default_factory=lambda: ["baseline", "blended_mixed"],
        description="arms to compare: preset names (" + ", ".join(arms_mod.PRESETS) + ") or a mapping of arm "
        "name to fields (" + ", ".join(arms_mod.ARM_FIELDS) + "); baseline is required")
    sweep: dict[str, list[Any]] = Field(default_factory=dict, description="config key to a list of values; every "
                                        "value is a cell that runs all arms x seeds, e.g. {dataset.train_size: "
                                        "[25, 50]}")
    contrasts: list[list[str]] | None = Field(None, description="[[arm, reference], ...] to report (None: every "
                                              "arm vs baseline, every gan arm vs paste_real when present)")
    dataset: DatasetSection = Field(default_factory=DatasetSection, description="which images and how to split them")
    crops: CropsSection = Field(default_factory=CropsSection, description="object crops for the GANs")
    gan: GanConfig = Field(default_factory=GanConfig, description="generator training and quality scoring")
    synthetic: SyntheticSection = Field(default_factory=SyntheticSection, description="arm defaults: compositing "
                                        "settings and how much synthetic data")
    detection: DetectionSection = Field(default_factory=DetectionSection, description="YOLO training and evaluation")
    classification: ClassificationSection = Field(default_factory=ClassificationSection,
                                                  description="crop classifier training")
    executor: ExecutorSection = Field(default_factory=ExecutorSection, description="where the study's nodes run")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one seed")
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _registries(self) -> StudyConfig:
        # Everything that names a registry entry is checked now, hours before its stage runs.
        from blendaug.study.validate import check_study

        check_study(self)
        return self

    def arm_specs(self) -> dict[str, arms_mod.ArmSpec]:
        """Every arm as a full spec (the ``synthetic:`` defaults, then its preset, then its own fields)."""
        from blendaug.study.validate import arm_validators

        return arms_mod.resolve_arms(self.arms, self.synthetic.model_dump(), arm_validators(self))

    def contrast_pairs(self) -> list[tuple[str, str]]:
        specs = self.arm_specs()
        if self.contrasts is None:
            return arms_mod.default_contrasts(specs)
        return arms_mod.check_contrasts(self.contrasts, specs)
