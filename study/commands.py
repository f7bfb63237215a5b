"""``blendaug study`` and ``blendaug report``."""

from __future__ import annotations

from pathlib import Path

import typer

from blendaug.data.errors import ConfigError


def _config_and_overrides(args: list[str]) -> tuple[str | None, list[str]]:
    config = None
    overrides = []
    for a in args:
        if "=" in a:
            overrides.append(a)
        elif config is None:
            config = a
        else:
            raise ConfigError(f"'{a}': give one CONFIG and key.sub=value overrides")
    return config, overrides


def study(
    args: list[str] = typer.Argument(None, help="[CONFIG.yaml] [key.sub=value ...]; default configs/quick.yaml."),
    out: Path = typer.Option(None, "--out", help="Run folder (default runs/<config name>)."),
    executor: str = typer.Option(None, "--executor", help="local, local-parallel or ray (same as "
                                                          "executor.kind=...)."),
    show_config: bool = typer.Option(False, "--show-config", help="Print the resolved config and every key's "
                                                                   "description, then exit."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (cells, arms, seeds, nodes to run and "
                                                          "already done, a time estimate) and exit."),
    verbose: bool = typer.Option(False, "--verbose", help="Stream every node's full output (ultralytics' epochs "
                                                          "included) instead of one line per node."),
) -> None:
    """Run the whole study (resumable): data, crops, generators, composites, detection and classification per
    arm, seed and sweep cell, statistics, report."""
    import yaml

    from blendaug.study.config_io import describe_fields, load_config

    config, overrides = _config_and_overrides(args or [])
    if executor:
        overrides.append(f"executor.kind={executor}")
    cfg = load_config(config, overrides)
    if show_config:
        typer.echo(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
        typer.echo("\n".join(describe_fields()))
        return
    run = out or Path("runs") / (Path(config).stem if config else "quick")
    if dry_run:
        from blendaug.study.runner import dry_run_text

        typer.echo(dry_run_text(cfg, run))
        return
    from blendaug.study.runner import run_study

    typer.echo(f"study '{cfg.name}': arms {', '.join(cfg.arm_specs())}; seeds {cfg.seeds}; run folder {run}")
    report = run_study(cfg, run, log=typer.echo, verbose=verbose)
    typer.echo(f"report: {report}\n        {report.with_suffix('.md')}")


def report(run: Path = typer.Argument(..., help="A finished study run folder.")) -> None:
    """Rebuild results.csv, contrasts.csv, summary.csv and the report of a finished run."""
    from blendaug.study.config_io import load_config
    from blendaug.study.reportbuild import write_results_and_report

    if not (run / "config.yaml").is_file():
        raise ConfigError(f"{run}: not a study run folder (no config.yaml)")
    cfg = load_config(run / "config.yaml")
    typer.echo(f"report: {write_results_and_report(cfg, run)}")
