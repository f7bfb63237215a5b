"""``blendaug study`` and ``blendaug report``.

Until the study issue (#7) lands, ``blendaug study`` runs the default data stage only: it generates
the toyworld dataset and prints its statistics.
"""

from __future__ import annotations

from pathlib import Path

import typer


def study(
    config: str = typer.Argument(None, help="Study config YAML (default: the embedded quick study)."),
    out: Path = typer.Option(Path("runs/study"), "--out", help="Run folder."),
) -> None:
    from data.stats import dataset_stats, format_stats
    from data.toyworld import ToyworldConfig, generate_toyworld

    from data.yolo import read_yolo

    if config is not None:
        typer.echo("blendaug study CONFIG: configs arrive with the study issue (#7); running the default data stage")
    toy = out / "toyworld"
    if (toy / "data.yaml").is_file():
        typer.echo(f"[data] toyworld already at {toy}")
    else:
        typer.echo(f"[data] generating toyworld -> {toy}")
        generate_toyworld(toy, ToyworldConfig(n_images=200, seed=0))
    typer.echo(format_stats(dataset_stats(read_yolo(toy))))
    typer.echo(f"done: {toy / 'data.yaml'}")


def report(run: Path = typer.Argument(..., help="A finished study run folder.")) -> None:
    typer.echo("blendaug report: not implemented yet (issue #7)", err=True)
    raise typer.Exit(1)
