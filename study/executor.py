"""Where the study's nodes run. Executors only order and place nodes; none of them knows what a node does.

A :class:`Node` is one unit of work of the study graph (data, crops, one generator, samples of a tier,
one arm dataset, one detector or classifier job): a module-level function and picklable keyword
arguments, the ids of the nodes it needs, and the resources it asks for. Its fingerprint is known
before it runs (it comes from the config and its inputs' fingerprints), and the function itself skips
finished work (:func:`blendaug.study.steps.run_step`), so running a node twice is always safe: that is
what lets a retried or resumed node give the same results whichever executor ran it.

Executors (the ``EXECUTORS`` registry; :func:`get_executor` builds one from config options):

- ``local``: one node after another in this process (the default);
- ``local-parallel``: a pool of spawned processes on this machine, N nodes at once, jobs per GPU
  (:mod:`blendaug.study.executor_parallel`);
- ``ray``: tasks on a Ray cluster with ``num_cpus`` / fractional ``num_gpus`` (:mod:`blendaug.study.executor_ray`;
  ray is imported only when this executor is built).

All of them run a node through :func:`blendaug.study.noderun.run_node` in the process that runs it: the thread
count of the ``threads`` option (by default every core for ``local``, ``node.resources.cpus`` for the pools) and
the node's output captured into ``folder/log.txt``, so with the same thread count a node gives the same files
whichever executor ran it.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from blendaug.data.errors import BlendaugError, ConfigError, did_you_mean


@dataclass(frozen=True)
class Resources:
    """What one node asks of a worker: CPU threads and a share of one GPU (0.25: four such nodes per GPU)."""

    cpus: int = 1
    gpus: float = 0.0


@dataclass(frozen=True)
class Node:
    """One unit of work: ``fn(**kwargs)`` after every node in ``deps`` has finished.

    Attributes:
        id: unique and readable, e.g. ``detect/blended_mixed/seed0`` (``cell=...`` parts when a sweep varies it).
        kind: ``data``, ``crops``, ``generator``, ``samples``, ``arm``, ``detect``, ``classify``.
        fingerprint: hash of everything the node reads (its config values and its inputs' fingerprints).
        folder: the node's absolute output folder; it is finished when ``folder/.step.json`` holds
            ``fingerprint`` (:func:`blendaug.study.steps.is_done`), and its full log goes to ``folder/log.txt``.
        fn: a module-level function (picklable by reference) returning a ``StepResult``.
        kwargs: picklable arguments; paths are absolute (a Ray worker runs in another directory).
        deps: ids of the nodes whose outputs ``fn`` reads.
        resources: CPU threads and GPU share it asks for.
        cost: relative amount of work (e.g. images x epochs) for time estimates; 0 when unknown.

    With a non-empty ``fingerprint``, every executor reports a node whose folder already holds it
    (:func:`blendaug.study.steps.is_done`) as skipped without calling ``fn`` (no worker starts); its result
    is then the ``StepResult(folder, fingerprint, skipped=True, seconds)`` that ``run_step`` would return.
    """

    id: str
    kind: str
    fingerprint: str
    folder: Path
    fn: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    deps: tuple[str, ...] = ()
    resources: Resources = Resources()
    cost: float = 0.0


@dataclass(frozen=True)
class NodeEvent:
    """A progress event: ``state`` is ``start``, ``done`` (with ``result``), ``skipped`` or ``failed``."""

    node: Node
    state: Literal["start", "done", "skipped", "failed"]
    result: Any = None
    seconds: float = 0.0
    error: str = ""


class Executor(Protocol):
    def run(self, nodes: Sequence[Node], on_event: Callable[[NodeEvent], None] | None = None) -> dict[str, Any]:
        """Run every node after its deps; return ``{node id: result}``. Raises the first node failure."""
        ...


def topological(nodes: Sequence[Node]) -> list[Node]:
    """``nodes`` ordered so that every node comes after its deps (stable for an already ordered list).

    Raises:
        ValueError: on a dependency that is not in ``nodes`` or a cycle (a bug in the graph builder).
    """
    by_id = {n.id: n for n in nodes}
    if len(by_id) != len(nodes):
        raise ValueError("node ids are not unique")
    for n in nodes:
        missing = [d for d in n.deps if d not in by_id]
        if missing:
            raise ValueError(f"node {n.id} needs unknown nodes {missing}")
    order: list[Node] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(n: Node) -> None:
        if state.get(n.id) == 2:
            return
        if state.get(n.id) == 1:
            raise ValueError(f"dependency cycle through {n.id}")
        state[n.id] = 1
        for d in n.deps:
            visit(by_id[d])
        state[n.id] = 2
        order.append(n)

    for n in nodes:
        visit(n)
    return order


class NodeFailed(BlendaugError):
    """A node raised an error that is not a BlendaugError, or its worker process died; names the node and log."""

    exit_code = 1


def failure_message(node: Node, error: str) -> str:
    from blendaug.study.noderun import log_path

    return f"node {node.id} failed: {error} (its log: {log_path(node)})"


def done_result(node: Node) -> Any:
    """The skipped ``StepResult`` of a node whose folder already holds its fingerprint, else None."""
    from blendaug.study.steps import StepResult, read_done

    if not node.fingerprint:
        return None
    done = read_done(Path(node.folder))
    if done is None or done.get("fingerprint") != node.fingerprint:
        return None
    return StepResult(Path(node.folder), node.fingerprint, True, float(done.get("seconds", 0.0)))


def event_for(node: Node, result: Any, seconds: float) -> NodeEvent:
    """The ``done`` or ``skipped`` event of a node that returned ``result``."""
    return NodeEvent(node, "skipped" if getattr(result, "skipped", False) else "done", result, seconds)


class LocalExecutor:
    """Runs nodes one after another in this process (the default: one CPU or one GPU).

    Args:
        verbose: show each node's full output on the console too (it always goes to ``folder/log.txt``).
        threads_per_job: torch/OpenMP threads per node (None: every core this process may use, since nodes run
            one at a time; the graph's ``resources.cpus`` of 1 is what a pool reserves, not what a lone node needs).
        capture: False leaves node output on the console and writes no log files.
    """

    def __init__(self, verbose: bool = False, threads_per_job: int | None = None, capture: bool = True) -> None:
        from blendaug.study.noderun import job_threads

        self.verbose, self.capture = verbose, capture
        self.threads = job_threads("local", threads_per_job)

    def run(self, nodes: Sequence[Node], on_event: Callable[[NodeEvent], None] | None = None) -> dict[str, Any]:
        from blendaug.study.noderun import run_node

        emit = on_event or (lambda e: None)
        results: dict[str, Any] = {}
        for node in topological(nodes):
            done = done_result(node)
            if done is not None:
                results[node.id] = done
                emit(event_for(node, done, 0.0))
                continue
            emit(NodeEvent(node, "start"))
            t0 = time.perf_counter()
            try:
                result, seconds = run_node(node, verbose=self.verbose, threads=self.threads, capture=self.capture)
            except BaseException as e:
                emit(NodeEvent(node, "failed", seconds=time.perf_counter() - t0, error=str(e) or type(e).__name__))
                raise
            results[node.id] = result
            emit(event_for(node, result, seconds))
        return results


def _parallel(**options: Any) -> Executor:
    return get_executor_class("local-parallel")(**options)


def _ray(**options: Any) -> Executor:
    return get_executor_class("ray")(**options)


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor, "local-parallel": _parallel, "ray": _ray}
_CLASSES = {"local-parallel": ("blendaug.study.executor_parallel", "ParallelExecutor"),
            "ray": ("blendaug.study.executor_ray", "RayExecutor")}  # imported on use; ray only when built


def check_kind(kind: str) -> None:
    """Raise ConfigError with a did-you-mean hint when no executor is registered as ``kind``."""
    if kind not in EXECUTORS:
        raise ConfigError(f"executor '{kind}' is unknown ({did_you_mean(kind, EXECUTORS)})")


def get_executor_class(kind: str) -> Callable[..., Executor]:
    """The class of the executor registered as ``kind`` (Ray is not imported; did-you-mean error when unknown)."""
    check_kind(kind)
    if kind not in _CLASSES:
        return EXECUTORS[kind]
    import importlib

    module, name = _CLASSES[kind]
    return getattr(importlib.import_module(module), name)


def executor_options(kind: str) -> dict[str, Any]:
    """``{option: default}`` of the executor registered as ``kind`` (for config validation and --show-config)."""
    params = inspect.signature(get_executor_class(kind)).parameters
    return {name: p.default for name, p in params.items()}


def get_executor(kind: str, **options: Any) -> Executor:
    """The executor registered as ``kind``, built with ``options``.

    Raises:
        ConfigError: an unknown kind or option (with the closest valid one); for ``ray``, Ray not installed.
    """
    valid = executor_options(kind)
    for key in options:
        if key not in valid:
            raise ConfigError(f"executor.{key}: not an option of the '{kind}' executor "
                              f"({did_you_mean(key, valid)})")
    return EXECUTORS[kind](**options)
