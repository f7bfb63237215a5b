"""``python -m blendaug`` runs the ``blendaug`` command."""

from blendaug.study.cli import main

main()
