"""Measured quality of generator snapshots against held-out real crops, and the tiers built on it.

Pure maths in :mod:`~blendaug.gan.quality.metrics`, :mod:`~blendaug.gan.quality.ssim`,
:mod:`~blendaug.gan.quality.memorisation`, :mod:`~blendaug.gan.quality.references` and
:mod:`~blendaug.gan.quality.tiers`; feature spaces in :mod:`~blendaug.gan.quality.features`; arrays in, rows
out in :mod:`~blendaug.gan.quality.measure`; :mod:`~blendaug.gan.quality.score` reads a run and writes
``RUN/quality.csv``. See ``gan/quality/README.md`` for the anchored scale and the tier rule.
"""
