"""The VAE family: ``vae`` (one VAE per class, the traffic-sign study's choice) and ``cvae`` (one class-conditional
VAE for all classes). Networks and loss: :mod:`blendaug.gan.vae_models`.

A step is one Adam update of encoder and decoder on one batch: the negative log-likelihood of the batch under a
Gaussian decoder of pixel noise ``sigma`` plus ``beta`` times the KL divergence of the posterior from N(0, I),
with ``beta`` ramped up linearly over the first ``kl_warmup`` of the budget (so the decoder learns to use z
before the KL term pulls the posterior to the prior). DiffAugment does not apply: there is no discriminator.
A snapshot is the decoder; a sample is the decoder's mean at ``z ~ N(0, temperature^2 I)``. The per-step
reconstruction error (per-pixel MSE on [0, 1]), KL (nats per crop) and loss go to ``curves/<unit>.csv`` and
``.png`` (see :mod:`blendaug.gan.unit_loop`, which also gives the resume rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from blendaug.data.errors import DataError
from blendaug.gan.data import to_tensor, to_uint8
from blendaug.gan.models import n_doublings
from blendaug.gan.runs import ALL, load_state, save_state, snapshot_dir, snapshot_steps, start_run, write_run_info
from blendaug.gan.unit_loop import GRID_PER_ROW, LoopSettings, UnitData, grid_png, run_unit, seed_of
from blendaug.gan.vae_models import Decoder, Encoder, init_weights, vae_loss

GENERATORS = {"vae": False, "cvae": True}  # name -> conditional
_SAMPLE_BATCH = 256


class VaeOptions(BaseModel):
    """``gan.options.vae``: settings only the VAEs have (budget, batch, width and lr are the stage's)."""

    model_config = ConfigDict(extra="forbid")

    nz: int = Field(64, ge=1, description="latent dimensions")
    sigma: float = Field(0.5, gt=0, description="the decoder's pixel noise on the [0, 1] scale: smaller weighs "
                         "reconstruction more against the KL term (sharper reconstructions, samples further from "
                         "the data; see gan/README.md)")
    beta: float = Field(1.0, ge=0, description="weight of the KL term once warmed up")
    kl_warmup: float = Field(0.1, ge=0, le=1, description="fraction of the budget over which beta ramps up from 0")
    temperature: float = Field(1.0, gt=0, description="spread of the latent noise at sampling")


@dataclass(frozen=True)
class VaeSettings:
    image_size: int
    n_classes: int  # 0: unconditional
    nz: int
    width: int
    lr: float
    sigma: float
    beta: float
    warmup_steps: int
    amp: bool
    seed: int
    unit_index: int


class VaeUnit:
    """Encoder, decoder, Adam and grad scaler of one unit (a :class:`blendaug.gan.unit_loop.UnitModel`)."""

    loss_names = ("recon_mse", "kl", "loss")

    def __init__(self, s: VaeSettings, gen: torch.Generator, device: str):
        self.s, self.device = s, device
        self.enc = Encoder(s.image_size, s.nz, s.width, s.n_classes)
        self.dec = Decoder(s.image_size, s.nz, s.width, s.n_classes)
        init_weights(self.enc, gen)
        init_weights(self.dec, gen)
        self.enc, self.dec = self.enc.to(device), self.dec.to(device)
        self.opt = torch.optim.Adam([*self.enc.parameters(), *self.dec.parameters()], lr=s.lr)
        self.scaler = torch.amp.GradScaler(torch.device(device).type, enabled=s.amp)
        self.steps = 0
        grid_gen = torch.Generator().manual_seed(seed_of(s.seed, s.unit_index, 1))
        rows = s.n_classes or GRID_PER_ROW
        self.grid_z = torch.randn(rows * GRID_PER_ROW, s.nz, generator=grid_gen)
        self.grid_y = torch.arange(s.n_classes).repeat_interleave(GRID_PER_ROW) if s.n_classes else None

    def state_dict(self) -> dict:
        return {"enc": self.enc.state_dict(), "dec": self.dec.state_dict(), "opt": self.opt.state_dict(),
                "scaler": self.scaler.state_dict(), "steps": self.steps}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        for k in ("enc", "dec", "opt", "scaler"):
            getattr(self, k).load_state_dict(state[k])
        self.steps = int(state["steps"])

    def beta(self) -> float:
        """The KL weight at this step: linear from 0 over the warm-up, then ``beta``."""
        s = self.s
        return s.beta if self.steps >= s.warmup_steps else s.beta * (self.steps + 1) / (s.warmup_steps + 1)

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
        dev = x.device
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=self.s.amp):
            mu, logvar = self.enc(x, y)  # B x nz each
            eps = torch.randn(mu.shape, generator=gen).to(dev)
            z = mu.float() + (0.5 * logvar.float()).exp() * eps  # the reparameterisation trick
            x_hat = self.dec(z, y)  # B x 3 x S x S
        loss, mse, kl = vae_loss(x, x_hat, mu, logvar, self.s.sigma, self.beta())
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.steps += 1
        return torch.stack([mse, kl, loss]).detach()

    def write_snapshot(self, snap: Path, unit: str) -> None:
        save_state(snap / f"{unit}.pt", self.dec.state_dict())
        self.dec.eval()
        with torch.no_grad():
            y = self.grid_y.to(self.device) if self.grid_y is not None else None
            images = self.dec(self.grid_z.to(self.device), y)
        self.dec.train()
        grid_png(images, snap / f"{unit}.png")


