"""The FastGAN family (Liu et al., ICLR 2021): ``fastgan`` (one generator per class, the paper's setting) and
``cfastgan`` (one class-conditional generator for all classes). Networks: :mod:`blendaug.gan.fastgan_models`.

Training, as in the paper: hinge loss with the paper's code's random margins (D: ``relu(u - D(x))`` on real and
``relu(u + D(G(z)))`` on fake, ``u ~ U(0.8, 1.0)`` per logit; G: ``-D(G(z))``), plus D's reconstruction loss on
real images (L1 between each decoder's output and the area-downsampled input or input quarter; the paper's code
uses LPIPS, whose VGG weights would have to be downloaded), DiffAugment on every image D sees (the
reconstruction targets are the augmented reals), Adam (2e-4, (0.5, 0.999)) for both, one D and one G update
per step on the same fake batch, an exponential moving average of G for the snapshots (ramped up as in the GAN
family). A snapshot is the average generator with its batch-norm statistics re-estimated over fresh noise.
Resuming and the run folder follow :mod:`blendaug.gan.unit_loop`.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from blendaug.data.errors import DataError
from blendaug.gan.data import to_tensor, to_uint8
from blendaug.gan.diffaugment import diff_augment, parse_policy
from blendaug.gan.fastgan_models import FastGenerator, build, quarter, recon_side
from blendaug.gan.models import n_doublings
from blendaug.gan.runs import ALL, load_state, save_state, snapshot_dir, snapshot_steps, start_run, write_run_info
from blendaug.gan.train import ema_decay, update_ema
from blendaug.gan.unit_loop import GRID_PER_ROW, LoopSettings, UnitData, grid_png, run_unit, seed_of

GENERATORS = {"fastgan": False, "cfastgan": True}  # name -> conditional
_SAMPLE_BATCH = 256


class FastGanOptions(BaseModel):
    """``gan.options.fastgan``: settings only FastGAN has (the budget, batch, width, lr and DiffAugment are the
    stage's)."""

    model_config = ConfigDict(extra="forbid")

    nz: int = Field(128, ge=1, description="noise dimensions (the paper: 256)")
    recon_weight: float = Field(1.0, ge=0, description="weight of the discriminator's reconstruction loss")
    spectral_norm: bool = Field(True, description="spectral norm on every conv of both networks, as the paper's code")
    ema: float = Field(0.999, ge=0, lt=1, description="decay of the generator average the snapshots take (0: raw G)")


@torch.no_grad()
def calibrated(g: FastGenerator, gen: torch.Generator, batches: int = 8, batch: int = 64) -> FastGenerator:
    """An eval-mode copy whose batch-norm statistics are plain averages over ``batches`` batches of fresh noise.

    Only the norms run in train mode: the spectral norms' power iteration must not move the weights."""
    device = next(g.parameters()).device
    copy = deepcopy(g).eval()
    norms = [m for m in copy.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
        m.train()
    for _ in range(batches):
        z = torch.randn(batch, g.nz, generator=gen).to(device)  # batch x nz
        y = torch.randint(0, g.n_classes, (batch,), generator=gen).to(device) if g.n_classes else None
        copy(z, y, g.draw_noise(batch, gen, device))
    for m in norms:
        m.momentum = 0.1
    return copy.eval()


def hinge_d(logits: torch.Tensor, real: bool, gen: torch.Generator) -> torch.Tensor:
    """``relu(u -/+ logits)`` with a margin ``u ~ U(0.8, 1)`` per logit (the paper's code), averaged."""
    u = (torch.rand(logits.shape, generator=gen) * 0.2 + 0.8).to(logits.device)
    return F.relu(u - logits.float() if real else u + logits.float()).mean()


@dataclass(frozen=True)
class FastSettings:
    image_size: int
    n_classes: int  # 0: unconditional
    nz: int
    width: int
    lr: float
    policy: tuple[str, ...]
    recon_weight: float
    spectral_norm: bool
    ema: float
    amp: bool
    seed: int
    unit_index: int


class FastGanUnit:
    """G, D, their Adams and grad scalers, G's average: one unit's training state (a :class:`UnitModel`)."""

    loss_names = ("d_real", "d_fake", "recon", "g")

    def __init__(self, s: FastSettings, gen: torch.Generator, device: str):
        self.s, self.device = s, device
        self.g, self.d = build(s.image_size, s.n_classes, gen, s.nz, s.width, s.spectral_norm)
        self.g, self.d = self.g.to(device), self.d.to(device)
        self.ema = deepcopy(self.g).requires_grad_(False) if s.ema else None
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=s.lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=s.lr, betas=(0.5, 0.999))
        kind = torch.device(device).type
        self.scaler_g = torch.amp.GradScaler(kind, enabled=s.amp)
        self.scaler_d = torch.amp.GradScaler(kind, enabled=s.amp)
        self.g_steps = 0
        self.side = recon_side(s.image_size)
        grid_gen = torch.Generator().manual_seed(seed_of(s.seed, s.unit_index, 1))
        rows = s.n_classes or GRID_PER_ROW
        self.grid_z = torch.randn(rows * GRID_PER_ROW, s.nz, generator=grid_gen)
        self.grid_noise = self.g.draw_noise(rows * GRID_PER_ROW, grid_gen)
        self.grid_y = torch.arange(s.n_classes).repeat_interleave(GRID_PER_ROW) if s.n_classes else None

    _PARTS = ("g", "d", "ema", "opt_g", "opt_d", "scaler_g", "scaler_d")

    def state_dict(self) -> dict:
        state = {k: getattr(self, k).state_dict() for k in self._PARTS if getattr(self, k) is not None}
        return {**state, "g_steps": self.g_steps}

    def load_state_dict(self, state: dict) -> None:
        for k in self._PARTS:
            if getattr(self, k) is not None:
                getattr(self, k).load_state_dict(state[k])
        self.g_steps = int(state["g_steps"])

    def _down(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(self.side, self.side), mode="area")

    def train_step(self, real: torch.Tensor, y: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
        s, dev = self.s, real.device
        amp = torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=s.amp)
        b = real.shape[0]
        z = torch.randn(b, s.nz, generator=gen).to(dev)  # B x nz
        noise = self.g.draw_noise(b, gen, dev)
        part = int(torch.randint(0, 4, (1,), generator=gen))
        with amp:
            fake = self.g(z, y, noise)  # B x 3 x S x S
            real_in = diff_augment(real, s.policy, gen)
            logits, rec_all, rec_part = self.d(real_in, y, part)
            recon = (F.l1_loss(rec_all.float(), self._down(real_in).float())
                     + F.l1_loss(rec_part.float(), self._down(quarter(real_in, part)).float()))  # fmt: skip
            d_real = hinge_d(logits, True, gen)
            d_fake = hinge_d(self.d(diff_augment(fake.detach(), s.policy, gen), y), False, gen)
            d_loss = d_real + d_fake + s.recon_weight * recon
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(d_loss).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        self.d.requires_grad_(False)  # G's backward needs grads through D, not D's weight grads
        try:
            with amp:
                g_loss = -self.d(diff_augment(fake, s.policy, gen), y).float().mean()
            self.opt_g.zero_grad(set_to_none=True)
            self.scaler_g.scale(g_loss).backward()
            self.scaler_g.step(self.opt_g)
            self.scaler_g.update()
        finally:
            self.d.requires_grad_(True)
        if self.ema is not None:
            update_ema(self.ema, self.g, ema_decay(s.ema, self.g_steps))
        self.g_steps += 1
        return torch.stack([d_real, d_fake, recon, g_loss]).detach()

    def write_snapshot(self, snap: Path, unit: str) -> None:
        gen = torch.Generator().manual_seed(seed_of(self.s.seed, self.s.unit_index, 2))
        g = calibrated(self.ema if self.ema is not None else self.g, gen)
        save_state(snap / f"{unit}.pt", g.state_dict())
        with torch.no_grad():
            y = self.grid_y.to(self.device) if self.grid_y is not None else None
            images = g(self.grid_z.to(self.device), y, [x.to(self.device) for x in self.grid_noise])
        grid_png(images, snap / f"{unit}.png")


def generator_of(info: dict) -> FastGenerator:
    opts = info["options"]
    k = len(info["classes"]) if info["conditional"] else 0
    g = FastGenerator(info["image_size"], opts["nz"], info["width"], k)
    if opts["spectral_norm"]:
        from blendaug.gan.fastgan_models import with_spectral_norm

        with_spectral_norm(g, torch.Generator().manual_seed(0))  # the vectors are replaced by the snapshot's
    return g


@dataclass
class FastGanSnapshot:
    """The generator(s) of a FastGAN run at one step."""

    run_dir: Path
    step: int
    classes: list[str]
    info: dict = field(repr=False)
    _loaded: dict = field(default_factory=dict, repr=False)

    def generator(self, class_name: str, device: str = "cpu") -> FastGenerator:
        if class_name not in self.classes:
            raise DataError(f"{self.run_dir}: no class {class_name!r} (has: {', '.join(self.classes)})")
        unit = ALL if self.info["conditional"] else class_name
        key = (unit, str(device))
        if key not in self._loaded:
            path = snapshot_dir(self.run_dir, self.step) / f"{unit}.pt"
            g = generator_of(self.info)
            try:
                g.load_state_dict(load_state(path))
            except (RuntimeError, TypeError, KeyError) as e:
                raise DataError(f"{path}: weights do not fit the run's generator ({e})") from e
            self._loaded[key] = g.to(device).eval()
        return self._loaded[key]

    @torch.no_grad()
    def sample(self, class_name: str, n: int, seed: int, device: str = "cpu") -> np.ndarray:
        """``n`` uint8 crops (n, S, S, 3); crop k's noise (z, then its noise maps) is drawn row by row from
        ``seed``, so it does not depend on ``n``."""
        g = self.generator(class_name, device)
        s = self.info["image_size"]
        if n == 0:
            return np.zeros((0, s, s, 3), np.uint8)
        rng = torch.Generator().manual_seed(int(seed))
        rows = [(torch.randn(g.nz, generator=rng), [torch.randn(1, r, r, generator=rng) for r in g.noise_sides])
                for _ in range(n)]  # fmt: skip
        z = torch.stack([r[0] for r in rows])  # n x nz
        noise = [torch.stack([r[1][k] for r in rows]) for k in range(len(g.noise_sides))]  # n x 1 x r x r each
        y = torch.full((n,), self.classes.index(class_name), dtype=torch.long)
        parts = []
        for i in range(0, n, _SAMPLE_BATCH):
            sl = slice(i, i + _SAMPLE_BATCH)
            parts.append(g(z[sl].to(device), y[sl].to(device) if g.n_classes else None,
                           [m[sl].to(device) for m in noise]))  # fmt: skip
        return to_uint8(torch.cat(parts))


class FastGanFamily:
    """FastGAN: skip-layer excitation generator, self-supervised discriminator (see the module doc)."""

    generators = {"fastgan": "FastGAN (Liu et al. 2021), one generator per class",
                  "cfastgan": "class-conditional FastGAN, one generator for all classes"}  # fmt: skip
    options_model = FastGanOptions

    def units(self, generator: str, n_classes: int) -> int:
        return 1 if GENERATORS[generator] else max(1, n_classes)

    def train(self, job) -> dict:
        cfg, crops, out = job.cfg, job.crops, Path(job.out)
        opts = cfg.family_options("fastgan")
        size = int(job.info["image_size"])
        n_doublings(size)
        policy = parse_policy(cfg.diffaugment)
        conditional = GENERATORS[job.generator]
        lr = cfg.lr or 2e-4
        info = {**job.info, "conditional": conditional, "lr": lr, "width": cfg.width, "options": opts}
        info["settings"] = {**info["settings"], "lr": lr, "width": cfg.width, "diffaugment": cfg.diffaugment,
                            **{k: opts[k] for k in ("nz", "recon_weight", "spectral_norm", "ema")}}  # fmt: skip
        old = start_run(out, info)
        if old is not None and old.get("finished"):
            job.log(f"{out}: run already finished; nothing to do")
            return old
        write_run_info(out, info)
        amp = cfg.amp and torch.device(job.device).type == "cuda"
        loop = LoopSettings(job.budget.steps, frozenset(job.budget.snapshots), cfg.batch, cfg.checkpoint_every)
        x, labels = to_tensor(crops.images), torch.from_numpy(crops.labels)
        units = [ALL] if conditional else list(crops.class_names)
        for k, name in enumerate(units):
            data = UnitData(name, x, labels) if name == ALL else UnitData(name, x[labels == k], None)
            s = FastSettings(size, len(crops.class_names) if conditional else 0, opts["nz"], cfg.width, lr, policy,
                             opts["recon_weight"], opts["spectral_norm"], opts["ema"], amp, job.seed, k)  # fmt: skip
            gen = torch.Generator().manual_seed(seed_of(job.seed, k))
            model = FastGanUnit(s, gen, job.device)
            run_unit(data, model, gen, out, replace(loop, desc=f"{job.generator} {name}"), job.device, job.progress,
                     job.on_checkpoint, job.log)  # fmt: skip
        info["finished"] = True
        write_run_info(out, info)
        return info

    def snapshots(self, run_dir: Path, info: dict) -> list[FastGanSnapshot]:
        units = [ALL] if info["conditional"] else list(info["classes"])
        steps = snapshot_steps(run_dir, lambda d: all((d / f"{u}.pt").is_file() for u in units))
        return [FastGanSnapshot(Path(run_dir), s, list(info["classes"]), info) for s in steps]
