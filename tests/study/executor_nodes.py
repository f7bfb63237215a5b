"""Node functions for the executor tests: real work through run_step, importable by name in spawned and Ray workers.

The tests put this folder on ``sys.path`` (and on the Ray workers' ``PYTHONPATH``) and import it as
``executor_nodes``, so nodes pickle by reference like the study's own node functions.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from blendaug.data.errors import DataError
from blendaug.study.executor import Node, Resources
from blendaug.study.steps import StepResult, fingerprint, run_step


def chain(folder: str, key: dict, inputs: list[str]) -> StepResult:
    """``out.txt`` = a hash of this node's key and its inputs' ``out.txt`` (so order and inputs show)."""

    def build(f: Path) -> None:
        h = hashlib.sha256(json.dumps(key, sort_keys=True).encode())
        for path in inputs:
            h.update((Path(path) / "out.txt").read_bytes())
        (f / "out.txt").write_text(h.hexdigest() + "\n")

    return run_step(Path(folder), key, build)


def train_tiny(folder: str, key: dict, inputs: list[str]) -> StepResult:
    """One epoch of a small MLP on data drawn from a seed taken from the input's hash; writes the weights."""

    def build(f: Path) -> None:
        import torch

        seed = int((Path(inputs[0]) / "out.txt").read_text()[:8], 16)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(512, 32, generator=g)  # 512 x 32
        y = (x[:, :4].sum(1) > 0).long()
        torch.manual_seed(key["seed"])
        model = torch.nn.Sequential(torch.nn.Linear(32, 256), torch.nn.ReLU(), torch.nn.Linear(256, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for i in range(0, 512, 64):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64])
            loss.backward()
            opt.step()
        blob = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
        (f / "weights.bin").write_bytes(blob)
        (f / "out.txt").write_text(hashlib.sha256(blob).hexdigest() + "\n")
        print(f"trained, loss {loss.item():.4f}")

    return run_step(Path(folder), key, build)


def env_probe(folder: str, key: dict) -> StepResult:
    """Records what the node's process was given: thread variables, torch's thread count, visible GPUs."""

    def build(f: Path) -> None:
        import torch

        seen = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "BLENDAUG_TORCH_THREADS", "CUDA_VISIBLE_DEVICES")}
        seen["torch_threads"] = torch.get_num_threads()
        (f / "env.json").write_text(json.dumps(seen))

    return run_step(Path(folder), key, build)


def noisy(folder: str, key: dict, tag: str) -> StepResult:
    """Output through every channel a node's code uses: print, stderr, a raw fd write, a subprocess, C stdio."""

    def build(f: Path) -> None:
        print(f"python print {tag}")
        print(f"python stderr {tag}", file=sys.stderr)
        os.write(1, f"raw fd write {tag}\n".encode())
        subprocess.run([sys.executable, "-c", f"import sys; print('subprocess out {tag}'); "
                        f"print('subprocess err {tag}', file=sys.stderr)"], check=True)
        ctypes.CDLL(None).printf(f"c printf {tag}\n".encode())
        (f / "out.txt").write_text(tag)

    return run_step(Path(folder), key, build)


def fail(folder: str, key: dict, message: str) -> StepResult:
    def build(f: Path) -> None:
        print("about to fail")
        raise DataError(message)

    return run_step(Path(folder), key, build)


def crash(folder: str, key: dict) -> StepResult:
    """A programming error (not a BlendaugError)."""

    def build(f: Path) -> None:
        raise ZeroDivisionError("division by zero in a node")

    return run_step(Path(folder), key, build)


def rendezvous(folder: str, key: dict, me: str, other: str, timeout: float = 120.0) -> StepResult:
    """Finishes only if ``other`` runs at the same time: each writes its mark and waits for the other's."""

    def build(f: Path) -> None:
        Path(me).write_text("here")
        deadline = time.monotonic() + timeout
        while not Path(other).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{other} never appeared: the nodes did not run at the same time")
            time.sleep(0.05)
        (f / "out.txt").write_text("met")

    return run_step(Path(folder), key, build)


def killed_once(folder: str, key: dict, inputs: list[str], marks: str | None) -> StepResult:
    """Like :func:`chain`, but the first attempt writes half its output and its pid, then waits to be killed.

    ``marks`` None (the reference run) does the work in one go.
    """

    def build(f: Path) -> None:
        if marks is not None:
            attempt = len(list(Path(marks).glob("attempt*"))) + 1
            (f / "partial.txt").write_text(f"attempt {attempt}")
            Path(marks, f"attempt{attempt}").write_text(str(os.getpid()))
            if attempt == 1:
                time.sleep(300)  # the test kills this process here
        (f / "partial.txt").unlink(missing_ok=True)
        chain(str(f / "inner"), key, inputs)
        (f / "out.txt").write_bytes((f / "inner" / "out.txt").read_bytes())

    return run_step(Path(folder), key, build)


def node(root: Path, name: str, fn, deps: tuple[str, ...] = (), cpus: int = 1, **kwargs) -> Node:
    """A Node whose fingerprint is the one run_step records (key = {"name": name, ...})."""
    key = {"name": name, **kwargs.pop("key", {})}
    folder = root / name
    inputs = [str(root / d) for d in deps]
    extra = {"inputs": inputs} if fn in (chain, train_tiny, killed_once) else {}
    return Node(name, fn.__name__, fingerprint(key), folder, fn, {"folder": str(folder), "key": key, **extra, **kwargs},
                deps=deps, resources=Resources(cpus=cpus), cost=1.0)


def graph(root: Path) -> list[Node]:
    """a -> (b, c) -> d, and a tiny torch training node on c; five nodes of real work."""
    return [node(root, "a", chain), node(root, "b", chain, ("a",)), node(root, "c", chain, ("a",)),
            node(root, "d", chain, ("b", "c")), node(root, "train", train_tiny, ("c",), key={"seed": 3})]


def outputs(root: Path) -> dict[str, bytes]:
    """Every output file under ``root`` except logs and step records (those hold times and pids)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("log.txt", ".step.json") and not p.name.endswith(".log.txt")}


def die(folder: str, key: dict) -> StepResult:
    """The worker process dies mid-node (as under the OOM killer)."""
    import signal

    def build(f: Path) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    return run_step(Path(folder), key, build)


def gather(folder: str, key: dict, me: str, marks: str, n: int, timeout: float = 120.0) -> StepResult:
    """Finishes only once ``n`` such nodes run at the same time; records the GPU it was given."""

    def build(f: Path) -> None:
        Path(marks, me).write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))
        deadline = time.monotonic() + timeout
        while len(list(Path(marks).iterdir())) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(list(Path(marks).iterdir()))} of {n} nodes ran at the same time")
            time.sleep(0.05)
        (f / "gpu.txt").write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))

    return run_step(Path(folder), key, build)


def adds_handler(folder: str, key: dict, logger_name: str) -> StepResult:
    """Sets up a logger bound to the sys.stderr of the moment, as a library imported inside a node does."""
    import logging

    def build(f: Path) -> None:
        logger = logging.getLogger(logger_name)
        logger.addHandler(logging.StreamHandler(sys.stderr))
        logger.propagate = False
        logger.warning("inside the node")
        (f / "out.txt").write_text("ok")

    return run_step(Path(folder), key, build)
