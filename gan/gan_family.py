"""The GAN family: the DCGAN-style zoo of :mod:`blendaug.gan.registry` behind the family interface."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from blendaug.gan.registry import GAN_ARCHS, get_arch


class GanOptions(BaseModel):
    """``gan.options.gan``: settings only the GANs have."""

    model_config = ConfigDict(extra="forbid")

    nz: int = Field(100, ge=1, description="noise dimensions")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="one-sided: real target 1 - this ((c)DCGAN only)")
    channels_last: bool = Field(False, description="NHWC memory format (faster on CUDA)")
    ema: float = Field(0.999, ge=0, lt=1, description="decay of the generator's moving average that snapshots "
                       "take (ramped up over the first steps; 0: the raw generator)")


class GanFamily:
    """DCGAN, cDCGAN, WGAN-GP and cWGAN-GP (see gan/README.md)."""

    generators = {name: spec.description for name, spec in GAN_ARCHS.items()}
    options_model = GanOptions

    def units(self, generator: str, n_classes: int) -> int:
        return 1 if get_arch(generator).conditional else max(1, n_classes)

    def train(self, job) -> dict:
        from blendaug.gan.train import train_run

        return train_run(job)

    def snapshots(self, run_dir: Path, info: dict) -> list:
        from blendaug.gan.snapshots import list_snapshots

        return list_snapshots(run_dir, info)
