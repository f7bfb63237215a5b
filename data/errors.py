"""Errors a user can cause. The CLI prints them on one line and exits non-zero; no traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BlendaugError(Exception):
    """A problem with the user's input (a file, a flag, a config key), not with the code."""

    exit_code = 2


class DataError(BlendaugError):
    """A dataset, label or image file that cannot be used."""


class ConfigError(BlendaugError):
    """A bad option, config key or config value."""


def did_you_mean(name: object, choices: Iterable[object]) -> str:
    """The hint after an unknown name: ``did you mean 'x'?`` for the closest choice, else ``choose from a, b``."""
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(str(name), names, n=1)
    return f"did you mean {close[0]!r}?" if close else f"choose from {', '.join(names)}"


def where(path: object, line: int | None = None) -> str:
    """Format a location for an error message: ``path`` or ``path:line``."""
    return f"{path}:{line}" if line is not None else str(path)


class Warnings:
    """Counts recoverable problems by kind so a command can report them in one summary line.

    Readers take one of these when ``skip_bad`` is on: instead of raising, they record what they
    skipped and go on. ``examples`` keeps the first message of each kind for the summary,
    ``samples`` the first ``max_samples`` of each kind (``blendaug data check`` lists them), and
    ``skipped`` the kinds that were errors turned into skips by ``skip_bad`` (a reader without
    ``skip_bad`` would have stopped on them), as opposed to plain notes such as a clipped box.
    """

    def __init__(self, max_samples: int = 5) -> None:
        self.counts: dict[str, int] = {}
        self.examples: dict[str, str] = {}
        self.samples: dict[str, list[str]] = {}
        self.skipped: set[str] = set()
        self.max_samples = max_samples

    def add(self, kind: str, message: str, skipped: bool = False) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.examples.setdefault(kind, message)
        samples = self.samples.setdefault(kind, [])
        if len(samples) < self.max_samples:
            samples.append(message)
        if skipped:
            self.skipped.add(kind)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def total(self) -> int:
        return sum(self.counts.values())

    def skipped_total(self) -> int:
        """How many bad items ``skip_bad`` skipped (what a report should say was left out)."""
        return sum(n for kind, n in self.counts.items() if kind in self.skipped)

    def summary(self) -> list[str]:
        """One line per kind: ``warning: 3 x unknown shape type (first: a.json: shape 'line' skipped)``."""
        return [f"warning: {n} x {kind} (first: {self.examples[kind]})" for kind, n in sorted(self.counts.items())]
