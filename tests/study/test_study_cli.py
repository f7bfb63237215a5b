"""Fast checks of ``blendaug study`` / ``report`` argument handling (no training)."""


def test_show_config_lists_every_key_with_its_description(run_cli):
    proc = run_cli("study", "--show-config", "gan.epochs=3", check=True)
    assert "epochs: 3" in proc.stdout
    assert "# training epochs per GAN" in proc.stdout


def test_unknown_override_key_is_a_one_line_error(run_cli):
    proc = run_cli("study", "configs/smoke.yaml", "gan.epoch=3")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "did you mean 'gan.epochs'" in proc.stderr and "Traceback" not in proc.stderr


def test_report_refuses_a_folder_that_is_not_a_run(run_cli, tmp_path):
    proc = run_cli("report", tmp_path)
    assert proc.returncode == 2 and "not a study run folder" in proc.stderr
