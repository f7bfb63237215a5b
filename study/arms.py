"""Arms as data: a typed arm spec, named presets, and a registry of synthetic-data *sources*.

An arm is an :class:`ArmSpec`: where its synthetic images come from (``source``), which generators and
quality tier feed it, how objects are pasted (``blend``, ``mask``, ``per_image``, ``placement``), how many
synthetic training images it adds per real one (``ratio``) and whether they are added beside the real
images or replace them (``mode``). Every field not given falls back to the study's ``synthetic:``
section. The six historical arm names are presets (named specs); nothing else in the code branches on
an arm's name. A source is a registry entry that knows which upstream outputs it needs and how to turn
the spec into a detection training set and the classifier's extra training data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from blendaug.data.errors import ConfigError, did_you_mean

TIERS = ("high", "mid", "low", "mixed")
MODES = ("add", "replace")


class ArmSpec(BaseModel):
    """One arm, fully resolved (every field set); its fingerprint is its dump."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="where synthetic images come from: none, gan, real_crops, classical")
    generators: list[str] | None = Field(None, description="trained generators that feed a gan arm (None: all)")
    tier: Literal["high", "mid", "low", "mixed"] = Field("mixed", description="GAN snapshot quality tier")
    blend: str = Field("gaussian", description="blend mode (none, gaussian, box, poisson, poisson-mixed, motion, "
                       "all) plus +color/+noise")
    mask: str = Field("rect", description="object mask: rect, ellipse, grabcut, alpha")
    per_image: str = Field("1-4", description="objects pasted per composite, a range 'lo-hi'")
    placement: str = Field("context", description="where pasted objects go (a compositing placement mode)")
    ratio: float = Field(1.0, gt=0, description="synthetic training images per real training image (classifier: "
                         "synthetic crops per real crop)")
    mode: Literal["add", "replace"] = Field("add", description="add composites beside the real images, or "
                                            "replace each chosen real image by its composite (same set size)")


# Field names an arm may set; ``synthetic:`` holds their defaults.
ARM_FIELDS = tuple(ArmSpec.model_fields)

PRESETS: dict[str, dict[str, Any]] = {
    "baseline": {"source": "none"},
    "blended_high": {"source": "gan", "tier": "high"},
    "blended_low": {"source": "gan", "tier": "low"},
    "blended_mixed": {"source": "gan", "tier": "mixed"},
    "paste_real": {"source": "real_crops"},
    "classical": {"source": "classical"},
}


@dataclass(frozen=True)
class Source:
    """How one kind of synthetic data becomes an arm's training data.

    Attributes:
        needs: the upstream outputs it reads: ``samples`` (generated crops of the arm's tier),
            ``train_crops`` (real crops of the train split), or nothing.
        composites: True when the detection set is built by compositing crops into the real images.
        classifier: True when the crop classifier gets extra data from it (pasting real crops into
            scenes gives a crop classifier nothing new, so ``real_crops`` has no classifier job).
        uses: the spec fields the source reads; only these enter the arm's fingerprint.
    """

    needs: tuple[str, ...]
    composites: bool
    classifier: bool
    uses: tuple[str, ...]


_PASTE_FIELDS = ("blend", "mask", "per_image", "placement", "ratio", "mode")
SOURCES: dict[str, Source] = {
    "none": Source(needs=(), composites=False, classifier=True, uses=()),
    "gan": Source(needs=("samples",), composites=True, classifier=True,
                  uses=("generators", "tier", *_PASTE_FIELDS)),
    "real_crops": Source(needs=("train_crops",), composites=True, classifier=False, uses=_PASTE_FIELDS),
    "classical": Source(needs=(), composites=False, classifier=True, uses=("ratio", "mode")),
}


