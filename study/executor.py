"""Where (arm, seed) training jobs run.

Every job is independent and described by a picklable :class:`Job`, so a cluster engine can run
them elsewhere by implementing :class:`Executor` (submit everything, wait, return results in order)
without touching the stages. ``LocalExecutor`` runs them one after the other in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Job:
    """One unit of work: ``fn(**kwargs)``; ``name`` is for progress lines (``detect/blended_mixed/seed1``)."""

    name: str
    fn: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    def run(self, jobs: Sequence[Job], on_done: Callable[[Job, Any], None] | None = None) -> list[Any]:
        """Run every job; return their results in the order given."""
        ...


class LocalExecutor:
    """Runs jobs sequentially in this process (the default: one CPU or one GPU)."""

    def run(self, jobs: Sequence[Job], on_done: Callable[[Job, Any], None] | None = None) -> list[Any]:
        results = []
        for job in jobs:
            result = job.fn(**job.kwargs)
            if on_done is not None:
                on_done(job, result)
            results.append(result)
        return results


EXECUTORS: dict[str, Callable[[], Executor]] = {"local": LocalExecutor}
