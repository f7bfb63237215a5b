"""``ray``: the study's nodes as Ray tasks, on a local cluster or an existing one.

``address``: ``None`` starts a local cluster for the run (and stops it after); ``"auto"`` joins the cluster
this machine belongs to; ``"ray://host:port"`` connects through Ray Client. If Ray is already initialised
in this process (a test, a notebook), that connection is used and left open.

Each node is one task declaring ``num_cpus = resources.cpus`` and ``num_gpus = resources.gpus`` (a fraction
such as 0.25 puts four on one GPU; Ray sets ``CUDA_VISIBLE_DEVICES``). A task whose worker dies (killed,
out of memory, a lost node) is retried up to ``max_retries`` times; the node's step resumes or redoes its
work in the same folder, so the results are the same. Errors raised by the node itself are not retried.
Tasks are submitted when their deps are done, so the driver sees every node start and finish.

What must be shared: every Ray node reads and writes the node folders (the run folder) by the same
absolute path, so the run folder must be on a filesystem that all of them mount at the same place. At
start the driver writes a token into it and a task pinned to each alive node reads it back; a node that
cannot gets a one-line error before any work starts. Ray itself is imported only here.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from blendaug.data.errors import BlendaugError, ConfigError
from blendaug.study.executor import Node, NodeEvent, NodeFailed, done_result, event_for, failure_message, topological

CHECK_NAME = ".ray-shared-check"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("executor 'ray' needs Ray: pip install 'blendaug[ray]' (or choose executor.kind=local)"
                          ) from None
    return ray


def _task(node: Node, verbose: bool, threads: int | None, tracker: Any) -> tuple[Any, float]:
    """Runs in a Ray worker: mark the start, then the node with its threads and log capture."""
    from blendaug.study.noderun import run_node

    tracker.started.remote(node.id)
    return run_node(node, verbose=verbose, threads=threads)


def _read_token(path: str) -> tuple[str, str]:
    import socket

    try:
        return socket.gethostname(), Path(path).read_text(encoding="utf-8")
    except OSError as e:
        return socket.gethostname(), f"<unreadable: {e.strerror or e}>"


class _Tracker:
    """An actor the tasks tell when they start, so the console shows real start times (not submit times)."""

    def __init__(self) -> None:
        self.new: list[str] = []

    def started(self, node_id: str) -> None:
        self.new.append(node_id)

    def pop(self) -> list[str]:
        out, self.new = self.new, []
        return out


def shared_problems(token: str, reports: dict[str, tuple[str, str]]) -> list[str]:
    """The Ray nodes (``{node id: (host, text read)}``) that did not read ``token``, as message parts."""
    return [f"{host} ({node_id[:8]}) read {text[:60]!r}" for node_id, (host, text) in sorted(reports.items())
            if text != token]


def shared_folder(nodes: Sequence[Node]) -> Path:
    """The deepest folder above every node's folder: the run folder, which every Ray node must see."""
    folders = [str(Path(n.folder).absolute()) for n in nodes]
    return Path(os.path.commonpath(folders)) if folders else Path.cwd()


