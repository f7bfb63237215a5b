"""``local-parallel``: the study's nodes in a pool of spawned processes on one machine.

A node starts as soon as its deps are done and it fits: at most ``workers`` nodes at once, their
``resources.cpus`` within ``cpus`` (a node asking for more than the machine has runs alone), and a GPU
node on a GPU with room for its share (``1 / jobs_per_gpu``, else ``resources.gpus``: 0.25 packs four
per GPU). Each node runs in a fresh spawned process whose environment is set before anything imports
torch: thread variables from its thread count, ``CUDA_VISIBLE_DEVICES`` set to its GPU (or to nothing,
for a node that asks for no GPU on a GPU machine). A fresh process per node costs a second or two of
imports, and buys a clean thread pool, CUDA context and memory for every job.

A failing node stops the study: no new node starts, the running ones finish (``on_failure="finish"``,
their work is kept) or are terminated (``"cancel"``; a terminated node resumes next time), then the
node's own error is raised (a ``BlendaugError`` as it was, anything else as ``NodeFailed``).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from blendaug.data.cores import usable_cores
from blendaug.data.errors import BlendaugError, ConfigError
from blendaug.study.executor import Node, NodeEvent, NodeFailed, done_result, event_for, failure_message, topological

_EPS = 1e-9


def visible_gpus() -> list[str]:
    """GPU ids this process may use: ``$CUDA_VISIBLE_DEVICES`` when set, else those ``nvidia-smi -L`` lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def _worker(payload: bytes, env: dict[str, str], options: dict[str, Any], conn: Connection) -> None:
    """Child process: environment first (before torch loads), then the node, then its result or error."""
    os.setsid()  # its own process group: the driver can stop it and its children together; Ctrl-C reaches the driver
    os.environ.update(env)
    from blendaug.study.noderun import run_node

    node = pickle.loads(payload)
    try:
        result, seconds = run_node(node, env=env, **options)
        conn.send(("ok", result, seconds, ""))
    except BaseException as e:  # reported to the driver, which decides what to raise
        text = f"{type(e).__name__}: {e}"
        try:
            blob = pickle.dumps(e)
        except Exception:
            blob = None
        conn.send(("error", blob, 0.0, text))
    finally:
        conn.close()


@dataclass
class _Running:
    node: Node
    proc: Any  # multiprocessing.Process
    conn: Connection
    cpus: int
    gpu: str | None
    share: float
    t0: float


