"""GanConfig: generator names from the family registry, budgets in steps (or epochs), snapshots, options."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from blendaug.data.errors import ConfigError
from blendaug.gan.budget import resolve_budget, steps_per_epoch
from blendaug.gan.config import GanConfig
from blendaug.gan.families import FAMILIES, family_of, generator_names


def test_generator_names_come_from_the_registry():
    assert generator_names() == [name for family in FAMILIES.values() for name in family.generators]
    assert {"dcgan", "cdcgan", "wgan-gp", "cwgan-gp", "replay", "fastgan", "cfastgan", "vae", "cvae"} <= set(
        generator_names()
    )
    assert family_of("cwgan-gp") == "gan" and family_of("replay") == "replay"
    with pytest.raises(ConfigError, match=r"gan.archs: unknown generator 'cdcgn' \(did you mean 'cdcgan'\?\)"):
        family_of("cdcgn")


def test_unknown_arch_is_a_validation_error_with_a_suggestion():
    with pytest.raises(ValidationError, match=r"unknown generator 'wgan_gp' \(did you mean 'wgan-gp'\?\)"):
        GanConfig(archs=["wgan_gp"])
    with pytest.raises(ValidationError, match="extra"):
        GanConfig(epoch=3)  # a typo of a key is an error too (the study suggests the closest key)
    assert GanConfig(archs=["dcgan", "dcgan", "replay"]).archs == ["dcgan", "replay"]


def test_todays_study_keys_still_work():
    cfg = GanConfig.model_validate({"archs": ["cdcgan"], "epochs": 20, "snapshots": [8, 2, 20, 2], "batch": 64,
                                    "diffaugment": "color,translation,cutout", "score_n": 100})
    assert cfg.snapshots == [2, 8, 20]
    budget = cfg.budget(crops_per_generator=300)  # 300 // 64 = 4 steps per epoch
    assert budget.steps == 80 and budget.snapshots == (8, 32, 80)
    assert budget.stated == {"epochs": 20, "steps_per_epoch": 4, "crops_per_generator": 300, "batch": 64,
                             "snapshots": [2, 8, 20]}


def test_steps_and_fractions():
    cfg = GanConfig(steps=1000, snapshots=[0.1, 250, 1.0, 1])
    # 1 is step 1, 1.0 the end: both kept.
    assert cfg.snapshots == [1, 250, 0.1, 1.0]
    assert cfg.budget(50).snapshots == (1, 100, 250, 1000)
    assert GanConfig().budget(10).steps == 2000  # the default budget
    assert GanConfig(steps=7, snapshots=[0.5]).budget(10).snapshots == (4, 7)  # the end is always a snapshot


def test_bad_budgets():
    with pytest.raises(ValidationError, match="not both"):
        GanConfig(steps=10, epochs=2)
    with pytest.raises(ValidationError, match=r"beyond the budget of 10 steps"):
        GanConfig(steps=10, snapshots=[5, 20])
    with pytest.raises(ValidationError, match=r"fraction 1.5 outside \(0, 1\]"):
        GanConfig(snapshots=[1.5])
    with pytest.raises(ValidationError, match="diffaugment|unknown"):
        GanConfig(diffaugment="colour")
    with pytest.raises(ConfigError, match="exactly one"):
        resolve_budget(None, None, [], 64, 10)


def test_steps_per_epoch_caps_the_batch():
    assert steps_per_epoch(300, 64) == 4
    assert steps_per_epoch(10, 64) == 1  # batch capped at N: one full-batch step
    assert steps_per_epoch(0.4, 8) == 1


def test_family_options_are_validated_and_completed():
    cfg = GanConfig(options={"gan": {"nz": 16}})
    assert cfg.options["gan"]["nz"] == 16 and cfg.family_options("gan")["ema"] == 0.999
    assert GanConfig().family_options("replay") == {"source": None}
    with pytest.raises(ValidationError, match=r"unknown family 'gans' \(did you mean 'gan'\?\)"):
        GanConfig(options={"gans": {}})
    with pytest.raises(ValidationError, match="nz"):
        GanConfig(options={"gan": {"nz": 0}})