class RayExecutor:
    """Runs nodes as Ray tasks; see the module docstring.

    Args:
        address: ``None`` (a local cluster), ``"auto"`` or ``"ray://host:port"``.
        max_retries: retries of a task whose worker process died.
        num_cpus, num_gpus: size of a local cluster (``address: null`` only; None: the whole machine).
        workers: tasks in flight at once (None: as many as the cluster's resources allow).
        threads_per_job: torch/OpenMP threads per node (None: each node's ``resources.cpus``).
        jobs_per_gpu: GPU nodes per GPU, i.e. ``num_gpus = 1 / jobs_per_gpu`` (None: each node's ``resources.gpus``).
        verbose: stream each node's full output to this console too (Ray forwards worker output).
        on_failure: ``finish`` lets the running tasks finish after a failure, ``cancel`` cancels them.
        check_shared: check at start that every Ray node sees the run folder.
    """

    def __init__(self, address: str | None = None, max_retries: int = 3, num_cpus: int | None = None,
                 num_gpus: int | None = None, workers: int | None = None, threads_per_job: int | None = None,
                 jobs_per_gpu: int | None = None, verbose: bool = False, on_failure: str = "finish",
                 check_shared: bool = True) -> None:
        for name, value in (("workers", workers), ("jobs_per_gpu", jobs_per_gpu), ("threads_per_job", threads_per_job)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"executor.{name}: expected a positive integer or null, got {value!r}")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ConfigError(f"executor.address: expected auto, ray://host:port, host:port or null, got {address!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"executor.max_retries: expected a non-negative integer, got {max_retries!r}")
        if on_failure not in ("finish", "cancel"):
            raise ConfigError(f"executor.on_failure: expected 'finish' or 'cancel', got {on_failure!r}")
        self.ray = import_ray()  # fail at build time, before any work, when Ray is missing
        self.address, self.max_retries = address, max_retries
        self.num_cpus, self.num_gpus, self.threads, self.verbose = num_cpus, num_gpus, threads_per_job, verbose
        self.workers, self.jobs_per_gpu = workers, jobs_per_gpu
        self.on_failure, self.check_shared = on_failure, check_shared

    def _connect(self) -> bool:
        """Initialise Ray unless it already is; returns whether this call did (and so must shut it down)."""
        ray = self.ray
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": self.verbose,
                                   "configure_logging": True, "logging_level": "warning"}
        if self.address is None:
            options.update({"num_cpus": self.num_cpus, "num_gpus": self.num_gpus})
        elif self.num_cpus is not None or self.num_gpus is not None:
            raise ConfigError("executor.num_cpus/num_gpus size a local cluster; with executor.address set, "
                              "the cluster's own resources apply")
        try:
            ray.init(address=self.address, **options)
        except ConnectionError as e:
            raise ConfigError(f"executor.address={self.address}: cannot connect to a Ray cluster ({e})") from None
        return True

    def check_feasible(self, nodes: Sequence[Node]) -> None:
        """Raise ConfigError for a node no Ray node can ever run (Ray would wait for it forever)."""
        sizes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        max_cpu = max((r.get("CPU", 0.0) for r in sizes), default=0.0)
        max_gpu = max((r.get("GPU", 0.0) for r in sizes), default=0.0)
        for node in nodes:
            if node.resources.gpus > 0 and max_gpu <= 0:
                raise ConfigError(f"node {node.id} asks for a GPU, but no Ray node has one "
                                  "(use device=cpu, or add GPU nodes to the cluster)")
            if max(1, node.resources.cpus) > max_cpu:
                raise ConfigError(f"node {node.id} asks for {node.resources.cpus} CPUs, but the largest Ray node "
                                  f"has {max_cpu:g} (lower executor.threads_per_job)")

    def verify_shared(self, folder: Path) -> None:
        """Raise ConfigError unless a task on every alive Ray node reads the token the driver wrote in ``folder``."""
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        path = folder / f"{CHECK_NAME}-{token[:8]}"
        path.write_text(token, encoding="utf-8")
        try:
            read = ray.remote(num_cpus=0)(_read_token)
            alive = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
            refs = {nid: read.options(scheduling_strategy=NodeAffinitySchedulingStrategy(nid, soft=False))
                    .remote(str(path)) for nid in alive}
            reports = dict(zip(refs, ray.get(list(refs.values()), timeout=300), strict=True))
        finally:
            path.unlink(missing_ok=True)
        bad = shared_problems(token, reports)
        if bad:
            raise ConfigError(f"the run folder {folder} is not shared with every Ray node ({'; '.join(bad)}): "
                              "put it on a filesystem all nodes mount at the same path (docs/executors.md)")

    def run(self, nodes: Sequence[Node], on_event: Callable[[NodeEvent], None] | None = None) -> dict[str, Any]:
        ray = self.ray
        emit = on_event or (lambda e: None)
        order = topological(nodes)
        started_here = self._connect()
        try:
            self.check_feasible(order)
            if self.check_shared and order:
                self.verify_shared(shared_folder(order))
            return self._run(order, emit)
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, pending: list[Node], emit: Callable[[NodeEvent], None]) -> dict[str, Any]:
        ray = self.ray
        tracker = ray.remote(num_cpus=0)(_Tracker).remote()
        task = ray.remote(_task)
        finished: set[str] = set()
        results: dict[str, Any] = {}
        running: dict[Any, tuple[Node, float]] = {}  # object ref -> (node, submit time)
        seen_start: set[str] = set()
        failure: BaseException | None = None
        by_id = {n.id: n for n in pending}

        def starts() -> None:
            for node_id in ray.get(tracker.pop.remote()):
                if node_id not in seen_start and node_id not in finished:
                    seen_start.add(node_id)
                    emit(NodeEvent(by_id[node_id], "start"))

        try:
            while pending or running:
                if failure is None:
                    pending = self._submit(pending, finished, results, running, emit, task, tracker)
                if not running:
                    break
                ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
                starts()
                for ref in ready:
                    node, t0 = running.pop(ref)
                    if node.id not in seen_start:
                        seen_start.add(node.id)
                        emit(NodeEvent(node, "start"))
                    finished.add(node.id)
                    err = self._collect(ref, node, t0, results, emit)
                    if err is not None and failure is None:
                        failure = err
                        if self.on_failure == "cancel":
                            for other in running:
                                ray.cancel(other, force=True)
        except BaseException:
            for ref in running:
                ray.cancel(ref, force=True)
            raise
        if failure is not None:
            raise failure
        return results

    def _submit(self, pending: list[Node], finished: set[str], results: dict[str, Any], running: dict[Any, Any],
                emit: Callable[[NodeEvent], None], task: Any, tracker: Any) -> list[Node]:
        left: list[Node] = []
        for node in pending:
            if not all(d in finished for d in node.deps):
                left.append(node)
                continue
            done = done_result(node)
            if done is not None:
                results[node.id] = done
                finished.add(node.id)
                emit(event_for(node, done, 0.0))
                continue
            if self.workers is not None and len(running) >= self.workers:
                left.append(node)
                continue
            gpus = float(node.resources.gpus)
            if gpus > 0 and self.jobs_per_gpu:
                gpus = 1.0 / self.jobs_per_gpu
            ref = task.options(num_cpus=max(1, node.resources.cpus), num_gpus=gpus,
                               max_retries=self.max_retries, retry_exceptions=False,
                               name=node.id).remote(node, self.verbose, self.threads, tracker)
            running[ref] = (node, time.perf_counter())
        if left and len(left) < len(pending):
            return self._submit(left, finished, results, running, emit, task, tracker)
        return left

    def _collect(self, ref: Any, node: Node, t0: float, results: dict[str, Any],
                 emit: Callable[[NodeEvent], None]) -> BaseException | None:
        ray = self.ray
        try:
            result, seconds = ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            cause = e.cause if isinstance(getattr(e, "cause", None), BaseException) else None
            text = f"{type(cause).__name__}: {cause}" if cause is not None else str(e).splitlines()[0]
            emit(NodeEvent(node, "failed", seconds=time.perf_counter() - t0, error=text))
            if isinstance(cause, BlendaugError):
                return cause
            err = NodeFailed(failure_message(node, text))
            err.__cause__ = cause
            return err
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.TaskCancelledError,
                ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError) as e:
            text = f"{type(e).__name__} after {self.max_retries} retries" if not isinstance(
                e, ray.exceptions.TaskCancelledError) else "cancelled"
            emit(NodeEvent(node, "failed", seconds=time.perf_counter() - t0, error=text))
            return NodeFailed(failure_message(node, text))
        results[node.id] = result
        emit(event_for(node, result, seconds))
        return None
