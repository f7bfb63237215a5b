"""What a person sees of a study: one line per node event, an overall progress bar with the time left, the plan.

``Console(nodes)`` is an ``on_event`` callback for any executor. It prints a line when a node starts,
finishes (with its wall time), is skipped or fails, and one progress bar: redrawn in place on a terminal,
a plain line every ``interval`` seconds in a log or CI. The node's own output never comes here (it goes to
``folder/log.txt``, :mod:`blendaug.study.noderun`); the console writes to a duplicate of the stdout it found
at start, so it still reaches the terminal while a node's output is redirected.

Time left comes from :class:`Estimator`: seconds per unit of ``Node.cost`` of finished nodes of the same
kind (a skipped node brings the seconds its earlier run took), divided by the concurrency seen so far. A
hand-written bar rather than tqdm: tqdm's estimate assumes uniform steps, and nodes differ by 1000x.
"""

from __future__ import annotations

import contextlib
import os
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from blendaug.study.executor import Node, NodeEvent


def fmt_seconds(s: float | None) -> str:
    """``45 s``, ``3m 20s``, ``2h 05m``; ``?`` when unknown."""
    if s is None:
        return "?"
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m}m {sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m"


class Estimator:
    """Seconds a node should take: its cost times the seconds per cost of finished nodes of its kind.

    Args:
        rates: prior seconds per unit of cost, by kind, for kinds nothing has finished of yet.
    """

    def __init__(self, rates: Mapping[str, float] | None = None) -> None:
        self.rates = dict(rates or {})
        self.seen: dict[str, list[tuple[float, float]]] = {}  # kind -> [(cost, seconds)]

    def observe(self, node: Node, seconds: float) -> None:
        if seconds > 0:
            self.seen.setdefault(node.kind, []).append((float(node.cost), float(seconds)))

    def estimate(self, node: Node) -> float | None:
        """Seconds for ``node``, or None when nothing of its kind (nor a prior, nor any other kind) is known."""
        seen = self.seen.get(node.kind, [])
        with_cost = [(c, s) for c, s in seen if c > 0]
        if node.cost > 0 and with_cost:
            return node.cost * sum(s for _, s in with_cost) / sum(c for c, _ in with_cost)
        if seen:
            return sum(s for _, s in seen) / len(seen)
        if node.cost > 0 and node.kind in self.rates:
            return node.cost * self.rates[node.kind]
        every = [(c, s) for pairs in self.seen.values() for c, s in pairs if c > 0]
        if node.cost > 0 and every:  # another kind's rate: rough, better than nothing
            return node.cost * sum(s for _, s in every) / sum(c for c, _ in every)
        return None


def learn_from_folders(nodes: Sequence[Node], estimator: Estimator) -> set[str]:
    """Feed the recorded seconds of every already finished node to ``estimator``; returns their ids."""
    from blendaug.study.steps import read_done

    done = set()
    for node in nodes:
        record = read_done(node.folder)
        if record is not None and (not node.fingerprint or record.get("fingerprint") == node.fingerprint):
            done.add(node.id)
            estimator.observe(node, float(record.get("seconds", 0.0)))
    return done


class Console:
    """An ``on_event`` callback that prints node lines and a progress bar; see the module docstring.

    Args:
        nodes: every node of the run (for the totals).
        stream: where to write (None: a duplicate of this process's stdout).
        live: redraw the bar in place (None: when ``stream`` is a terminal).
        interval: seconds between progress lines when not live.
        rates: prior seconds per cost unit by kind (see :class:`Estimator`).
        clock: a monotonic clock (tests pass their own).
        ticker: run a thread that refreshes the bar (and prints the periodic line) between events.
    """

    def __init__(self, nodes: Sequence[Node], *, stream: TextIO | None = None, live: bool | None = None,
                 interval: float = 60.0, rates: Mapping[str, float] | None = None,
                 clock: Callable[[], float] = time.monotonic, ticker: bool = True) -> None:
        self.nodes = list(nodes)
        self.stream = stream if stream is not None else _dup_stdout()
        self.live = _isatty(self.stream) if live is None else live
        self.interval, self.clock = interval, clock
        self.est = Estimator(rates)
        self.t0 = clock()
        self.last_line = self.t0
        self.running: dict[str, float] = {}  # node id -> start time
        self.finished: dict[str, tuple[str, float]] = {}  # node id -> (state, seconds)
        self.lock = threading.RLock()
        self.stop = threading.Event()
        self.thread = None
        if ticker:
            self.thread = threading.Thread(target=self._tick, daemon=True, name="blendaug-console")
            self.thread.start()

    # -- events ---------------------------------------------------------------------------------------------
    def __call__(self, e: NodeEvent) -> None:
        with self.lock:
            now = self.clock()
            n = f"[{len(self.finished) + (e.state != 'start'):>{len(str(len(self.nodes)))}}/{len(self.nodes)}]"
            if e.state == "start":
                self.running[e.node.id] = now
                self._print(f"{n} start   {e.node.id}")
                return
            self.running.pop(e.node.id, None)
            seconds = float(getattr(e.result, "seconds", 0.0) or 0.0) if e.state == "skipped" else e.seconds
            self.finished[e.node.id] = (e.state, e.seconds if e.state != "skipped" else 0.0)
            if e.state in ("done", "skipped"):
                self.est.observe(e.node, seconds)
            if e.state == "done":
                self._print(f"{n} done    {e.node.id}  {fmt_seconds(e.seconds)}")
            elif e.state == "skipped":
                self._print(f"{n} skipped {e.node.id}  (done before)")
            else:
                self._print(f"{n} FAILED  {e.node.id} after {fmt_seconds(e.seconds)}: {e.error}")
            if not self.live and now - self.last_line >= self.interval:
                self._progress()

    def progress(self) -> tuple[int, int, float, float, float | None]:
        """``(finished nodes, all nodes, fraction of this run's work done, seconds elapsed, seconds left)``."""
        with self.lock:
            now = self.clock()
            elapsed = now - self.t0
            done_work = sum(s for state, s in self.finished.values() if state == "done")
            busy = done_work + sum(now - t for t in self.running.values())
            left, unknown = 0.0, 0
            for node in self.nodes:
                if node.id in self.finished:
                    continue
                guess = self.est.estimate(node)
                if guess is None:
                    unknown += 1
                    continue
                if node.id in self.running:  # at least a tenth of its estimate is still ahead
                    guess = max(guess - (now - self.running[node.id]), 0.1 * guess)
                left += guess
            total = done_work + left
            frac = len(self.finished) / max(len(self.nodes), 1) if total <= 0 else done_work / total
            if unknown == len(self.nodes) - len(self.finished) and unknown:
                return len(self.finished), len(self.nodes), frac, elapsed, None
            concurrency = max(1.0, busy / elapsed) if elapsed > 1.0 else max(1.0, float(len(self.running)))
            return len(self.finished), len(self.nodes), frac, elapsed, left / concurrency

    def progress_line(self, width: int = 24) -> str:
        k, n, frac, elapsed, left = self.progress()
        fill = int(round(frac * width))
        tail = "" if k == n else f", ~{fmt_seconds(left)} left"
        return (f"[{'#' * fill}{'-' * (width - fill)}] {k}/{n} nodes, {frac:.0%} of the work, "
                f"{fmt_seconds(elapsed)} elapsed{tail}")

    # -- output ---------------------------------------------------------------------------------------------
    def _print(self, line: str) -> None:
        with self.lock:
            self.stream.write(f"\r\x1b[2K{line}\n{self.progress_line()}" if self.live else line + "\n")
            self.stream.flush()

    def _progress(self) -> None:
        """The periodic plain progress line (not live)."""
        with self.lock:
            self.last_line = self.clock()
            self._print(self.progress_line())

    def _tick(self) -> None:
        while not self.stop.wait(1.0 if self.live else min(self.interval, 5.0)):
            with self.lock:
                if self.live:
                    self.stream.write(f"\r\x1b[2K{self.progress_line()}")
                    self.stream.flush()
                elif self.clock() - self.last_line >= self.interval:
                    self._progress()

    def close(self) -> None:
        """Stop the ticker and print the final bar on its own line."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        with self.lock:
            end = self.progress_line()
            self.stream.write(f"\r\x1b[2K{end}\n" if self.live else f"{end}\n")
            self.stream.flush()

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _dup_stdout() -> TextIO:
    """A text stream on a duplicate of fd 1, so it keeps pointing at the terminal while fd 1 is redirected."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stdout.flush()
        return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")
    return sys.stdout


def format_plan(nodes: Sequence[Node], *, header: Mapping[str, Any] | None = None,
                rates: Mapping[str, float] | None = None, workers: int = 1, width: int = 100) -> str:
    """The plan of a run for ``--dry-run``: the header lines, each kind's counts and estimate, the nodes.

    Args:
        header: ``{label: value}`` lines first, e.g. ``{"cells": ..., "arms": ..., "seeds": ...}``.
        rates: prior seconds per unit of cost by kind (used where nothing of a kind has finished yet).
        workers: nodes that run at once, for the wall-time estimate.
    """
    est = Estimator(rates)
    done = learn_from_folders(nodes, est)
    todo = [n for n in nodes if n.id not in done]
    lines = [f"plan: {len(nodes)} nodes, {len(done)} already done, {len(todo)} to run"]
    for label, value in (header or {}).items():
        text = ", ".join(map(str, value)) if isinstance(value, list | tuple | set) else str(value)
        lines.append(f"  {label}: {text}")
    kinds = list(dict.fromkeys(n.kind for n in nodes))
    w = max([len(k) for k in kinds] + [4])
    lines.append(f"  {'kind':<{w}}  nodes  done  to run  estimate")
    total, unknown = 0.0, 0
    guesses = {n.id: est.estimate(n) for n in todo}
    for kind in kinds:
        of_kind = [n for n in nodes if n.kind == kind]
        run = [n for n in of_kind if n.id not in done]
        secs = [guesses[n.id] for n in run]
        known = sum(s for s in secs if s is not None)
        missing = sum(s is None for s in secs)
        total, unknown = total + known, unknown + missing
        shown = "-" if not run else fmt_seconds(known) + (f" (+{missing} unknown)" if missing else "")
        lines.append(f"  {kind:<{w}}  {len(of_kind):>5}  {len(of_kind) - len(run):>4}  {len(run):>6}  {shown}")
    if todo:
        lines.append("to run:")
        idw = max(len(n.id) for n in todo)
        lines += [f"  {n.id:<{idw}}  ~{fmt_seconds(guesses[n.id])}" for n in todo]
    if done:
        ids = ", ".join(n.id for n in nodes if n.id in done)
        lines += textwrap.wrap(ids, width=width, initial_indent="already done: ", subsequent_indent="  ")
    if todo:
        wall = f", about {fmt_seconds(total / max(workers, 1))} with {workers} at once" if workers > 1 else ""
        note = f"; {unknown} node(s) without an estimate (nothing of their kind has run)" if unknown else ""
        lines.append(f"estimated work: ~{fmt_seconds(total)}{wall} (rough: from finished nodes of the same "
                     f"kind and the nodes' sizes{note})")
    return "\n".join(lines)
