"""Load-time checks of a study config against the registries it names, with did-you-mean suggestions.

A typo in ``synthetic.blend`` or ``detection.recipe`` must stop the study before it trains a GAN for an
hour, not when the compositing or detection stage finally reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blendaug.data.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from blendaug.study.config import StudyConfig


def _check_blend(value: str) -> None:
    from blendaug.compositing.blend import BLEND_MODES, MODIFIERS, parse_blend

    try:
        parse_blend(value)
    except ValueError as e:
        bad = next((p.strip() for p in str(value).split("+") if p.strip() not in (*BLEND_MODES, "all", *MODIFIERS)),
                   "")
        raise ValueError(f"{e} ({did_you_mean(bad, [*BLEND_MODES, 'all', *MODIFIERS])})") from None


def _check_mask(value: str) -> None:
    from blendaug.compositing.masks import MASKS

    if value not in MASKS:
        raise ValueError(f"unknown mask {value!r} ({did_you_mean(value, MASKS)})")


def _check_per_image(value: str) -> None:
    from blendaug.compositing.placement import parse_range

    parse_range(value)


def _check_placement(value: str) -> None:
    from blendaug.compositing.placement import PLACEMENTS as modes

    if value not in modes:
        raise ValueError(f"unknown placement {value!r} ({did_you_mean(value, modes)})")


def arm_validators(cfg: StudyConfig) -> dict[str, Callable[[Any], None]]:
    """Value checks for the arm fields that name registry entries (generators: the trained ones)."""

    def generators(value: list[str]) -> None:
        for name in value:
            if name not in cfg.gan.archs:
                raise ValueError(f"generator {name!r} is not in gan.archs ({did_you_mean(name, cfg.gan.archs)})")

    return {"blend": _check_blend, "mask": _check_mask, "per_image": _check_per_image,
            "placement": _check_placement, "generators": generators}


def check_study(cfg: StudyConfig) -> None:
    """Raise ConfigError (naming the key) on any value that names a missing registry entry.

    Checks the arms (presets, fields, sources, blend, mask, per_image, placement, generators), the
    contrasts, the ``synthetic:`` defaults, the detection recipe, model and extra arguments, and that
    sweep keys exist.
    """
    for key, check in arm_validators(cfg).items():
        value = getattr(cfg.synthetic, key)
        if value is not None:
            try:
                check(value)
            except ValueError as e:
                raise ConfigError(f"synthetic.{key}: {e}") from None
    cfg.arm_specs()
    cfg.contrast_pairs()
    from blendaug.detection.train import RECIPES, check_overrides

    d = cfg.detection
    if d.recipe not in RECIPES:
        raise ConfigError(f"detection.recipe: unknown recipe {d.recipe!r} ({did_you_mean(d.recipe, RECIPES)})")
    from blendaug.detection.yolo import check_model

    try:
        check_model(d.model)
        check_overrides(dict(d.args))
    except ConfigError as e:
        key = "detection.model" if "--model" in str(e) else "detection.args"
        raise ConfigError(f"{key}: {str(e).removeprefix('--model: ')}") from None
    from blendaug.classification.models import MODELS

    if cfg.classification.enabled and cfg.classification.model not in MODELS:
        m = cfg.classification.model
        raise ConfigError(f"classification.model: unknown model {m!r} ({did_you_mean(m, MODELS)})")
