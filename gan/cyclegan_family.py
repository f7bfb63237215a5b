"""The CycleGAN family: sim-to-real translation of toyworld vehicle crops, one translator per class.

The cows/horses study's idea ("translate rather than generate from noise") applied to object crops:
for each class, an unpaired CycleGAN (:mod:`blendaug.gan.cyclegan_models`,
:mod:`blendaug.gan.cyclegan_train`) learns to turn toyworld crops of that class (domain A, drawn at
the crop size by :mod:`blendaug.data.toyworld_crops`) into the user's real crops of the class
(domain B). A sample is a freshly drawn toyworld crop translated, so the generator is an unlimited
source whose label is right by construction (a car is drawn as a car), pushed toward the real look.

Per class rather than conditional: each translator only ever sees one class on both sides, so it
cannot turn a car into a truck, and a class's look (paint, context) does not leak into another's.
A class is paired with the toyworld class of the same name (``car``, ``van``, ``truck``), or the one
``gan.options.cyclegan.source_classes`` maps it to (``{minibus: van, bus: truck}``).

``RUN/snapshots/step_NNNNNNN/<class>.pt`` holds the class's A -> B generator, ``<class>.png`` rows of
toyworld crops each followed by their translations. With ``gan.orient`` the toyworld crops are turned
like the real ones (tall boxes a quarter turn), and samples are turned back at the real crops' rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from blendaug.data.errors import ConfigError, DataError
from blendaug.gan.runs import load_state, snapshot_dir, snapshot_steps, start_run, write_run_info

DEFAULT_LR = 2e-4
GRID_SOURCES = 32  # toyworld crops in a snapshot grid: 4 rows of 8, each followed by its translation


class CycleGanOptions(BaseModel):
    """``gan.options.cyclegan``."""

    model_config = ConfigDict(extra="forbid")

    n_blocks: int = Field(6, ge=1, le=12, description="residual blocks of each generator (at a quarter of the side)")
    residual: bool = Field(True, description="generators add a learned correction to their input and start as "
                           "the identity (SimGAN's refiner; the reference CycleGAN: false)")
    d_layers: int | None = Field(None, ge=1, le=4, description="PatchGAN depth: 2 = 34 px patches, 3 = 70 px; "
                                 "None: 2 below 64 px, else 3")
    lambda_cycle: float = Field(10.0, ge=0, description="weight of the cycle-consistency L1 loss")
    lambda_identity: float = Field(0.5, ge=0, description="identity loss weight, a fraction of lambda_cycle")
    pool: int = Field(50, ge=0, description="generated images kept in each discriminator's history (0: none)")
    decay: bool = Field(True, description="learning rate constant for the first half, then linear to 0")
    source_crops: int = Field(1000, ge=8, description="toyworld crops per class in the training pool")
    source_classes: dict[str, str] = Field(default_factory=dict, description="crops class -> toyworld class "
                                           "(car, van, truck); a class of the same name needs no entry")
    source_pad: float = Field(0.1, ge=0, le=1, description="context padding of the toyworld crops (as data crops "
                              "--pad: match the real crops)")
    source_fit: Literal["letterbox", "square"] = Field("letterbox", description="crop fit of the toyworld crops "
                                                       "(as data crops --fit)")
    sample_chunk: int = Field(16, ge=1, description="crops translated at once when sampling (fixed, so crop k "
                              "does not depend on n)")


def source_classes(classes: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """Each crops class's toyworld class; ConfigError naming the option for a class toyworld cannot draw."""
    from blendaug.data.toyworld import TOYWORLD_NAMES

    out = {c: mapping.get(c, c) for c in classes}
    bad = {c: t for c, t in out.items() if t not in TOYWORLD_NAMES}
    if bad:
        c, t = next(iter(bad.items()))
        raise ConfigError(f"cyclegan: class {c!r} has no toyworld counterpart {t!r}; map it with "
                          f"gan.options.cyclegan.source_classes (gan train: --option 'source_classes={{{c}: car}}'; "
                          f"toyworld draws {', '.join(TOYWORLD_NAMES)})")  # fmt: skip
    unknown = sorted(set(mapping) - set(classes))
    if unknown:
        raise ConfigError(f"gan.options.cyclegan.source_classes: no crops of class(es) {', '.join(unknown)}")
    return out


@lru_cache(maxsize=32)
def draw_source(toy_class: str, n: int, size: int, seed: int, pad: float, fit: str, orient: bool) -> np.ndarray:
    """``n`` toyworld crops of ``toy_class`` (uint8, read-only), tall ones turned a quarter turn with ``orient``."""
    from blendaug.data.toyworld_crops import vehicle_crops

    images, tall = vehicle_crops(toy_class, n, size, seed, pad, fit)
    if orient:
        images[tall] = np.rot90(images[tall], 1, axes=(1, 2))
    images.setflags(write=False)
    return images


def sample_seed(seed: int, class_index: int) -> int:
    """The toyworld stream a sampling seed draws a class's source crops from (apart from the training pool's)."""
    return int(np.random.SeedSequence([int(seed), class_index, 5]).generate_state(1)[0])


