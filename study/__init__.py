"""Stage 6: the whole study (config, runner, statistics, report) and the ``blendaug`` CLI."""
