"""Fast checks of ``blendaug study`` / ``report`` argument handling (no training)."""


def test_show_config_lists_every_key_with_its_description(run_cli):
    proc = run_cli("study", "--show-config", "gan.steps=3", check=True)
    assert "steps: 3" in proc.stdout
    assert "# budget: optimiser steps per generator" in proc.stdout
    assert "#   ratio: synthetic training images per real training image" in proc.stdout  # the arm fields


def test_dry_run_prints_the_plan_without_running_it(run_cli, tmp_path):
    proc = run_cli("study", "configs/smoke.yaml", "--dry-run", "--out", tmp_path / "run", check=True)
    assert "plan: 15 nodes, 0 already done, 15 to run" in proc.stdout
    assert "detect/blended_mixed/seed1" in proc.stdout and "estimated work" in proc.stdout
    assert not (tmp_path / "run").exists()


def test_unknown_executor_is_a_did_you_mean_error(run_cli):
    proc = run_cli("study", "configs/smoke.yaml", "--executor", "local-paralel")
    assert proc.returncode == 2 and "did you mean 'local-parallel'" in proc.stderr


def test_unknown_override_key_is_a_one_line_error(run_cli):
    proc = run_cli("study", "configs/smoke.yaml", "gan.epoch=3")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "did you mean 'gan.epochs'" in proc.stderr and "Traceback" not in proc.stderr


def test_report_refuses_a_folder_that_is_not_a_run(run_cli, tmp_path):
    proc = run_cli("report", tmp_path)
    assert proc.returncode == 2 and "not a study run folder" in proc.stderr


def test_an_unknown_class_in_the_filter_stops_at_the_data_node_in_one_line(run_cli, tmp_path):
    proc = run_cli("study", "configs/smoke.yaml", "dataset.classes=[plane]",
                   "--out", tmp_path / "run")
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "dataset.classes: unknown class(es) plane; the dataset has car, van, truck" in last
    assert "Traceback" not in proc.stderr and not (tmp_path / "run" / "data" / ".step.json").exists()
