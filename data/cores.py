"""CPU cores and torch threads: one rule for every stage that trains a model.

A study's executor tells each training node how many threads it may use through ``$BLENDAUG_TORCH_THREADS``
(``blendaug.study.noderun``); without it a node takes every core this process may run on. The detector
(``blendaug.detection.yolo``) and the crop classifier (``blendaug.classification.train``) both read it here, so
a bad value fails the same way in both and a CPU affinity limit (``taskset``, ``docker run --cpuset-cpus``) is
honoured by both.
"""

from __future__ import annotations

import os

from blendaug.data.errors import ConfigError

THREADS_VAR = "BLENDAUG_TORCH_THREADS"


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity where the OS reports it, else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def torch_threads() -> int:
    """CPU threads torch should use for training: ``$BLENDAUG_TORCH_THREADS`` when set, else every usable core.

    Raises:
        ConfigError: the variable is set to something other than a positive integer.
    """
    env = os.environ.get(THREADS_VAR, "").strip()
    if not env:
        return usable_cores()
    if not env.isdigit() or int(env) < 1:
        raise ConfigError(f"{THREADS_VAR}: expected a positive integer, got {env!r}")
    return int(env)
