"""blendaug: does blending generated object crops into real images make a detector better? Measure it.

The stages live in one subpackage each, in the order the data flows: :mod:`blendaug.data`,
:mod:`blendaug.gan`, :mod:`blendaug.compositing`, :mod:`blendaug.detection`,
:mod:`blendaug.classification` and :mod:`blendaug.study` (which hosts the ``blendaug`` command).
In a source checkout they are the top-level folders ``data/``, ``gan/``, ...; pyproject.toml maps
them into this package, so nothing named ``data`` or ``study`` lands at the top of site-packages.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("blendaug")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0.0.0"
