"""Executors on small graphs of real nodes (run_step, files, a tiny torch training): local and local-parallel.

Ray has its own file (test_executor_ray.py). Node functions live in executor_nodes.py, imported by name so
that they pickle by reference into spawned workers, like the study's own nodes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import executor_nodes as nodes  # noqa: E402

from blendaug.data.cores import usable_cores  # noqa: E402
from blendaug.data.errors import ConfigError, DataError  # noqa: E402
from blendaug.study.executor import (  # noqa: E402
    LocalExecutor,
    Node,
    NodeFailed,
    Resources,
    get_executor,
    get_executor_class,
)
from blendaug.study.executor_parallel import ParallelExecutor  # noqa: E402


def _run(executor, graph):
    events = []
    results = executor.run(graph, on_event=events.append)
    return results, [(e.node.id, e.state) for e in events]


def test_unknown_kind_and_option_get_did_you_mean():
    with pytest.raises(ConfigError, match="did you mean 'local-parallel'"):
        get_executor("local-paralel")
    with pytest.raises(ConfigError, match="did you mean 'ray'"):
        get_executor_class("rya")
    with pytest.raises(ConfigError, match="executor.worker: .*did you mean 'workers'"):
        get_executor("local-parallel", worker=2)
    with pytest.raises(ConfigError, match="executor.workers: expected a positive integer"):
        get_executor("local-parallel", workers=0)


def test_ray_is_imported_only_when_chosen_and_missing_ray_is_one_line(monkeypatch):
    code = ("import sys; from blendaug.study.executor import get_executor, get_executor_class, executor_options; "
            "get_executor('local-parallel'); get_executor_class('ray'); executor_options('ray'); "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without the extra looks like
    with pytest.raises(ConfigError, match=r"pip install 'blendaug\[ray\]'") as err:
        get_executor("ray", address="auto")
    assert "\n" not in str(err.value)


def test_local_and_parallel_give_identical_outputs_and_a_rerun_skips(tmp_path):
    ref, ref_events = _run(LocalExecutor(threads_per_job=1), nodes.graph(tmp_path / "local"))  # as the pool
    par, par_events = _run(ParallelExecutor(workers=2, cpus=2), nodes.graph(tmp_path / "par"))
    expected = nodes.outputs(tmp_path / "local")
    assert "train/weights.bin" in expected and len(expected) == 6
    assert nodes.outputs(tmp_path / "par") == expected
    assert {k: (r.fingerprint, r.skipped) for k, r in par.items()} == {k: (r.fingerprint, r.skipped)
                                                                        for k, r in ref.items()}
    assert sorted(par_events) == sorted(ref_events)
    # deps before dependents, in the parallel run too
    done_order = [i for i, s in par_events if s == "done"]
    assert done_order.index("a") < done_order.index("b") < done_order.index("d")
    assert done_order.index("c") < done_order.index("train")
    # Nothing reruns: every node is reported skipped, and no worker starts (logs keep their one run).
    logs = {p: p.read_text() for p in (tmp_path / "par").rglob("log.txt")}
    again, again_events = _run(ParallelExecutor(workers=2, cpus=2), nodes.graph(tmp_path / "par"))
    assert {s for _, s in again_events} == {"skipped"} and all(r.skipped for r in again.values())
    assert {p: p.read_text() for p in logs} == logs
    local_again, local_events = _run(LocalExecutor(), nodes.graph(tmp_path / "par"))
    assert local_events == [(i, "skipped") for i in ("a", "b", "c", "d", "train")]
    assert local_again == again  # the same StepResults (seconds from each step's record)


def test_parallel_runs_independent_nodes_at_the_same_time(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    graph = [nodes.node(tmp_path, "x", nodes.rendezvous, me=str(marks / "x"), other=str(marks / "y"), timeout=60),
             nodes.node(tmp_path, "y", nodes.rendezvous, me=str(marks / "y"), other=str(marks / "x"), timeout=60)]
    results, _ = _run(ParallelExecutor(workers=2, cpus=2), graph)
    assert set(results) == {"x", "y"} and (tmp_path / "x" / "out.txt").read_text() == "met"


def test_each_node_gets_its_thread_count_in_every_executor(tmp_path):
    def probe(root, cpus):
        return [nodes.node(root, "p", nodes.env_probe, cpus=cpus)]

    def seen(root):
        return json.loads((root / "p" / "env.json").read_text())

    ParallelExecutor(cpus=2).run(probe(tmp_path / "par2", 2))
    LocalExecutor(threads_per_job=2).run(probe(tmp_path / "loc2", 1))
    ParallelExecutor(cpus=2, threads_per_job=1).run(probe(tmp_path / "par1", 2))
    for root in ("par2", "loc2"):
        got = seen(tmp_path / root)
        assert (got["BLENDAUG_TORCH_THREADS"], got["OMP_NUM_THREADS"], got["torch_threads"]) == ("2", "2", 2), root
    assert seen(tmp_path / "par1")["torch_threads"] == 1


def test_the_local_executor_gives_a_lone_node_every_core(tmp_path):
    # The graph's nodes ask for 1 CPU (what a pool reserves per job); run one at a time they get the machine.
    # On 2 cores that is 1.74x faster YOLO epochs (docs/executors.md).
    LocalExecutor().run([nodes.node(tmp_path, "p", nodes.env_probe, cpus=1)])
    got = json.loads((tmp_path / "p" / "env.json").read_text())
    cores = usable_cores()
    assert (got["BLENDAUG_TORCH_THREADS"], got["torch_threads"]) == (str(cores), cores)


def test_gpu_jobs_are_packed_on_the_gpu_with_room_and_cpu_jobs_see_no_gpu(tmp_path, monkeypatch):
    # Placement only needs GPU ids: two "visible" ids on a CPU machine exercise it without a GPU.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    marks = tmp_path / "marks"
    marks.mkdir()
    graph = [Node(f"g{i}", "detect", "", tmp_path / f"g{i}", nodes.gather,
                  {"folder": str(tmp_path / f"g{i}"), "key": {"i": i}, "me": f"g{i}", "marks": str(marks), "n": 4,
                   "timeout": 60}, resources=Resources(cpus=1, gpus=0.5)) for i in range(4)]
    graph.append(nodes.node(tmp_path, "cpu", nodes.gather, me="cpu", marks=str(tmp_path / "cpu_marks"), n=1))
    (tmp_path / "cpu_marks").mkdir()
    ParallelExecutor(cpus=4).run(graph)  # a budget of 4 CPUs: the four 0.5-GPU jobs must run together
    gpus = sorted((tmp_path / f"g{i}" / "gpu.txt").read_text() for i in range(4))
    assert gpus == ["0", "0", "1", "1"]
    assert (tmp_path / "cpu" / "gpu.txt").read_text() == ""
    # jobs_per_gpu=1 on one GPU: never two GPU jobs at once, so a 2-node gather cannot complete.
    few = [Node(f"h{i}", "detect", "", tmp_path / f"h{i}", nodes.gather,
                {"folder": str(tmp_path / f"h{i}"), "key": {"i": i}, "me": f"h{i}", "marks": str(marks / "h"), "n": 2,
                 "timeout": 3}, resources=Resources(cpus=1, gpus=0.5)) for i in range(2)]
    (marks / "h").mkdir()
    with pytest.raises(NodeFailed, match="only 1 of 2 nodes ran at the same time"):
        ParallelExecutor(cpus=4, gpus=1, jobs_per_gpu=1).run(few)


def test_a_failing_node_stops_the_study_and_keeps_finished_work(tmp_path):
    graph = [nodes.node(tmp_path, "a", nodes.chain),
             nodes.node(tmp_path, "bad", nodes.fail, ("a",), message="labels/x.txt:3: not 5 numbers"),
             nodes.node(tmp_path, "after", nodes.chain, ("bad",))]
    events = []
    with pytest.raises(DataError, match="labels/x.txt:3: not 5 numbers"):
        ParallelExecutor(workers=2, cpus=2).run(graph, on_event=events.append)
    assert [(e.node.id, e.state) for e in events] == [("a", "start"), ("a", "done"), ("bad", "start"),
                                                       ("bad", "failed")]
    assert "not 5 numbers" in events[-1].error and not (tmp_path / "after").exists()
    assert (tmp_path / "a" / ".step.json").is_file()
    log = (tmp_path / "bad" / "log.txt").read_text()
    assert "about to fail" in log and "Traceback" in log and "DataError" in log
    fixed = [graph[0], nodes.node(tmp_path, "bad", nodes.chain, ("a",)), graph[2]]
    results, states = _run(ParallelExecutor(workers=2, cpus=2), fixed)
    assert ("a", "skipped") in states and not results["after"].skipped


def test_programming_errors_and_dead_workers_name_the_node_and_its_log(tmp_path):
    with pytest.raises(NodeFailed, match=r"node boom failed: ZeroDivisionError: division by zero.*log\.txt"):
        ParallelExecutor().run([nodes.node(tmp_path, "boom", nodes.crash)])
    with pytest.raises(NodeFailed, match=r"node gone failed: its worker process died \(signal 9\)"):
        ParallelExecutor().run([nodes.node(tmp_path, "gone", nodes.die)])
    # The local executor raises the node's own exception, as before.
    with pytest.raises(ZeroDivisionError):
        LocalExecutor().run([nodes.node(tmp_path, "boom2", nodes.crash)])


CHANNELS = ("python print", "python stderr", "raw fd write", "subprocess out", "subprocess err", "c printf")


@pytest.mark.parametrize("kind", ["local", "local-parallel"])
def test_node_output_goes_to_its_log_and_not_the_console(tmp_path, capfd, kind):
    executor = LocalExecutor() if kind == "local" else ParallelExecutor()
    executor.run([nodes.node(tmp_path, "n", nodes.noisy, tag="TAG7")])
    out, err = capfd.readouterr()
    log = (tmp_path / "n" / "log.txt").read_text()
    for channel in CHANNELS:
        assert f"{channel} TAG7" in log, channel
    assert "TAG7" not in out + err
    assert not list(tmp_path.glob(".*log.txt"))  # the live log moved into the folder


def test_verbose_shows_the_full_stream_and_still_logs(tmp_path, capfd):
    LocalExecutor(verbose=True).run([nodes.node(tmp_path, "n", nodes.noisy, tag="TAG8")])
    out, _ = capfd.readouterr()
    log = (tmp_path / "n" / "log.txt").read_text()
    for channel in CHANNELS:
        assert f"{channel} TAG8" in log and f"{channel} TAG8" in out, channel


def test_a_logger_made_inside_a_node_still_works_after_it(tmp_path, capfd):
    import logging

    LocalExecutor().run([nodes.node(tmp_path, "n", nodes.adds_handler, logger_name="blendaug-test-late")])
    logging.getLogger("blendaug-test-late").warning("after the node")
    _, err = capfd.readouterr()
    assert "after the node" in err and "Logging error" not in err and "inside the node" not in err
    assert "inside the node" in (tmp_path / "n" / "log.txt").read_text()