@dataclass
class VaeSnapshot:
    """The decoder(s) of a VAE run at one step."""

    run_dir: Path
    step: int
    classes: list[str]
    info: dict = field(repr=False)
    _loaded: dict = field(default_factory=dict, repr=False)

    def decoder(self, class_name: str, device: str = "cpu") -> Decoder:
        if class_name not in self.classes:
            raise DataError(f"{self.run_dir}: no class {class_name!r} (has: {', '.join(self.classes)})")
        unit = ALL if self.info["conditional"] else class_name
        key = (unit, str(device))
        if key not in self._loaded:
            path = snapshot_dir(self.run_dir, self.step) / f"{unit}.pt"
            k = len(self.classes) if self.info["conditional"] else 0
            dec = Decoder(self.info["image_size"], self.info["options"]["nz"], self.info["width"], k)
            try:
                dec.load_state_dict(load_state(path))
            except (RuntimeError, TypeError, KeyError) as e:
                raise DataError(f"{path}: weights do not fit the run's decoder ({e})") from e
            self._loaded[key] = dec.to(device).eval()
        return self._loaded[key]

    @torch.no_grad()
    def sample(self, class_name: str, n: int, seed: int, device: str = "cpu") -> np.ndarray:
        """``n`` uint8 crops (n, S, S, 3); z is drawn row by row from ``seed``, so crop k does not depend on n."""
        dec = self.decoder(class_name, device)
        s = self.info["image_size"]
        if n == 0:
            return np.zeros((0, s, s, 3), np.uint8)
        rng = torch.Generator().manual_seed(int(seed))
        z = torch.stack([torch.randn(dec.nz, generator=rng) for _ in range(n)]) * self.info["options"]["temperature"]
        y = torch.full((n,), self.classes.index(class_name), dtype=torch.long)
        parts = [dec(z[i : i + _SAMPLE_BATCH].to(device), y[i : i + _SAMPLE_BATCH].to(device) if dec.n_classes
                     else None) for i in range(0, n, _SAMPLE_BATCH)]  # fmt: skip
        return to_uint8(torch.cat(parts))


class VaeFamily:
    """Variational autoencoders (see the module doc)."""

    generators = {"vae": "VAE, one per class (the traffic-sign study's choice)",
                  "cvae": "conditional VAE, one for all classes"}  # fmt: skip
    options_model = VaeOptions

    def units(self, generator: str, n_classes: int) -> int:
        return 1 if GENERATORS[generator] else max(1, n_classes)

    def train(self, job) -> dict:
        cfg, crops, out = job.cfg, job.crops, Path(job.out)
        opts = cfg.family_options("vae")
        size = int(job.info["image_size"])
        n_doublings(size)
        conditional = GENERATORS[job.generator]
        lr = cfg.lr or 1e-3
        info = {**job.info, "conditional": conditional, "lr": lr, "width": cfg.width, "options": opts}
        info["settings"] = {**info["settings"], "lr": lr, "width": cfg.width,
                            **{k: opts[k] for k in ("nz", "sigma", "beta", "kl_warmup")}}  # fmt: skip
        old = start_run(out, info)
        if old is not None and old.get("finished"):
            job.log(f"{out}: run already finished; nothing to do")
            return old
        write_run_info(out, info)
        amp = cfg.amp and torch.device(job.device).type == "cuda"
        loop = LoopSettings(job.budget.steps, frozenset(job.budget.snapshots), cfg.batch, cfg.checkpoint_every)
        warmup = round(opts["kl_warmup"] * job.budget.steps)
        x, labels = to_tensor(crops.images), torch.from_numpy(crops.labels)
        units = [ALL] if conditional else list(crops.class_names)
        for k, name in enumerate(units):
            data = UnitData(name, x, labels) if name == ALL else UnitData(name, x[labels == k], None)
            s = VaeSettings(size, len(crops.class_names) if conditional else 0, opts["nz"], cfg.width, lr,
                            opts["sigma"], opts["beta"], warmup, amp, job.seed, k)  # fmt: skip
            gen = torch.Generator().manual_seed(seed_of(job.seed, k))
            run_unit(data, VaeUnit(s, gen, job.device), gen, out, replace(loop, desc=f"{job.generator} {name}"),
                     job.device, job.progress, job.on_checkpoint, job.log)  # fmt: skip
        info["finished"] = True
        write_run_info(out, info)
        return info

    def snapshots(self, run_dir: Path, info: dict) -> list[VaeSnapshot]:
        units = [ALL] if info["conditional"] else list(info["classes"])
        steps = snapshot_steps(run_dir, lambda d: all((d / f"{u}.pt").is_file() for u in units))
        return [VaeSnapshot(Path(run_dir), s, list(info["classes"]), info) for s in steps]
