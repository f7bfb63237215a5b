"""The generator stage's config: which generators to train, their budget, scoring and tiers (``GanConfig``).

The study embeds :class:`GanConfig` as its ``gan:`` section unchanged; ``blendaug gan train|score``
build one from their flags. Generator names are checked against the family registry
(:mod:`blendaug.gan.families`) when the config loads, with a did-you-mean suggestion, and each
family's own settings (``options.<family>``) against that family's options model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from blendaug.data.errors import did_you_mean
from blendaug.gan.budget import Budget, check_snapshot_values, resolve_budget
from blendaug.gan.quality.tiers import TierRule


class GanConfig(BaseModel):
    """Settings of the generator stage (the study's ``gan:`` section)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    archs: list[str] = Field(default_factory=lambda: ["cdcgan"],
                             description="generators to train, names from the family registry (gan.families)")
    steps: int | None = Field(None, ge=1, description="budget: optimiser steps per generator (one batch each); "
                              "default 2000 when epochs is not given either")
    epochs: int | None = Field(None, ge=1, description="budget in epochs instead of steps (converted with the crops "
                               "per generator; the conversion is recorded in run.json)")
    snapshots: list[int | float] = Field(default_factory=lambda: [0.05, 0.2, 0.5, 1.0],
                                         description="snapshot points: integers in the budget's unit (steps or "
                                         "epochs) or fractions of the budget (0.5); the end always is one")
    batch: int = Field(64, ge=1, description="batch size (capped at a generator's number of crops)")
    width: int = Field(64, ge=1, description="base channel count of the networks")
    lr: float | None = Field(None, gt=0, description="learning rate; None = the generator's own default")
    diffaugment: str = Field("color,translation,cutout", description="DiffAugment policies for discriminators "
                             "('' for none)")
    image_size: int | None = Field(None, ge=8, description="side the crops are resized to; None = the crops' side")
    holdout: float = Field(0.0, ge=0, lt=1, description="fraction of the train crops held out from training "
                           "(whole groups): what the scorer measures on when no held-out crops folder is given, "
                           "else the copy check's reference (new frames of the train scenes)")
    holdout_group: str | None = Field(None, description="regex on source_image whose first group keeps held-out "
                                      "crops together (e.g. a video clip); None = by source image")
    orient: bool = Field(False, description="train on crops turned so their box is wider than tall, and turn "
                         "samples back at each class's rate (top-down imagery has no 'up'; see gan/orientation.py)")
    checkpoint_every: int = Field(500, ge=1, description="steps between resumable checkpoints (and at snapshots)")
    amp: bool = Field(True, description="mixed precision on CUDA")
    score_n: int = Field(200, ge=10, description="generated crops per class and snapshot for quality scoring "
                         "(capped at the class's train crops, to match the real anchor)")
    feature_epochs: int = Field(30, ge=1, description="epochs of the feature network trained on the train crops")
    tiers: TierRule = Field(default_factory=TierRule, description="thresholds of the quality tiers")
    allow_unusable: bool = Field(False, description="let a study arm use a tier no usable snapshot has (its "
                                 "verdict is then marked invalid) instead of stopping before detection")
    options: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                               description="per-family settings, e.g. {gan: {nz: 100}}")

    @field_validator("archs")
    @classmethod
    def _known_generators(cls, v: list[str]) -> list[str]:
        from blendaug.gan.families import generator_names

        names = generator_names()
        for name in v:
            if name not in names:
                raise ValueError(f"unknown generator {name!r} ({did_you_mean(name, names)})")
        if not v:
            raise ValueError("give at least one generator")
        return list(dict.fromkeys(v))

    @field_validator("snapshots")
    @classmethod
    def _snapshot_values(cls, v: list[int | float]) -> list[int | float]:
        from blendaug.data.errors import ConfigError

        try:
            check_snapshot_values(v, None, "steps or epochs")
        except ConfigError as e:
            raise ValueError(str(e)) from None
        # 1 (step or epoch 1) and 1.0 (the end) are equal in Python, so deduplicate by (type, value).
        unique = {(isinstance(x, float), x): x for x in v}
        return [unique[k] for k in sorted(unique)]

    @field_validator("diffaugment")
    @classmethod
    def _policies(cls, v: str) -> str:
        from blendaug.data.errors import ConfigError
        from blendaug.gan.diffaugment import parse_policy

        try:
            parse_policy(v)
        except ConfigError as e:
            raise ValueError(str(e).removeprefix("--diffaugment: ")) from None
        return v

    @field_validator("options")
    @classmethod
    def _family_options(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from blendaug.gan.families import FAMILIES

        out = {}
        for family, values in v.items():
            if family not in FAMILIES:
                raise ValueError(f"options: unknown family {family!r} ({did_you_mean(family, FAMILIES)})")
            model = FAMILIES[family].options_model
            out[family] = model.model_validate(values or {}).model_dump()
        return out

    @model_validator(mode="after")
    def _one_budget(self) -> GanConfig:
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give the budget as steps or as epochs, not both")
        limit, unit = (self.steps, "steps") if self.epochs is None else (self.epochs, "epochs")
        ints = [s for s in self.snapshots if isinstance(s, int)]
        if limit is not None and any(s > limit for s in ints):
            raise ValueError(f"snapshots {[s for s in ints if s > limit]} beyond the budget of {limit} {unit}")
        return self

    def budget(self, crops_per_generator: float) -> Budget:
        """The budget in steps for a generator that trains on ``crops_per_generator`` crops (see gan.budget)."""
        steps = self.steps if self.steps is not None or self.epochs is not None else 2000
        return resolve_budget(steps, self.epochs, self.snapshots, self.batch, crops_per_generator)

    def family_options(self, family: str) -> dict[str, Any]:
        """``options.<family>`` completed with the family's defaults."""
        from blendaug.gan.families import FAMILIES

        return FAMILIES[family].options_model.model_validate(self.options.get(family, {})).model_dump()
