"""The study console (node lines, progress, time left) and the dry-run plan, on real Node objects and step folders."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import executor_nodes as nodes  # noqa: E402

from blendaug.study.console import Console, Estimator, fmt_seconds, format_plan  # noqa: E402
from blendaug.study.executor import LocalExecutor, Node, NodeEvent, Resources  # noqa: E402
from blendaug.study.steps import StepResult  # noqa: E402


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _node(i: str, kind: str, cost: float, root: Path = Path("/nowhere")) -> Node:
    return Node(i, kind, "", root / i, nodes.chain, resources=Resources(), cost=cost)


def test_fmt_seconds():
    assert [fmt_seconds(s) for s in (None, 3.25, 45, 200, 7300)] == ["?", "3.2 s", "45 s", "3m 20s", "2h 01m"]


def test_estimates_come_from_cost_and_finished_nodes_of_the_same_kind():
    est = Estimator(rates={"classify": 2.0})
    a, b, c = _node("d0", "detect", 1), _node("d1", "detect", 3), _node("c0", "classify", 5)
    assert est.estimate(b) is None  # nothing known yet, and no prior for detect
    assert est.estimate(c) == 10.0  # the prior: 5 x 2 s
    est.observe(a, 20.0)
    assert est.estimate(b) == 60.0  # 3 x (20 s / 1)
    est.observe(_node("c1", "classify", 1), 4.0)
    assert est.estimate(c) == 20.0  # a finished node of the kind beats the prior
    assert est.estimate(_node("g", "generator", 2)) == 2 * 24.0 / 2  # other kinds' rate, when nothing else


def test_console_prints_a_line_per_event_and_the_time_left():
    clock, out = Clock(), io.StringIO()
    graph = [_node("data", "data", 1), _node("d0", "detect", 1), _node("d1", "detect", 2), _node("d2", "detect", 2)]
    con = Console(graph, stream=out, live=False, interval=1e9, clock=clock, ticker=False)
    con(NodeEvent(graph[0], "skipped", StepResult(Path("/x"), "f", True, 7.0)))
    con(NodeEvent(graph[1], "start"))
    clock.t += 30
    con(NodeEvent(graph[1], "done", StepResult(Path("/x"), "f", False, 30.0), 30.0))
    con(NodeEvent(graph[2], "start"))
    clock.t += 10
    k, n, frac, elapsed, left = con.progress()
    # d1 (cost 2, 60 s at 30 s per cost) has run 10 s: 50 s left; d2: 60 s; concurrency 40/40 = 1.
    assert (k, n, elapsed, left) == (2, 4, 40.0, 110.0)
    assert abs(frac - 30 / 140) < 1e-9
    con(NodeEvent(graph[2], "failed", seconds=10.0, error="DataError: bad.txt:3"))
    con.close()
    lines = out.getvalue().splitlines()
    assert lines[:5] == ["[1/4] skipped data  (done before)", "[1/4] start   d0", "[2/4] done    d0  30 s",
                         "[2/4] start   d1", "[3/4] FAILED  d1 after 10 s: DataError: bad.txt:3"]
    assert lines[5].startswith("[#") and "3/4 nodes" in lines[5] and len(lines) == 6


def test_without_a_terminal_progress_comes_every_interval_and_a_terminal_gets_a_live_bar():
    clock, out = Clock(), io.StringIO()
    graph = [_node(f"n{i}", "detect", 1) for i in range(3)]
    con = Console(graph, stream=out, live=False, interval=60, clock=clock, ticker=False)
    for node in graph:
        con(NodeEvent(node, "start"))
        clock.t += 40
        con(NodeEvent(node, "done", StepResult(Path("/x"), "f", False, 40.0), 40.0))
    bars = [ln for ln in out.getvalue().splitlines() if ln.startswith("[#") or ln.startswith("[-")]
    assert len(bars) == 1 and "2/3 nodes" in bars[0] and "~40 s left" in bars[0]  # at 80 s, not at 40 s
    live = io.StringIO()
    con = Console(graph, stream=live, live=True, clock=clock, ticker=False)
    con(NodeEvent(graph[0], "start"))
    assert live.getvalue().startswith("\r\x1b[2K[0/3] start   n0\n[") and "\n" not in live.getvalue().split("\n", 1)[1]


def test_console_reaches_the_terminal_while_a_node_output_is_captured(tmp_path, capfd):
    graph = [nodes.node(tmp_path, "n", nodes.noisy, tag="TAG9")]
    with Console(graph, live=False, ticker=False) as con:  # a duplicate of the real stdout
        LocalExecutor().run(graph, on_event=con)
    out, _ = capfd.readouterr()
    assert "start   n" in out and "done    n" in out and "TAG9" not in out


def test_format_plan_lists_done_and_pending_nodes_with_an_estimate(tmp_path):
    graph = [nodes.node(tmp_path, "a", nodes.chain), nodes.node(tmp_path, "b", nodes.chain, ("a",)),
             nodes.node(tmp_path, "t", nodes.train_tiny, ("a",), key={"seed": 0})]
    LocalExecutor().run(graph[:1])
    record = tmp_path / "a" / ".step.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "seconds": 12.0}))  # as if it took 12 s
    text = format_plan(graph, header={"arms": ["baseline", "blended_mixed"], "seeds": [0, 1]},
                       rates={"train_tiny": 30.0}, workers=2)
    lines = text.splitlines()
    assert lines[0] == "plan: 3 nodes, 1 already done, 2 to run"
    assert lines[1:3] == ["  arms: baseline, blended_mixed", "  seeds: 0, 1"]
    assert "  b  ~12 s" in lines and "  t  ~30 s" in lines  # b from a's 12 s (same kind), t from the prior
    assert "already done: a" in lines
    assert lines[-1].startswith("estimated work: ~42 s, about 21 s with 2 at once")
