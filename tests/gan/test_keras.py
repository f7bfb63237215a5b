"""``gan sample --keras``: a tiny Keras generator, built and saved in a subprocess, sampled through the CLI.

Skipped without tensorflow (an optional extra: ``pip install -e .[tf]``). tensorflow is never imported
in this process (it holds torch; the two crash together): only ``find_spec`` looks for it.
"""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from blendaug.data.imageio import load_image_rgb
from blendaug.gan.keras_worker import to_uint8

needs_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="tensorflow not installed")

BUILD = """
import sys
from tensorflow import keras
noise = keras.Input(shape=(8,))
x = keras.layers.Dense(4 * 4 * 8)(noise)
x = keras.layers.Reshape((4, 4, 8))(x)
x = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation=sys.argv[2])(x)
keras.Model(noise, x).save(sys.argv[1])
"""


def build_model(path, activation):
    subprocess.run([sys.executable, "-c", BUILD, str(path), activation], check=True, capture_output=True, timeout=300)
    return path


@needs_tf
@pytest.mark.parametrize(("suffix", "activation"), [(".keras", "tanh"), (".h5", "sigmoid")])
def test_sample_a_keras_generator(tmp_path, run_cli, suffix, activation):
    model = build_model(tmp_path / f"g{suffix}", activation)
    out = tmp_path / "s"
    run_cli("gan", "sample", "--keras", model, out, "--class", "car", "--n", "5", "--seed", "2", check=True)
    with (out / "index.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["file"], r["class"], r["arch"], r["tier"], r["seed"]) for r in rows] == [
        (f"car/{k:06d}.png", "car", "keras", "high", "2") for k in range(5)
    ]
    images = np.stack([load_image_rgb(out / r["file"]) for r in rows])
    assert images.shape == (5, 8, 8, 3) and images.std() > 0
    again = tmp_path / "s2"
    run_cli("gan", "sample", "--keras", model, again, "--class", "car", "--n", "5", "--seed", "2", check=True)
    assert all((out / r["file"]).read_bytes() == (again / r["file"]).read_bytes() for r in rows)


def test_worker_output_mapping():
    tanh = np.array([[[[-1.0, 0.0, 1.0]]]], np.float32)
    assert to_uint8(tanh, "tanh").tolist() == [[[[0, 128, 255]]]]
    gray = np.array([[[[0.5]], [[2.0]]]], np.float32)  # (1, 2, 1, 1) in [0, 1], one channel, clipped
    assert to_uint8(gray, "sigmoid").tolist() == [[[[128, 128, 128]], [[255, 255, 255]]]]