def resolve_arms(arms: list[str] | dict[str, dict[str, Any] | None], defaults: dict[str, Any],
                 validators: dict[str, Callable[[Any], None]] | None = None) -> dict[str, ArmSpec]:
    """Turn the config's ``arms`` (preset names, or a mapping of name to fields) into full specs.

    A spec is ``defaults`` (the ``synthetic:`` section), then the preset of that name if there is one,
    then the fields the mapping gives. ``validators`` check field values against the registries
    (blend modes, masks, placements, generator names) and raise ``ValueError``.

    Raises:
        ConfigError: an unknown preset, field or source, or a bad value, naming the arm.
    """
    items = {name: None for name in arms} if isinstance(arms, list) else dict(arms)
    out: dict[str, ArmSpec] = {}
    for name, given in items.items():
        given = dict(given or {})
        if isinstance(arms, list) and name not in PRESETS:
            raise ConfigError(f"arms: unknown arm '{name}' ({did_you_mean(name, PRESETS)}); presets are "
                              f"{', '.join(PRESETS)}, and the mapping form declares new arms "
                              "(arms: {my_arm: {source: gan, tier: high}})")
        for key in given:
            if key not in ARM_FIELDS:
                raise ConfigError(f"arms.{name}: unknown field '{key}' ({did_you_mean(key, ARM_FIELDS)})")
        fields = {**{k: v for k, v in defaults.items() if k in ARM_FIELDS}, **PRESETS.get(name, {}), **given}
        source = fields.get("source")
        if source not in SOURCES:
            raise ConfigError(f"arms.{name}.source: unknown source '{source}' ({did_you_mean(source, SOURCES)})")
        try:
            spec = ArmSpec.model_validate(fields)
        except ValidationError as e:
            first = e.errors()[0]
            raise ConfigError(f"arms.{name}.{first['loc'][0]}: {first['msg']}") from None
        for key, check in (validators or {}).items():
            if key in SOURCES[spec.source].uses and getattr(spec, key) is not None:
                try:
                    check(getattr(spec, key))
                except ValueError as e:
                    raise ConfigError(f"arms.{name}.{key}: {e}") from None
        if spec.source == "classical" and spec.ratio != int(spec.ratio):
            raise ConfigError(f"arms.{name}.ratio: source classical makes whole copies of each train image, so "
                              f"ratio must be a whole number (got {spec.ratio:g})")
        if spec.mode == "replace" and spec.ratio > 1:
            raise ConfigError(f"arms.{name}: mode replace replaces real images one for one, so ratio must be "
                              f"<= 1 (got {spec.ratio:g})")
        out[name] = spec
    if "baseline" not in out or out["baseline"].source != "none":
        raise ConfigError("arms: include 'baseline' (source none): every other arm is compared with it")
    return out


def arm_key(spec: ArmSpec) -> dict[str, Any]:
    """The part of a spec its arm dataset reads: the source and the fields that source uses."""
    return {"source": spec.source, **{k: getattr(spec, k) for k in SOURCES[spec.source].uses}}


def gan_arms(specs: dict[str, ArmSpec]) -> list[str]:
    return [name for name, s in specs.items() if s.source == "gan"]


def default_contrasts(specs: dict[str, ArmSpec]) -> list[tuple[str, str]]:
    """Every arm against ``baseline``; every gan arm also against ``paste_real`` when that arm is present."""
    pairs = [(a, "baseline") for a in specs if a != "baseline"]
    if "paste_real" in specs:
        pairs += [(a, "paste_real") for a in gan_arms(specs)]
    return pairs


def check_contrasts(pairs: list[list[str]] | list[tuple[str, str]], specs: dict[str, ArmSpec]) -> list[tuple[str, str]]:
    """Validate ``contrasts: [[arm, reference], ...]`` against the declared arms."""
    out = []
    for i, pair in enumerate(pairs):
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ConfigError(f"contrasts[{i}]: expected [arm, reference] with two different arms, got {pair}")
        for name in pair:
            if name not in specs:
                raise ConfigError(f"contrasts[{i}]: unknown arm '{name}' ({did_you_mean(name, specs)})")
        out.append((pair[0], pair[1]))
    return list(dict.fromkeys(out))


def samples_name(spec: ArmSpec) -> str:
    """The samples folder an arm reads: its tier and generator set (arms sharing both share the samples)."""
    gens = "all" if spec.generators is None else "+".join(spec.generators)
    return f"{spec.tier}" if gens == "all" else f"{spec.tier}_{gens}"
