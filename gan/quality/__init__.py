"""Measured quality of GAN snapshots: FID, KID, precision/recall/density/coverage, SSIM, TSTR, tiers.

Pure maths in :mod:`~gan.quality.metrics`, :mod:`~gan.quality.ssim` and :mod:`~gan.quality.tiers`;
feature spaces in :mod:`~gan.quality.features`; :mod:`~gan.quality.score` reads a run and writes
``RUN/quality.csv``. See ``gan/quality/README.md`` for the tier rule.
"""
