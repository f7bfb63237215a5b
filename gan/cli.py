"""``blendaug gan``: filled by the GAN issue (#3)."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False)


@app.callback(invoke_without_command=True, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def _not_yet(ctx: typer.Context) -> None:
    typer.echo("blendaug gan: not implemented yet (issue #3)", err=True)
    raise typer.Exit(1)
