"""Where the study's nodes run. Executors only order and place nodes; none of them knows what a node does.

A :class:`Node` is one unit of work of the study graph (data, crops, one generator, samples of a tier,
one arm dataset, one detector or classifier job): a module-level function and picklable keyword
arguments, the ids of the nodes it needs, and the resources it asks for. Its fingerprint is known
before it runs (it comes from the config and its inputs' fingerprints), and the function itself skips
finished work (:func:`blendaug.study.steps.run_step`), so running a node twice is always safe: that is
what lets a retried or resumed node give the same results whichever executor ran it.

``LocalExecutor`` runs nodes one after another in this process, in the order given (a topological order).
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from blendaug.data.errors import ConfigError


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


def _skipped(result: Any) -> bool:
    return bool(getattr(result, "skipped", False))


class LocalExecutor:
    """Runs nodes sequentially in this process (the default: one CPU or one GPU)."""

    def run(self, nodes: Sequence[Node], on_event: Callable[[NodeEvent], None] | None = None) -> dict[str, Any]:
        emit = on_event or (lambda e: None)
        results: dict[str, Any] = {}
        for node in topological(nodes):
            emit(NodeEvent(node, "start"))
            t0 = time.perf_counter()
            try:
                result = node.fn(**node.kwargs)
            except BaseException as e:
                emit(NodeEvent(node, "failed", seconds=time.perf_counter() - t0, error=str(e)))
                raise
            results[node.id] = result
            emit(NodeEvent(node, "skipped" if _skipped(result) else "done", result, time.perf_counter() - t0))
        return results


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor}


def get_executor_class(kind: str) -> Callable[..., Executor]:
    """The executor factory registered as ``kind`` (did-you-mean ConfigError for an unknown kind)."""
    if kind not in EXECUTORS:
        close = difflib.get_close_matches(kind, list(EXECUTORS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"executor.kind: unknown executor '{kind}'{hint}; choose from {', '.join(EXECUTORS)}")
    return EXECUTORS[kind]


def get_executor(kind: str, **options: Any) -> Executor:
    """The executor registered as ``kind``, built with ``options`` (did-you-mean error for an unknown kind)."""
    return get_executor_class(kind)(**options)
