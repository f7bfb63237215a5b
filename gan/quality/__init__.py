"""Measured quality of GAN snapshots: FID, KID, precision/recall/density/coverage, SSIM, TSTR, tiers.

Pure maths in :mod:`~blendaug.gan.quality.metrics`, :mod:`~blendaug.gan.quality.ssim` and
:mod:`~blendaug.gan.quality.tiers`; feature spaces in :mod:`~blendaug.gan.quality.features`;
:mod:`~blendaug.gan.quality.score` reads a run and writes ``RUN/quality.csv``. See
``gan/quality/README.md`` for the tier rule.
"""
