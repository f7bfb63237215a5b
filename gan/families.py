"""Generator families: the one interface between generators and everything downstream.

A *family* is a kind of generator (DCGAN-style GANs, replayed real crops; FastGAN, VAE, DDPM or an
image translator next). Each one can

- ``train(job)``: train (or resume) a run folder from a :class:`TrainJob`, writing ``run.json`` and
  its snapshots (see :mod:`blendaug.gan.runs`);
- ``snapshots(run_dir, info)``: list its complete snapshots, each a :class:`Snapshot`;
- ``Snapshot.sample(class_name, n, seed, device)``: draw ``n`` uint8 RGB crops ``(n, S, S, 3)`` of a
  class; the same seed gives the same crops, and crop ``k`` does not depend on ``n``.

Scoring, tiers, sampling by tier, compositing and the study see only this. Adding a family is one
module with a class like :class:`blendaug.gan.gan_family.GanFamily` plus one entry in
:data:`FAMILIES`; its generator names then become valid ``gan.archs`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from pydantic import BaseModel

from blendaug.data.errors import ConfigError, DataError, did_you_mean
from blendaug.gan.budget import Budget
from blendaug.gan.cyclegan_family import CycleGanFamily
from blendaug.gan.ddpm_family import DdpmFamily
from blendaug.gan.fastgan import FastGanFamily
from blendaug.gan.gan_family import GanFamily
from blendaug.gan.orientation import OrientedSnapshot
from blendaug.gan.replay_family import ReplayFamily
from blendaug.gan.runs import read_run_info
from blendaug.gan.vae import VaeFamily

if TYPE_CHECKING:
    from blendaug.gan.config import GanConfig
    from blendaug.gan.data import Crops


class Snapshot(Protocol):
    """A trained generator at one step of its run."""

    step: int
    classes: list[str]

    def sample(self, class_name: str, n: int, seed: int, device: str = "cpu") -> np.ndarray: ...


@dataclass(frozen=True)
class TrainJob:
    """Everything a family needs to train one run.

    Attributes:
        generator: the generator name (a key of the family's ``generators``).
        crops: the training crops, resized to the run's image size (held-out crops removed).
        out: the run folder.
        cfg: the stage config (budget, batch, width, lr, diffaugment, ``options``...).
        budget: the resolved budget in steps.
        info: the family-agnostic ``run.json`` content; the family adds its keys and writes it.
        seed, device, progress, log: as named.
        on_checkpoint: called as ``(unit, step)`` after each checkpoint (tests interrupt here).
    """

    generator: str
    crops: Crops
    out: Path
    cfg: GanConfig
    budget: Budget
    info: dict
    seed: int = 0
    device: str = "cpu"
    progress: bool = False
    log: Callable[[str], None] = print
    on_checkpoint: Callable[[str, int], None] | None = None


class Family(Protocol):
    """What a generator family provides (see the module doc)."""

    generators: dict[str, str]  # generator name -> one-line description
    options_model: type[BaseModel]  # its ``gan.options.<family>`` settings

    def units(self, generator: str, n_classes: int) -> int:
        """How many generators a run trains (1, or one per class): the epoch conversion divides by it."""
        ...

    def train(self, job: TrainJob) -> dict: ...

    def snapshots(self, run_dir: Path, info: dict) -> list[Snapshot]: ...


FAMILIES: dict[str, Family] = {
    "gan": GanFamily(),
    "replay": ReplayFamily(),
    "fastgan": FastGanFamily(),
    "vae": VaeFamily(),
    "ddpm": DdpmFamily(),
    "cyclegan": CycleGanFamily(),
}


def generator_names() -> list[str]:
    """Every trainable generator name, from the family registry."""
    return [name for family in FAMILIES.values() for name in family.generators]


def family_of(generator: str, key: str = "gan.archs") -> str:
    """The family that trains ``generator``; ConfigError naming ``key``, with a suggestion, for an unknown name."""
    for fname, family in FAMILIES.items():
        if generator in family.generators:
            return fname
    names = generator_names()
    raise ConfigError(f"{key}: unknown generator {generator!r} ({did_you_mean(generator, names)})")


def list_snapshots(run_dir: Path) -> list[Snapshot]:
    """The complete snapshots of a run folder of any family, sorted by step."""
    info = read_run_info(run_dir)
    if info["family"] not in FAMILIES:
        raise DataError(f"{Path(run_dir) / 'run.json'}: unknown family {info['family']!r}")
    snaps = sorted(FAMILIES[info["family"]].snapshots(Path(run_dir), info), key=lambda s: s.step)
    share = (info.get("orientation") or {}).get("turned_share")
    return [OrientedSnapshot(s, share) for s in snaps] if share else snaps
