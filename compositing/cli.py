"""``blendaug composite`` and ``blendaug view``: filled by the compositing issue (#4)."""

from __future__ import annotations

import typer


def composite(args: list[str] = typer.Argument(None, hidden=True)) -> None:
    typer.echo("blendaug composite: not implemented yet (issue #4)", err=True)
    raise typer.Exit(1)


def view(args: list[str] = typer.Argument(None, hidden=True)) -> None:
    typer.echo("blendaug view: not implemented yet (issue #4)", err=True)
    raise typer.Exit(1)
