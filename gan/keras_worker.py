"""Subprocess that samples a Keras generator: the only module of blendaug that imports tensorflow.

tensorflow and torch in one process crash (measured), so ``gan.keras_sampler`` runs this as
``python -m gan.keras_worker MODEL OUT --n N --seed S [--label K] [--range auto|tanh|sigmoid]``.
It loads the model (``.h5`` or ``.keras``, ``compile=False``), feeds standard-normal noise of the
model's input shape from ``numpy.random.default_rng(seed)`` (plus a class-id input when the model
has two inputs), maps the output to uint8 and writes ``OUT/000000.png``, ... It prints one JSON line
``{"n": N, "image_hw": [H, W], "range": "tanh"|"sigmoid"}``; errors go to stderr with exit status 3.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def to_uint8(batch: np.ndarray, value_range: str) -> np.ndarray:
    """Generator output (N, H, W, C) in [-1, 1] (``tanh``) or [0, 1] (``sigmoid``) -> uint8 (N, H, W, 3)."""
    x = (batch + 1.0) * 127.5 if value_range == "tanh" else batch * 255.0
    x = np.clip(np.round(x), 0, 255).astype(np.uint8)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return x[..., :3]


def guess_range(model, batch: np.ndarray) -> str:
    """``tanh`` or ``sigmoid`` from the last layer's activation, else from the output's minimum."""
    activation = getattr(getattr(model.layers[-1], "activation", None), "__name__", "")
    if activation in ("tanh", "sigmoid"):
        return activation
    return "tanh" if float(batch.min()) < -1e-3 else "sigmoid"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan.keras_worker")
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", type=int, default=None)
    parser.add_argument("--range", dest="value_range", default="auto", choices=("auto", "tanh", "sigmoid"))
    args = parser.parse_args(argv)
    try:
        import tensorflow as tf  # noqa: F401  (the one import of tensorflow in blendaug)
        from tensorflow import keras

        model = keras.models.load_model(args.model, compile=False)
        shapes = [tuple(t.shape) for t in model.inputs]
        rng = np.random.default_rng(args.seed)
        noise = rng.standard_normal((args.n, *shapes[0][1:])).astype(np.float32)
        inputs = [noise]
        if len(shapes) > 1:
            if args.label is None:
                raise ValueError(f"the model has {len(shapes)} inputs (noise, label); pass --keras-label")
            inputs.append(np.full((args.n, *[d or 1 for d in shapes[1][1:]]), args.label, dtype=np.int32))
        batch = np.asarray(model.predict(inputs if len(inputs) > 1 else noise, verbose=0), dtype=np.float32)
        if batch.ndim != 4 or batch.shape[-1] not in (1, 3, 4):
            raise ValueError(f"output shape {batch.shape} is not (N, H, W, 1|3|4) images")
        value_range = guess_range(model, batch) if args.value_range == "auto" else args.value_range
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for k, image in enumerate(to_uint8(batch, value_range)):
            Image.fromarray(image).save(out / f"{k:06d}.png")
    except Exception as e:  # reported to the parent as one line
        print(f"{args.model}: {type(e).__name__}: {e}".replace("\n", " "), file=sys.stderr)
        return 3
    print(json.dumps({"n": args.n, "image_hw": list(batch.shape[1:3]), "range": value_range}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