class ParallelExecutor:
    """Runs nodes in spawned processes on this machine; see the module docstring.

    Args:
        workers: nodes at once (None: as many as ``cpus`` allows).
        cpus: CPU budget shared by the running nodes (None: the cores this process may use).
        gpus: GPUs to place nodes on (None: every visible one; 0: run everything on the CPU).
        jobs_per_gpu: GPU nodes per GPU (None: from each node's ``resources.gpus``).
        threads_per_job: torch/OpenMP threads per node (None: each node's ``resources.cpus``); keep it the same
            for every executor when results must be identical.
        verbose: show each node's full output on the console too.
        on_failure: ``finish`` lets the running nodes finish after a failure, ``cancel`` terminates them.
    """

    def __init__(self, workers: int | None = None, cpus: int | None = None, gpus: int | None = None,
                 jobs_per_gpu: int | None = None, threads_per_job: int | None = None, verbose: bool = False,
                 on_failure: str = "finish") -> None:
        for name, value in (("workers", workers), ("cpus", cpus), ("jobs_per_gpu", jobs_per_gpu),
                            ("threads_per_job", threads_per_job)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"executor.{name}: expected a positive integer or null, got {value!r}")
        if gpus is not None and (not isinstance(gpus, int) or gpus < 0):
            raise ConfigError(f"executor.gpus: expected a non-negative integer or null, got {gpus!r}")
        if on_failure not in ("finish", "cancel"):
            raise ConfigError(f"executor.on_failure: expected 'finish' or 'cancel', got {on_failure!r}")
        self.workers, self.threads, self.verbose, self.on_failure = workers, threads_per_job, verbose, on_failure
        self.cpus = cpus or usable_cores()
        ids = visible_gpus()
        self.gpu_ids = ids if gpus is None else ids[:gpus]
        self.jobs_per_gpu = jobs_per_gpu

    def _share(self, node: Node) -> float:
        if node.resources.gpus <= 0 or not self.gpu_ids:
            return 0.0
        return 1.0 / self.jobs_per_gpu if self.jobs_per_gpu else min(float(node.resources.gpus), 1.0)

    def _place(self, node: Node, running: dict[str, _Running]) -> tuple[int, str | None, float] | None:
        """``(cpus, gpu id, gpu share)`` for ``node`` if it fits next to the running nodes, else None."""
        if self.workers is not None and len(running) >= self.workers:
            return None
        cpus = min(max(1, node.resources.cpus), self.cpus)
        if sum(r.cpus for r in running.values()) + cpus > self.cpus:
            return None
        share = self._share(node)
        if share == 0.0:
            return cpus, None, 0.0
        free = {g: 1.0 - sum(r.share for r in running.values() if r.gpu == g) for g in self.gpu_ids}
        gpu = max(self.gpu_ids, key=lambda g: (free[g], -self.gpu_ids.index(g)))
        return (cpus, gpu, share) if free[gpu] + _EPS >= share else None

    def _env(self, gpu: str | None) -> dict[str, str]:
        if not self.gpu_ids:
            return {}
        # A node that asked for no GPU sees none, as under Ray: it must not land on a GPU unplanned.
        return {"CUDA_VISIBLE_DEVICES": gpu if gpu is not None else ""}

    def _start(self, node: Node, place: tuple[int, str | None, float]) -> _Running:
        cpus, gpu, share = place
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        options = {"verbose": self.verbose, "threads": self.threads}
        proc = ctx.Process(target=_worker, args=(pickle.dumps(node), self._env(gpu), options, child),
                           name=f"blendaug:{node.id}", daemon=False)
        proc.start()
        child.close()
        return _Running(node, proc, parent, cpus, gpu, share, time.perf_counter())

    def run(self, nodes: Sequence[Node], on_event: Callable[[NodeEvent], None] | None = None) -> dict[str, Any]:
        emit = on_event or (lambda e: None)
        pending = topological(nodes)
        finished: set[str] = set()
        results: dict[str, Any] = {}
        running: dict[str, _Running] = {}
        failure: BaseException | None = None
        try:
            while pending or running:
                if failure is None:
                    pending = self._launch(pending, finished, results, running, emit)
                if not running:
                    break
                ready = wait([r.conn for r in running.values()] + [r.proc.sentinel for r in running.values()])
                for r in [r for r in running.values() if r.conn in ready or r.proc.sentinel in ready]:
                    err = self._collect(r, results, emit)
                    del running[r.node.id]
                    finished.add(r.node.id)
                    if err is not None and failure is None:
                        failure = err
                        if self.on_failure == "cancel":
                            _stop_all(running.values())
        except BaseException:  # Ctrl-C or a bug here: stop the workers, their nodes resume next time
            _stop_all(running.values())
            raise
        if failure is not None:
            raise failure
        return results

    def _launch(self, pending: list[Node], finished: set[str], results: dict[str, Any],
                running: dict[str, _Running], emit: Callable[[NodeEvent], None]) -> list[Node]:
        """Start every pending node whose deps are done and that fits; returns the nodes still pending."""
        left: list[Node] = []
        for node in pending:
            if not all(d in finished for d in node.deps):
                left.append(node)
                continue
            done = done_result(node)
            if done is not None:  # finished before: no process needed
                results[node.id] = done
                finished.add(node.id)
                emit(event_for(node, done, 0.0))
                continue
            place = self._place(node, running)
            if place is None:
                left.append(node)
                continue
            emit(NodeEvent(node, "start"))
            running[node.id] = self._start(node, place)
        if len(left) < len(pending) and left:
            return self._launch(left, finished, results, running, emit)  # skipped nodes may free their dependents
        return left

    def _collect(self, r: _Running, results: dict[str, Any], emit: Callable[[NodeEvent], None]) -> BaseException | None:
        """Read one finished worker's message; emit its event; return the error to raise, if any."""
        msg = None
        with contextlib.suppress(EOFError, OSError):
            if r.conn.poll(0.5 if r.proc.is_alive() else 0.0) or not r.proc.is_alive():
                msg = r.conn.recv()
        r.proc.join(timeout=30)
        r.conn.close()
        seconds = time.perf_counter() - r.t0
        if msg is not None and msg[0] == "ok":
            results[r.node.id] = msg[1]
            emit(event_for(r.node, msg[1], msg[2]))
            return None
        if msg is None:
            code = r.proc.exitcode
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            text = f"its worker process died ({how})"
            err: BaseException = NodeFailed(failure_message(r.node, text))
        else:
            text = msg[3]
            cause = _unpickle(msg[1])
            err = cause if isinstance(cause, BlendaugError) else NodeFailed(failure_message(r.node, text))
            if err is not cause and cause is not None:
                err.__cause__ = cause
        emit(NodeEvent(r.node, "failed", seconds=seconds, error=text))
        return err


def _unpickle(blob: bytes | None) -> BaseException | None:
    if blob is None:
        return None
    try:
        return pickle.loads(blob)
    except Exception:
        return None


def _stop_all(running: Any) -> None:
    """Terminate running workers and their children (SIGTERM to each group, SIGKILL after 10 s)."""
    procs = [r.proc for r in running]
    for p in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            p.join(timeout=5)
