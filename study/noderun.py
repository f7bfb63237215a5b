"""Running one node in the process that runs it: its thread/GPU environment, its log file, its timing.

Every executor calls :func:`run_node` in the process where the node's code runs (this one for ``local``,
a spawned worker for ``local-parallel``, a Ray worker for ``ray``), so the three behave alike:

- **Threads.** ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
  ``$BLENDAUG_TORCH_THREADS`` (read by ``blendaug.detection.yolo``) are set to the node's thread count
  (``threads`` option, else ``node.resources.cpus``), and torch's intra-op pool too when torch is already
  loaded. CPU training results depend on the thread count (measured: yolov8n weights differ between 1 and
  2 threads and are bit-identical for the same count), so every executor must give a node the same count.
- **Log.** The node's whole output (Python prints, logging, tqdm bars, subprocesses, C code) is redirected
  at the file-descriptor level. While it runs it goes to ``<parent>/.<name>.log.txt`` beside the node's
  folder, because a step that reruns with a new fingerprint wipes its folder first; when the node ends
  (done or failed) the file moves to ``folder/log.txt``. A killed attempt's lines stay and the next
  attempt appends to them. ``verbose`` also copies the stream to the real stdout.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blendaug.data.cores import THREADS_VAR, usable_cores

if TYPE_CHECKING:
    from blendaug.study.executor import Node

LOG_NAME = "log.txt"
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", THREADS_VAR)


def log_path(node: Node) -> Path:
    """Where a node's log ends up: ``folder/log.txt``."""
    return Path(node.folder) / LOG_NAME


def live_log_path(node: Node) -> Path:
    """Where a node's log is written while it runs (outside its folder, which a rerun may wipe)."""
    folder = Path(node.folder)
    return folder.with_name(f".{folder.name}.{LOG_NAME}")


def job_threads(kind: str, threads_per_job: int | None) -> int:
    """The torch threads an executor of ``kind`` gives a training node: ``threads_per_job``, else every core for
    ``local`` (one node at a time) and one for the pools (their nodes reserve one CPU each)."""
    return threads_per_job or (usable_cores() if kind == "local" else 1)


def thread_count(node: Node, threads: int | None = None) -> int:
    """The torch/OpenMP threads a node gets: the executor's ``threads`` option, else ``node.resources.cpus``."""
    return max(1, int(threads if threads else node.resources.cpus))


def thread_env(n: int) -> dict[str, str]:
    """Environment variables that give torch, OpenMP, MKL and OpenBLAS ``n`` threads."""
    return {k: str(n) for k in THREAD_VARS}


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Set ``env`` (and torch's thread count from ``$BLENDAUG_TORCH_THREADS`` if torch is loaded); restore after."""
    saved = {k: os.environ.get(k) for k in env}
    torch = sys.modules.get("torch")
    saved_threads = torch.get_num_threads() if torch is not None else None
    os.environ.update(env)
    if torch is not None and THREADS_VAR in env:
        torch.set_num_threads(int(env[THREADS_VAR]))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if torch is not None and saved_threads is not None:
            torch.set_num_threads(saved_threads)


def _flush_all() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):  # C stdio buffers (printf from extension code)
        ctypes.CDLL(None).fflush(None)


def _pump(read_fd: int, sinks: list[int]) -> None:
    """Copy everything from ``read_fd`` to each sink fd until the last writer closes it."""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        for fd in sinks:
            with contextlib.suppress(OSError):
                os.write(fd, chunk)
    os.close(read_fd)


def _on_fd(stream, fd: int):
    """``stream`` if it writes to ``fd``, else a text stream on ``fd`` itself (never closed: code that keeps a
    reference to it, such as a logging handler created during the node, writes to the real fd afterwards)."""
    with contextlib.suppress(AttributeError, ValueError, OSError, io.UnsupportedOperation):
        if stream.fileno() == fd:
            return stream
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8", errors="replace",
                            line_buffering=True)


@contextlib.contextmanager
def capture_fds(path: Path, *, tee: bool = False) -> Iterator[None]:
    """Append this process's stdout and stderr (fds 1 and 2, so child processes and C code too) to ``path``.

    ``sys.stdout``/``sys.stderr`` are pointed at fds 1 and 2 when they were not already (a test harness's
    capture), so prints land in the log too. With ``tee`` the stream also goes to the stdout there before.
    """
    _flush_all()
    path.parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = os.dup(1), os.dup(2)
    pump = None
    if tee:
        read_fd, write_fd = os.pipe()
        pump = threading.Thread(target=_pump, args=(read_fd, [log_fd, saved[0]]), daemon=True)
        pump.start()
        target = write_fd
    else:
        target = log_fd
    os.dup2(target, 1)
    os.dup2(target, 2)
    if tee:
        os.close(write_fd)
    py_streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _on_fd(sys.stdout, 1), _on_fd(sys.stderr, 2)
    try:
        yield
    finally:
        _flush_all()
        sys.stdout, sys.stderr = py_streams
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        if pump is not None:
            # A child process that outlives the node keeps the pipe open; don't wait for it forever.
            pump.join(timeout=5.0)
        os.close(saved[0])
        os.close(saved[1])
        os.close(log_fd)


def _settle_log(node: Node, skipped: bool) -> None:
    """Move the live log into the node's folder (a skipped node keeps the log of the run that did the work)."""
    live, final = live_log_path(node), log_path(node)
    if not live.is_file():
        return
    if skipped and final.is_file():
        live.unlink(missing_ok=True)
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(live, final)


def run_node(node: Node, *, verbose: bool = False, threads: int | None = None,
             env: dict[str, str] | None = None, capture: bool = True) -> tuple[Any, float]:
    """Run ``node.fn(**node.kwargs)`` here with its threads, environment and log; returns ``(result, seconds)``.

    Args:
        verbose: also copy the node's output to the real stdout.
        threads: torch/OpenMP threads (None: ``node.resources.cpus``).
        env: more environment variables for the node (e.g. ``CUDA_VISIBLE_DEVICES``).
        capture: False leaves the output where it goes (no log file).

    An exception propagates unchanged, after its traceback went into the node's log.
    """
    n = thread_count(node, threads)
    t0 = time.perf_counter()
    skipped = False
    try:
        with environment({**thread_env(n), **(env or {})}):
            with capture_fds(live_log_path(node), tee=verbose) if capture else contextlib.nullcontext():
                gpu = os.environ.get("CUDA_VISIBLE_DEVICES")
                print(f"== {node.id}: started {time.strftime('%Y-%m-%d %H:%M:%S')}, pid {os.getpid()}, "
                      f"{n} thread(s){'' if gpu is None else f', CUDA_VISIBLE_DEVICES={gpu!r}'}", flush=True)
                try:
                    result = node.fn(**node.kwargs)
                except BaseException:
                    traceback.print_exc()
                    print(f"== {node.id}: failed after {time.perf_counter() - t0:.1f} s", flush=True)
                    raise
                skipped = bool(getattr(result, "skipped", False))
                print(f"== {node.id}: {'skipped (done)' if skipped else 'done'} in "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        if capture:
            with contextlib.suppress(OSError):
                _settle_log(node, skipped)
    return result, time.perf_counter() - t0
