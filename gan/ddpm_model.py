"""The one door to ``diffusers``: the DDPM family's UNet, its noise schedules and the DDIM sampler.

Nothing here downloads: the UNet is built from a config dict (kept in ``run.json``), never with
``from_pretrained``; the schedulers are built from their arguments. ``HF_HUB_OFFLINE`` is set before
diffusers is imported, so even a stray hub call fails fast instead of reaching the network.

The model is class-conditional through ``UNet2DModel``'s ``num_class_embeds`` (a learned class
embedding added to the time embedding), with one extra *null* class for classifier-free guidance:
training replaces a label by the null class with probability ``cond_drop``; sampling with
``guidance`` w > 1 mixes the outputs as ``out_null + w (out_class - out_null)``.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel  # noqa: E402

from blendaug.data.errors import ConfigError  # noqa: E402
from blendaug.gan.data import to_uint8  # noqa: E402

SIZES = (32, 64, 128)


def unet_config(image_size: int, width: int, n_classes: int, attention: bool = True, layers_per_block: int = 1) -> dict:
    """``UNet2DModel`` arguments for crops of side ``image_size``: pure, JSON-able, stored in run.json.

    Resolutions halve down to 8 x 8 (3 levels at 32 px, 4 at 64, 5 at 128); channels ``width`` at full
    resolution, ``2 * width`` below; self-attention only at the 8 x 8 level (cheap on a CPU).
    ``n_classes + 1`` class embeddings: the last is the null class of classifier-free guidance.

    Raises:
        ConfigError: a side other than 32, 64 or 128, or a width below 8.
    """
    if image_size not in SIZES:
        raise ConfigError(f"ddpm: image size {image_size} not supported (choose from {', '.join(map(str, SIZES))})")
    if width < 8:
        raise ConfigError(f"ddpm: width {width} is too small (at least 8)")
    levels = int(math.log2(image_size // 8)) + 1
    channels = [width] + [2 * width] * (levels - 1)
    down = ["DownBlock2D"] * (levels - 1) + (["AttnDownBlock2D"] if attention else ["DownBlock2D"])
    up = (["AttnUpBlock2D"] if attention else ["UpBlock2D"]) + ["UpBlock2D"] * (levels - 1)
    return {
        "sample_size": image_size, "in_channels": 3, "out_channels": 3, "layers_per_block": layers_per_block,
        "block_out_channels": channels, "down_block_types": down, "up_block_types": up,
        "norm_num_groups": math.gcd(width, 32), "attention_head_dim": 8, "num_class_embeds": n_classes + 1,
    }  # fmt: skip


def build_unet(config: dict, seed: int = 0) -> UNet2DModel:
    """A freshly initialised UNet; its init draws from ``seed`` (the global RNG is restored afterwards)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return UNet2DModel(**config)


def train_scheduler(opts: dict) -> DDPMScheduler:
    """The forward (noising) process the UNet learns to invert."""
    return DDPMScheduler(num_train_timesteps=opts["train_timesteps"], beta_schedule=opts["beta_schedule"],
                         prediction_type=opts["prediction"], clip_sample=True)  # fmt: skip


def sample_scheduler(opts: dict) -> DDIMScheduler:
    """DDIM on the training schedule, deterministic (eta 0), with trailing steps (starts at the noisiest t)."""
    return DDIMScheduler(num_train_timesteps=opts["train_timesteps"], beta_schedule=opts["beta_schedule"],
                         prediction_type=opts["prediction"], clip_sample=True, timestep_spacing="trailing")  # fmt: skip


def denoising_loss(
    unet: UNet2DModel, scheduler: DDPMScheduler, x0: torch.Tensor, y: torch.Tensor, gen: torch.Generator,
    cond_drop: float, amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:  # fmt: skip
    """The DDPM objective on a batch: MSE between the UNet's prediction and the drawn noise (``epsilon``) or the
    velocity ``sqrt(a) noise - sqrt(1 - a) x0`` (``v_prediction``, Salimans & Ho 2022).

    Args:
        x0: (B, 3, S, S) in [-1, 1]; y: (B,) class ids.
        gen: CPU generator for timesteps, noise and label dropout (all drawn here, in this order).
        amp_dtype: autocast dtype on CUDA, or None.
    """
    dev, b = x0.device, x0.shape[0]
    t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=gen).to(dev)
    noise = torch.randn(x0.shape, generator=gen).to(dev)  # B x 3 x S x S
    drop = torch.rand(b, generator=gen).to(dev) < cond_drop
    y = torch.where(drop, torch.full_like(y, unet.config.num_class_embeds - 1), y)
    x_t = scheduler.add_noise(x0, noise, t)
    with torch.autocast(dev.type, dtype=amp_dtype or torch.float16, enabled=amp_dtype is not None):
        pred = unet(x_t, t, class_labels=y).sample
    target = noise if scheduler.config.prediction_type == "epsilon" else scheduler.get_velocity(x0, noise, t)
    return torch.nn.functional.mse_loss(pred.float(), target)


@torch.no_grad()
def ddim_sample(unet: UNet2DModel, opts: dict, noise: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Denoise ``noise`` (B, 3, S, S) for classes ``y`` (B,) in ``opts['sample_steps']`` DDIM steps -> [-1, 1]."""
    sched = sample_scheduler(opts)
    sched.set_timesteps(opts["sample_steps"], device=noise.device)
    w, null = float(opts["guidance"]), unet.config.num_class_embeds - 1
    x = noise
    for t in sched.timesteps:
        if w == 1.0:
            out = unet(x, t, class_labels=y).sample
        else:  # the mix is linear in the model's output, so it works for epsilon and v alike
            both = unet(torch.cat([x, x]), t, class_labels=torch.cat([y, torch.full_like(y, null)])).sample
            out_c, out_u = both.chunk(2)
            out = out_u + w * (out_c - out_u)
        x = sched.step(out, t, x, eta=0.0).prev_sample
    return x.clamp(-1, 1)


def sample_uint8(unet: UNet2DModel, opts: dict, class_id: int, n: int, seed: int, device: str) -> np.ndarray:
    """``n`` crops of ``class_id`` as uint8 (n, S, S, 3), crop ``k`` the same whatever ``n`` is.

    The starting noise is drawn row by row from ``torch.Generator().manual_seed(seed)``, and the UNet
    always sees full chunks of ``opts['sample_chunk']`` rows (the last chunk is filled with the next
    rows of the stream and cut off): a convolution's result for one row may change in the last bits
    with the batch size, which DDIM's steps would carry into the pixels.
    """
    s, chunk = unet.config.sample_size, int(opts["sample_chunk"])
    rng = torch.Generator().manual_seed(int(seed))
    m = -(-n // chunk) * chunk
    noise = torch.stack([torch.randn(3, s, s, generator=rng) for _ in range(m)]) if m else torch.zeros(0, 3, s, s)
    parts = []
    for i in range(0, m, chunk):
        y = torch.full((chunk,), int(class_id), dtype=torch.long, device=device)
        parts.append(ddim_sample(unet, opts, noise[i : i + chunk].to(device), y).cpu())
    out = to_uint8(torch.cat(parts)) if parts else to_uint8(torch.zeros(0, 3, s, s))
    return out[:n]
