"""The DDPM family: a class-conditional denoising diffusion model (diffusers' ``UNet2DModel``).

One UNet for all classes (``unit`` ``all``), trained with the DDPM objective on a ``DDPMScheduler``
and sampled with a deterministic DDIM sampler in ``sample_steps`` steps (see
:mod:`blendaug.gan.ddpm_model`, the only module that imports diffusers, and
:mod:`blendaug.gan.ddpm_train`). ``RUN/snapshots/step_NNNNNNN/all.pt`` holds the averaged UNet's
weights, ``all.png`` its grid; the UNet is rebuilt from ``run.json``'s ``unet`` config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from blendaug.data.errors import DataError
from blendaug.gan.runs import ALL, load_state, snapshot_dir, snapshot_steps


class DdpmOptions(BaseModel):
    """``gan.options.ddpm``."""

    model_config = ConfigDict(extra="forbid")

    train_timesteps: int = Field(1000, ge=10, description="noise levels of the DDPM forward process")
    beta_schedule: Literal["linear", "squaredcos_cap_v2"] = Field(
        "squaredcos_cap_v2", description="noise schedule (squaredcos_cap_v2: the cosine schedule of Nichol & "
        "Dhariwal 2021, better at small image sizes)")
    prediction: Literal["v_prediction", "epsilon"] = Field(
        "v_prediction", description="what the UNet predicts: the velocity (stable at the noisiest steps) or the "
        "noise; with epsilon on toyworld the first DDIM steps amplified errors into flat, saturated background "
        "colours")
    sample_steps: int = Field(25, ge=1, description="DDIM steps per sample (a fast sampler: fewer is faster)")
    guidance: float = Field(1.0, ge=0, description="classifier-free guidance scale at sampling (1: plain "
                            "conditional, no extra pass; > 1 stresses the class)")
    cond_drop: float = Field(0.1, ge=0, lt=1, description="share of training labels replaced by the null class "
                             "(what guidance needs)")
    attention: bool = Field(True, description="self-attention at the 8 x 8 level of the UNet")
    layers_per_block: int = Field(1, ge=1, le=4, description="ResNet layers per UNet level")
    warmup: int = Field(100, ge=0, description="steps of linear learning-rate warm-up")
    ema: float = Field(0.999, ge=0, lt=1, description="decay of the weights' moving average that snapshots take "
                       "(ramped up over the first steps; 0: the raw UNet)")
    flip: bool = Field(True, description="random left-right and up-down flips of the training crops")
    sample_chunk: int = Field(16, ge=1, description="crops the UNet denoises at once when sampling (fixed, so "
                              "crop k does not depend on n)")


@dataclass
class DdpmSnapshot:
    """The averaged UNet of one DDPM run at one step."""

    run_dir: Path
    step: int
    classes: list[str]
    info: dict = field(repr=False)
    _loaded: dict = field(default_factory=dict, repr=False)

    def unet(self, device: str = "cpu"):
        """The eval-mode UNet (cached per device)."""
        from blendaug.gan.ddpm_model import build_unet

        if str(device) not in self._loaded:
            path = snapshot_dir(self.run_dir, self.step) / f"{ALL}.pt"
            unet = build_unet(self.info["unet"])
            try:
                unet.load_state_dict(load_state(path))
            except (RuntimeError, TypeError) as e:
                raise DataError(f"{path}: weights do not fit the run's UNet ({e})") from e
            self._loaded[str(device)] = unet.to(device).eval()
        return self._loaded[str(device)]

    def sample(self, class_name: str, n: int, seed: int, device: str = "cpu") -> np.ndarray:
        """``n`` crops of ``class_name``, uint8 (n, S, S, 3): DDIM from seeded noise, crop k independent of n."""
        from blendaug.gan.ddpm_model import sample_uint8

        if class_name not in self.classes:
            raise DataError(f"{self.run_dir}: no class {class_name!r} (has: {', '.join(self.classes)})")
        return sample_uint8(self.unet(device), self.info["options"], self.classes.index(class_name), n, seed, device)


class DdpmFamily:
    """Class-conditional DDPM (diffusers UNet2DModel, DDPM training, DDIM sampling)."""

    generators = {"ddpm": "class-conditional DDPM (diffusers UNet), DDIM sampling, one model for all classes"}
    options_model = DdpmOptions

    def units(self, generator: str, n_classes: int) -> int:
        return 1

    def train(self, job) -> dict:
        from blendaug.gan.ddpm_train import train_ddpm

        return train_ddpm(job)

    def snapshots(self, run_dir: Path, info: dict) -> list[DdpmSnapshot]:
        steps = snapshot_steps(run_dir, lambda d: (d / f"{ALL}.pt").is_file())
        return [DdpmSnapshot(Path(run_dir), s, list(info["classes"]), info) for s in steps]
