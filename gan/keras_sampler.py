"""``gan sample --keras``: crops from a Keras generator (the seed study's models), via a subprocess.

tensorflow is an optional extra (``pip install -e .[tf]``) and never imported here: the model runs in
``python -m gan.keras_worker`` (tensorflow and torch in one process crash). This side checks the
inputs, runs the worker into the temporary output folder and writes ``index.csv`` (arch ``keras``,
snapshot and score empty, tier as given, default ``high``).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from blendaug.data.atomic import atomic_dir
from blendaug.data.errors import BlendaugError, ConfigError, DataError
from blendaug.gan.sample import INDEX_COLUMNS, TIERS

KERAS_SUFFIXES = (".h5", ".keras")


def tensorflow_available() -> bool:
    """Whether tensorflow is installed, without importing it (it must not load next to torch)."""
    return importlib.util.find_spec("tensorflow") is not None


def sample_keras(
    model: Path,
    out: Path,
    class_name: str,
    n: int,
    seed: int = 0,
    label: int | None = None,
    tier: str = "high",
    value_range: str = "auto",
    overwrite: bool = False,
    timeout: float = 3600,
) -> Path:
    """Write ``n`` crops of ``class_name`` drawn from a Keras generator into ``out``.

    Raises:
        DataError: the model file is missing or the worker fails (its message, one line).
        ConfigError: bad options. BlendaugError: tensorflow is not installed.
    """
    model = Path(model)
    if model.suffix.lower() not in KERAS_SUFFIXES:
        raise ConfigError(f"--keras: {model} is not a .h5 or .keras file")
    if not model.is_file():
        raise DataError(f"{model}: Keras model not found")
    if not class_name or "/" in class_name:
        raise ConfigError("--class: a class name is required with --keras (it names the output folder)")
    if tier not in TIERS:
        raise ConfigError(f"--tier: with --keras, one of {', '.join(TIERS)} (the tier you judge the model to be)")
    if n < 1:
        raise ConfigError("--n must be at least 1")
    if not tensorflow_available():
        raise BlendaugError(f"{model}: tensorflow is not installed; `pip install -e .[tf]` to sample Keras generators")
    with atomic_dir(out, overwrite=overwrite) as tmp:
        cmd = [sys.executable, "-m", "blendaug.gan.keras_worker", str(model.absolute()), str(tmp / class_name),
               "--n", str(n), "--seed", str(seed), "--range", value_range]  # fmt: skip
        if label is not None:
            cmd += ["--label", str(label)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
            raise DataError(f"Keras worker failed: {lines[-1]}")
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        with (tmp / "index.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(INDEX_COLUMNS)
            for k in range(summary["n"]):
                writer.writerow([f"{class_name}/{k:06d}.png", class_name, "keras", "", tier, seed, ""])
    return Path(out)
