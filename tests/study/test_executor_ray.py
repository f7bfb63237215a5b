"""The ray executor on a real local Ray cluster (2 CPUs, no dashboard) that the tests start; skipped without ray.

CI installs the extra (``pip install -e ".[ray]"``) after the default run and runs this file.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import executor_nodes as nodes  # noqa: E402

from blendaug.data.errors import ConfigError, DataError  # noqa: E402
from blendaug.study.executor import LocalExecutor, get_executor  # noqa: E402
from blendaug.study.executor_ray import RayExecutor, shared_problems  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster for this module; the workers import executor_nodes by name as spawned ones do."""
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning",
             runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_WAIT_POLICY": "PASSIVE"}})
    yield ray
    ray.shutdown()


def test_ray_gives_the_same_outputs_as_local_and_logs_each_node(cluster, tmp_path):
    LocalExecutor(threads_per_job=1).run(nodes.graph(tmp_path / "local"))  # the threads Ray gives each task
    events = []
    results = get_executor("ray", max_retries=1).run(nodes.graph(tmp_path / "ray"), on_event=events.append)
    assert nodes.outputs(tmp_path / "ray") == nodes.outputs(tmp_path / "local")
    assert not any(r.skipped for r in results.values())
    assert sorted((e.node.id, e.state) for e in events) == sorted(
        [(i, s) for i in ("a", "b", "c", "d", "train") for s in ("start", "done")])
    assert "trained, loss" in (tmp_path / "ray" / "train" / "log.txt").read_text()
    again = []
    RayExecutor().run(nodes.graph(tmp_path / "ray"), on_event=again.append)
    assert {e.state for e in again} == {"skipped"}


def test_a_killed_worker_is_retried_and_the_results_are_the_same(cluster, tmp_path):
    def graph(root: Path, marks: str | None):
        return [nodes.node(root, "a", nodes.chain),
                nodes.node(root, "k", nodes.killed_once, ("a",), marks=marks),
                nodes.node(root, "d", nodes.chain, ("k",))]

    LocalExecutor().run(graph(tmp_path / "local", None))
    marks = tmp_path / "marks"
    marks.mkdir()
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (marks / "attempt1").is_file():
            time.sleep(0.1)
        time.sleep(0.2)  # the mark is written just before the node waits
        pid = int((marks / "attempt1").read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    events = []
    RayExecutor(max_retries=2).run(graph(tmp_path / "ray", str(marks)), on_event=events.append)
    thread.join(timeout=5)
    assert killed and (marks / "attempt2").is_file()
    assert int((marks / "attempt2").read_text()) != killed[0]  # a new worker process did the work
    assert nodes.outputs(tmp_path / "ray") == nodes.outputs(tmp_path / "local")
    assert [(e.node.id, e.state) for e in events if e.node.id == "k"] == [("k", "start"), ("k", "done")]
    assert (tmp_path / "ray" / "k" / "log.txt").read_text().count("== k: started") == 2  # both attempts logged


def test_node_errors_are_not_retried_and_keep_their_type(cluster, tmp_path):
    graph = [nodes.node(tmp_path, "a", nodes.chain),
             nodes.node(tmp_path, "bad", nodes.fail, ("a",), message="data.yaml: no 'val' key"),
             nodes.node(tmp_path, "after", nodes.chain, ("bad",))]
    events = []
    with pytest.raises(DataError, match="data.yaml: no 'val' key"):
        RayExecutor(max_retries=3).run(graph, on_event=events.append)
    assert (tmp_path / "bad" / "log.txt").read_text().count("about to fail") == 1
    assert not (tmp_path / "after").exists() and (tmp_path / "a" / ".step.json").is_file()
    assert events[-1].state == "failed" and "no 'val' key" in events[-1].error


def test_shared_folder_check(cluster, tmp_path):
    RayExecutor().verify_shared(tmp_path / "run")  # the local cluster sees this machine's folders
    assert not list((tmp_path / "run").iterdir())  # and the token is gone again
    bad = shared_problems("t0k", {"n1": ("hostA", "t0k"), "n2": ("hostB", "<unreadable: No such file>")})
    assert bad == ["hostB (n2) read '<unreadable: No such file>'"]


def test_a_node_no_ray_node_can_run_is_an_error_not_a_hang(cluster, tmp_path):
    big = nodes.node(tmp_path, "big", nodes.chain, cpus=64)
    with pytest.raises(ConfigError, match="asks for 64 CPUs, but the largest Ray node has 2"):
        RayExecutor().run([big])
