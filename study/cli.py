"""The ``blendaug`` command: one group or command per pipeline stage.

Stage CLIs live next to their stage (``data/cli.py``, ...); this module only assembles them. Stage
CLI modules import heavy libraries (torch, ultralytics) inside their commands, so that
``blendaug data stats`` starts in well under a second.
"""

from __future__ import annotations

import sys

import typer

from blendaug.classification.cli import app as classify_app
from blendaug.compositing.cli import composite, view
from blendaug.data.cli import app as data_app
from blendaug.data.cli import label
from blendaug.data.errors import BlendaugError
from blendaug.detection.cli import app as detect_app
from blendaug.gan.cli import app as gan_app
from blendaug.study.commands import report, study

app = typer.Typer(
    name="blendaug",
    help="Does blending GAN-generated object crops into real images make a detector better? Measure it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data", help="Import, export, split, crop and generate (toyworld) datasets.")
app.command("label", help="Label images with labelme, then import them.")(label)
app.add_typer(gan_app, name="gan", help="Train GANs on object crops, score snapshots, sample crops by tier.")
app.command("composite", help="Blend crops into background images and write a YOLO dataset.")(composite)
app.add_typer(detect_app, name="detect", help="Train and evaluate YOLO detectors.")
app.add_typer(classify_app, name="classify", help="Train and evaluate crop classifiers.")
app.command("study", help="Run the whole study from one YAML config.")(study)
app.command("report", help="Rebuild the report of a finished study run.")(report)
app.command("view", help="Draw a contact sheet of images with their boxes.")(view)


def main() -> None:
    """Entry point: user errors print one line and exit non-zero, without a traceback."""
    try:
        app()
    except BlendaugError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
