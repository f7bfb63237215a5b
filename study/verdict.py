"""Plain verdict lines for contrasts: *helps*, *hurts* or *no detectable difference*, and readable numbers.

A verdict reads a contrast's statistics (:class:`blendaug.study.stats.ContrastStats`, or the dict its
``to_dict`` gives, e.g. a ``contrasts.csv`` row) and says, in one line: the call at the Holm-corrected p, the
difference and its interval, what the interval covers (seeds and test images), the replication level, the
training budget, the detectable effect when nothing was detected, and any job that had not converged.
Numbers are rounded to the digits their uncertainty supports; an undefined number is never printed as
``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from blendaug.study.stats import COVERS_IMAGES, ContrastStats, detectable_effect, seeds_needed

HELPS, HURTS, NO_DIFFERENCE, NOT_ESTIMABLE = "helps", "hurts", "no detectable difference", "not estimable"
REPLICATE_TEXT = {
    "training": "each seed redraws detector/classifier training only",
    "synthetic": "each seed also redraws GAN sampling and paste placement",
    "full": "each seed also redraws the train subsample and GAN training",
}


@dataclass(frozen=True)
class Verdict:
    call: str  # HELPS, HURTS, NO_DIFFERENCE or NOT_ESTIMABLE
    line: str


@dataclass(frozen=True)
class Cell:
    """A table cell and, when something is missing, the footnote that explains it."""

    text: str
    footnote: str | None = None


def _finite(x: Any) -> bool:
    if isinstance(x, (str, bytes)) or x is None:
        return False
    try:  # numpy scalars from a DataFrame row count too
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def decimals_for(uncertainty: float, sig: int = 2) -> int:
    """Decimals that show ``sig`` significant digits of ``uncertainty`` (0 to 6)."""
    if not _finite(uncertainty) or uncertainty == 0:
        return 3
    return int(min(6, max(0, sig - 1 - math.floor(math.log10(abs(uncertainty))))))


def format_number(x: float, uncertainty: float | None = None, *, signed: bool = False) -> str:
    """``x`` to the digits its ``uncertainty`` supports (2 significant digits of it); 3 significant without.

    Returns ``""`` for ``nan``/``inf``.
    """
    if not _finite(x):
        return ""
    if uncertainty is not None and _finite(uncertainty) and uncertainty > 0:
        d = decimals_for(uncertainty)
    else:
        d = 0 if x == 0 else int(min(6, max(0, 2 - math.floor(math.log10(abs(x))))))
    text = f"{x:+.{d}f}" if signed else f"{x:.{d}f}"
    return f"{0:.{d}f}" if float(text) == 0 else text  # no "-0.00"


def format_p(p: float) -> str:
    """``p < 0.001``, ``p = 0.012``, ``p = 0.34``, ``p = 1``; ``""`` when undefined."""
    if not _finite(p):
        return ""
    if p < 0.001:
        return "p < 0.001"
    if p >= 0.995:
        return "p = 1"
    return f"p = {p:.2g}" if p < 0.1 else f"p = {p:.2f}"


def mean_sd_cell(mean: float, sd: float, n_seeds: int, n_undefined: int = 0,
                 missing: str = "no predictions") -> Cell:
    """A ``mean ± sd`` cell over seeds, rounded to the sd; never ``nan ± nan``.

    Args:
        mean, sd: over the ``n_seeds`` seeds where the metric is defined.
        n_undefined: seeds where it is undefined (e.g. a precision without predictions).
        missing: why a value can be undefined, for the footnote.

    Returns:
        an empty cell with a footnote when no seed has a value; the mean alone for one seed; a footnote
        whenever some seeds were left out.
    """
    total = n_seeds + n_undefined
    if n_seeds == 0 or not _finite(mean):
        return Cell("", f"undefined in every seed ({missing})")
    text = format_number(mean, sd if n_seeds > 1 else None)
    if n_seeds > 1 and _finite(sd):
        text = f"{text} ± {format_number(sd, sd)}"
    note = None
    if n_undefined:
        note = f"undefined in {n_undefined} of {total} seeds ({missing}); over the other {n_seeds}"
    return Cell(text, note)


def _get(stats: ContrastStats | Mapping[str, Any], key: str) -> Any:
    if isinstance(stats, Mapping):
        return stats.get(key, float("nan"))
    return getattr(stats, key)


def _n_seeds(stats: ContrastStats | Mapping[str, Any]) -> int:
    n = _get(stats, "n_seeds")
    return int(n) if _finite(n) else 0


def _convergence(side: str, rising: tuple[int, int] | None, worse: bool | None, curve: str) -> str:
    if not rising or rising[0] == 0:
        return ""
    k, n = rising
    what = "change this result" if worse is None else ("close this gap" if worse else "widen this gap")
    seeds = "its only seed" if n == 1 else f"{k} of {n} seeds"
    return f" Not converged: {side} ({curve} still rising in {seeds}); more epochs may {what}."


def verdict(stats: ContrastStats | Mapping[str, Any], *, arm: str, reference: str, metric: str,
            lower_is_better: bool = False, replicate: str | None = None, budget: str | None = None,
            epochs: tuple[int, int] | None = None, arm_rising: tuple[int, int] | None = None,
            reference_rising: tuple[int, int] | None = None, curve: str = "the val metric",
            alpha: float = 0.05, effect_of_interest: float | None = None) -> Verdict:
    """One plain line for one contrast and metric.

    Args:
        stats: from :func:`blendaug.study.stats.compare_contrasts` (``p_holm`` set), or its ``to_dict()``.
        lower_is_better: e.g. count MAPE; a negative difference then *helps*.
        replicate: the study's ``replicate`` level (``training``, ``synthetic``, ``full``).
        budget, epochs: ``"images"``/``"epochs"`` and ``(arm epochs, reference epochs)`` as trained.
        arm_rising, reference_rising: ``(jobs flagged as still rising, jobs)`` from the convergence check.
        curve: what the convergence check read, e.g. ``"val mAP50"``.
        effect_of_interest: the smaller effect the seed projection is for (default: half the detectable one).

    Returns:
        the call and the line.
    """
    head = f"{arm} vs {reference}, {metric}"
    diff = _get(stats, "diff")
    if not _finite(diff) or not _finite(_get(stats, "se")):
        notes = _get(stats, "notes")
        why = notes[0] if isinstance(notes, (tuple, list)) and notes else (notes if isinstance(notes, str) and notes
                                                                           else "no paired seeds with a value")
        return Verdict(NOT_ESTIMABLE, f"{head}: not estimable ({why}).")
    p_holm = _get(stats, "p_holm")
    p, p_name = (p_holm, "Holm") if _finite(p_holm) else (_get(stats, "p"), "")
    good = -diff if lower_is_better else diff
    call = (HELPS if good > 0 else HURTS) if _finite(p) and p < alpha and diff != 0 else NO_DIFFERENCE
    lo, hi, se = _get(stats, "ci_low"), _get(stats, "ci_high"), _get(stats, "se")
    level = _get(stats, "level")
    pct = f"{100 * level:g} %" if _finite(level) else "95 %"
    p_text = format_p(p)
    p_text = f"{p_name} {p_text}" if p_name else p_text
    line = (f"{head}: {call}, {format_number(diff, se, signed=True)} ({pct} CI "
            f"{format_number(lo, se, signed=True)} to {format_number(hi, se, signed=True)}; {p_text}).")
    n_seeds, images = _n_seeds(stats), _images_text(stats)
    covers = _get(stats, "covers")
    seeds_word = "1 seed" if n_seeds == 1 else f"{n_seeds} seeds"
    line += f" {seeds_word} × {images}"
    line += "; one seed: the interval covers test-image variance only" if covers == COVERS_IMAGES else ""
    if replicate:
        line += f"; replicate: {replicate} ({REPLICATE_TEXT.get(replicate, replicate)})"
    if budget:
        line += f"; budget: {budget}"
        if epochs:
            line += f" ({arm} {epochs[0]} epochs, {reference} {epochs[1]})"
    line += "."
    if call == NO_DIFFERENCE:
        line += _detectable(stats, n_seeds, images, effect_of_interest)
    worse_ref = None if call == NO_DIFFERENCE else call == HELPS
    line += _convergence(reference, reference_rising, worse_ref, curve)
    line += _convergence(arm, arm_rising, None if worse_ref is None else not worse_ref, curve)
    return Verdict(call, line)


def _n_groups(stats: ContrastStats | Mapping[str, Any]) -> int | None:
    n = _get(stats, "n_groups")
    return int(n) if n is not None and _finite(n) else None


def _images_text(stats: ContrastStats | Mapping[str, Any]) -> str:
    """``"12 test images"``, or for tiles resampled by frame ``"176 test tiles of 24 frames"``."""
    n_images, n_groups = int(_get(stats, "n_images")), _n_groups(stats)
    return f"{n_images} test images" if n_groups is None else f"{n_images} test tiles of {n_groups} frames"


def _detectable(stats: ContrastStats | Mapping[str, Any], n_seeds: int, images: str,
                effect_of_interest: float | None) -> str:
    mde = _get(stats, "mde")
    if not _finite(mde) or mde <= 0:
        return ""
    text = (f" A difference below {format_number(mde, mde)} cannot be told apart with these {n_seeds} seed"
            f"{'s' if n_seeds != 1 else ''} and {images}")
    target = effect_of_interest if effect_of_interest else mde / 2
    view = SimpleNamespace(**{k: _get(stats, k) for k in ("se", "var_seed", "var_common", "n_images", "level",
                                                          "power")}, n_seeds=n_seeds, n_groups=_n_groups(stats))
    if n_seeds < 2 or not all(_finite(getattr(view, k)) for k in ("var_seed", "var_common", "level", "power")):
        return text + "."
    need = seeds_needed(view, target)
    if need is not None:
        return text + f"; about {need} seeds would be needed for {format_number(target, target)}."
    floor = detectable_effect(math.sqrt(view.var_common), math.inf, view.level, view.power)
    return text + (f"; with these test images no number of seeds gets below about {format_number(floor, floor)}, "
                   f"so {format_number(target, target)} needs more test images.")
