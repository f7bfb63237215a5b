"""The study config: one typed model per stage, composed into ``StudyConfig``.

Every field carries a one-line description (``blendaug study --show-config`` prints them). Unknown
keys are errors that suggest the closest valid key, and ``key.sub=value`` overrides from the command
line are applied before validation.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from blendaug.data.errors import ConfigError

ARMS = ("baseline", "blended_high", "blended_low", "blended_mixed", "paste_real", "classical")
# The shipped configs are package data (blendaug.configs), so they are found without the checkout.
CONFIG_DIR = Path(str(resources.files("blendaug.configs")))
DEFAULT_CONFIG = CONFIG_DIR / "quick.yaml"


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
    format: Literal["auto", "yolo", "labelme", "coco"] = Field("auto", description="format of dataset.path")
    names: list[str] | None = Field(None, description="class names in id order, if the dataset does not say")
    toyworld: ToyworldSection = Field(default_factory=ToyworldSection, description="toyworld generator settings")
    split: SplitSection = Field(default_factory=SplitSection, description="train/val/test split rules")
    train_size: int | None = Field(None, ge=1, description="subsample train to N images (data-scarce regime)")


class CropsSection(_Strict):
    size: int = Field(64, ge=16, description="crop side in pixels (the GAN image size)")
    pad: float = Field(0.1, ge=0, description="context padding per side, as a fraction of the box size")
    min_px: int = Field(8, ge=1, description="skip boxes whose shorter side is below this many pixels")
    fit: Literal["letterbox", "square"] = Field("letterbox", description="letterbox (keep aspect) or square")


class GanSection(_Strict):
    archs: list[Literal["dcgan", "cdcgan", "wgan-gp", "cwgan-gp"]] = Field(
        default_factory=lambda: ["dcgan"], description="GAN architectures to train")
    epochs: int = Field(30, ge=1, description="training epochs per GAN")
    snapshots: list[int] = Field(default_factory=lambda: [3, 10, 30], description="epochs at which to snapshot")
    batch: int = Field(64, ge=1, description="GAN batch size")
    diffaugment: str = Field("color,translation,cutout", description="DiffAugment policy ('' for none)")
    score_n: int = Field(200, ge=10, description="generated crops per class and snapshot for quality scoring")

    @field_validator("snapshots")
    @classmethod
    def _sorted(cls, v: list[int]) -> list[int]:
        if not v or any(s < 1 for s in v):
            raise ValueError("snapshots must be a non-empty list of epochs >= 1")
        return sorted(set(v))


class SyntheticSection(_Strict):
    per_image: str = Field("1-4", description="objects pasted per image, a range 'lo-hi'")
    blend: str = Field("gaussian", description="blend: none, gaussian, box, poisson, poisson-mixed, motion or all, "
                       "plus +color/+noise")
    copies: int = Field(1, ge=1, description="composited copies of each train image")
    mask: str = Field("rect", description="object mask: rect (feathered rounded rectangle), ellipse, grabcut, alpha")
    samples_per_class: int = Field(200, ge=1, description="GAN crops sampled per class for each tier")


class DetectionSection(_Strict):
    model: str = Field("yolov8n.yaml", description="ultralytics model yaml (trained from scratch)")
    recipe: str = Field("cpu-small", description="hyper-parameter preset: cpu-small (tiny data) or ultralytics")
    epochs: int = Field(30, ge=1, description="YOLO training epochs")
    imgsz: int = Field(320, ge=32, description="YOLO input size")
    batch: int = Field(16, ge=1, description="YOLO batch size")
    conf: float = Field(0.25, gt=0, lt=1, description="confidence threshold for tp/fp/fn, IoU and count MAPE")
    iou: float = Field(0.5, gt=0, lt=1, description="IoU threshold for matching predictions to truth")
    args: dict[str, Any] = Field(default_factory=dict, description="extra ultralytics train arguments")


class ClassificationSection(_Strict):
    enabled: bool = Field(True, description="train the crop classifier per arm and seed")
    model: str = Field("smallcnn", description="classifier: resnet18, vgg16 or smallcnn")
    size: int = Field(32, ge=16, description="classifier input size")
    epochs: int = Field(15, ge=1, description="classifier training epochs")
    synthetic_ratio: float = Field(1.0, ge=0, description="synthetic:real ratio for the GAN arms")


class StudyConfig(_Strict):
    name: str = Field("study", description="study name, shown in the report")
    seeds: list[int] = Field(default_factory=lambda: [0, 1], description="training seeds; each arm runs once per seed")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    arms: list[Literal[ARMS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["baseline", "blended_mixed"], description="arms to compare (baseline is required)")
    dataset: DatasetSection = Field(default_factory=DatasetSection, description="which images and how to split them")
    crops: CropsSection = Field(default_factory=CropsSection, description="object crops for the GANs")
    gan: GanSection = Field(default_factory=GanSection, description="GAN training and scoring")
    synthetic: SyntheticSection = Field(default_factory=SyntheticSection, description="compositing settings")
    detection: DetectionSection = Field(default_factory=DetectionSection, description="YOLO training and evaluation")
    classification: ClassificationSection = Field(default_factory=ClassificationSection,
                                                  description="crop classifier training")

    @field_validator("arms")
    @classmethod
    def _has_baseline(cls, v: list[str]) -> list[str]:
        if "baseline" not in v:
            raise ValueError("arms must include baseline: every other arm is compared with it")
        return list(dict.fromkeys(v))

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one seed")
        return list(dict.fromkeys(v))


def _model_at(model: type[BaseModel], keys: list[str]) -> type[BaseModel] | None:
    for key in keys:
        field = model.model_fields.get(key)
        ann = field.annotation if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _error_message(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    key = ".".join(loc)
    if first["type"] == "extra_forbidden":
        parent = _model_at(StudyConfig, loc[:-1])
        valid = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f" (did you mean '{'.'.join([*loc[:-1], close[0]])}'?)" if close else ""
        return f"{source}: unknown key '{key}'{hint}"
    return f"{source}: key '{key}': {first['msg']}"


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["gan.epochs=5", "seeds=[0,1]"]`` to a nested dict; values are parsed as YAML scalars/lists."""
    tree: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}': expected key.sub=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override '{item}': empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        node = tree
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{p}' is not a section")
        node[parts[-1]] = value
    return tree


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> StudyConfig:
    """Read a YAML study config (default ``configs/quick.yaml``), apply overrides, validate.

    Raises:
        ConfigError: naming the file and key, with a suggestion for unknown keys.
    """
    path = Path(path) if path else DEFAULT_CONFIG
    # `configs/quick.yaml` or `quick.yaml` also name the shipped configs from any working directory.
    if not path.is_file() and not path.is_absolute():
        shipped = Path(*path.parts[1:]) if path.parts[0] == "configs" and len(path.parts) > 1 else path
        if (CONFIG_DIR / shipped).is_file():
            path = CONFIG_DIR / shipped
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys")
    merged = _merge(raw, parse_overrides(overrides or []))
    try:
        return StudyConfig.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(_error_message(e, str(path))) from None


def describe_fields(model: type[BaseModel] = StudyConfig, prefix: str = "") -> list[str]:
    """``key: default  # description`` lines for every field, like ultralytics' default.yaml."""
    lines = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            lines.append(f"{prefix}{name}:  # {field.description}")
            lines += describe_fields(ann, prefix + "  ")
        else:
            default = field.get_default(call_default_factory=True)
            lines.append(f"{prefix}{name}: {default!r}  # {field.description}")
    return lines