@dataclass
class CycleGanSnapshot:
    """The per-class A -> B translators of one CycleGAN run at one step."""

    run_dir: Path
    step: int
    classes: list[str]
    info: dict = field(repr=False)
    _loaded: dict = field(default_factory=dict, repr=False)

    def generator(self, class_name: str, device: str = "cpu"):
        from blendaug.gan.cyclegan_models import ResnetGenerator

        if class_name not in self.classes:
            raise DataError(f"{self.run_dir}: no class {class_name!r} (has: {', '.join(self.classes)})")
        key = (class_name, str(device))
        if key not in self._loaded:
            path = snapshot_dir(self.run_dir, self.step) / f"{class_name}.pt"
            o = self.info["options"]
            g = ResnetGenerator(self.info["width"], o["n_blocks"], o["residual"])
            try:
                g.load_state_dict(load_state(path))
            except (RuntimeError, TypeError) as e:
                raise DataError(f"{path}: weights do not fit the run's generator ({e})") from e
            self._loaded[key] = g.to(device).eval()
        return self._loaded[key]

    def source(self, class_name: str, n: int, seed: int) -> np.ndarray:
        """The toyworld crops that :meth:`sample` translates for this seed."""
        o = self.info["options"]
        return draw_source(self.info["source"][class_name], n, int(self.info["image_size"]),
                           sample_seed(seed, self.classes.index(class_name)), o["source_pad"], o["source_fit"],
                           self.info.get("orientation") is not None)  # fmt: skip

    def sample(self, class_name: str, n: int, seed: int, device: str = "cpu") -> np.ndarray:
        """``n`` translated toyworld crops of ``class_name``, uint8 (n, S, S, 3); crop k independent of n."""
        from blendaug.gan.cyclegan_train import translate

        g = self.generator(class_name, device)
        return translate(g, self.source(class_name, n, seed), device, int(self.info["options"]["sample_chunk"]))


class CycleGanFamily:
    """Sim-to-real CycleGAN translators of toyworld crops (see the module doc)."""

    generators = {"cyclegan": "CycleGAN sim-to-real: toyworld crops translated toward the real crops, per class"}
    options_model = CycleGanOptions

    def units(self, generator: str, n_classes: int) -> int:
        return max(1, n_classes)

    def train(self, job) -> dict:
        from blendaug.gan.cyclegan_train import CycleSettings, train_class
        from blendaug.gan.data import to_tensor
        from blendaug.gan.diffaugment import parse_policy
        from blendaug.gan.train import unit_seed

        cfg, crops, out = job.cfg, job.crops, Path(job.out)
        opts = cfg.family_options("cyclegan")
        size = int(job.info["image_size"])
        if size % 4 or size < 16:
            raise ConfigError(f"cyclegan: image size {size} must be a multiple of 4, at least 16")
        mapping = source_classes(crops.class_names, opts["source_classes"])
        opts["d_layers"] = opts["d_layers"] or (2 if size < 64 else 3)
        lr = cfg.lr or DEFAULT_LR
        info = dict(job.info)
        info.update(conditional=False, lr=lr, width=cfg.width, source=mapping, options=opts)
        info["settings"] = {**info["settings"], "lr": lr, "width": cfg.width, "diffaugment": cfg.diffaugment,
                            **{f"cyclegan.{k}": v for k, v in opts.items()}}  # fmt: skip
        old = start_run(out, info)
        if old is not None and old.get("finished"):
            job.log(f"{out}: run already finished; nothing to do")
            return old
        write_run_info(out, info)
        cuda = torch.device(job.device).type == "cuda"
        amp_dtype = None
        if cfg.amp and cuda:
            amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        s = CycleSettings(job.budget.steps, frozenset(job.budget.snapshots), cfg.batch, lr, cfg.width, opts,
                          parse_policy(cfg.diffaugment), cfg.checkpoint_every, amp_dtype, job.seed)  # fmt: skip
        orient = job.info.get("orientation") is not None
        x = to_tensor(crops.images)
        for k, name in enumerate(crops.class_names):

            def draw(n: int, stream: int, k: int = k, name: str = name) -> np.ndarray:
                return draw_source(mapping[name], n, size, unit_seed(job.seed, k, stream), opts["source_pad"],
                                   opts["source_fit"], orient)  # fmt: skip

            real = x[torch.from_numpy(crops.labels == k)]
            source = to_tensor(np.array(draw(opts["source_crops"], 4)))
            train_class(name, k, real, source, draw(GRID_SOURCES, 1), out, s,
                        job.device, job.progress, job.on_checkpoint, job.log)  # fmt: skip
        info["finished"] = True
        write_run_info(out, info)
        return info

    def snapshots(self, run_dir: Path, info: dict) -> list[CycleGanSnapshot]:
        steps = snapshot_steps(run_dir, lambda d: all((d / f"{c}.pt").is_file() for c in info["classes"]))
        return [CycleGanSnapshot(Path(run_dir), s, list(info["classes"]), info) for s in steps]
