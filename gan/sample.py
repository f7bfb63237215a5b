"""``gan sample``: draw crops from a trained run by measured quality tier, into a samples folder.

Output (read by compositing): ``OUT/<class>/<id>.png`` plus ``OUT/index.csv`` with columns
``file,class,arch,snapshot,tier,seed,score``; written inside ``atomic_dir``.

Which snapshots: ``RUN/quality.csv`` (from ``blendaug gan score``) gives each (snapshot, class) a
tier. For a class, the snapshots of the asked tier are used (the class's own rows, else the ``all``
rows); ``--n`` crops per class are spread evenly over them, the earlier steps getting the
remainder. ``mixed`` splits ``--n`` equally between ``high``, ``mid`` and ``low`` (remainder to
high, then mid); a tier with no snapshot gives its share to the others. ``unusable`` snapshots never
feed a tier: a class without a snapshot of the tier is an :class:`UnusableTierError`, or, with
``allow_unusable``, draws from its best-quality snapshot, and those rows say ``unusable``.
``score`` is the row's normalised quality. Each (class, snapshot) block of crops is drawn with its
own seed (the ``seed`` column, derived from ``--seed``): crop k of the block is crop k of
``Snapshot.sample(class, n_block, seed)``. ``arch`` is the generator's name (any family).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blendaug.data.atomic import atomic_dir
from blendaug.data.errors import BlendaugError, ConfigError, DataError, where
from blendaug.data.imageio import save_image
from blendaug.gan.quality.tiers import ALL_TIERS, TIERS
from blendaug.gan.runs import ALL, read_run_info

SAMPLE_TIERS = (*TIERS, "mixed")
INDEX_COLUMNS = ("file", "class", "arch", "snapshot", "tier", "seed", "score")


class UnusableTierError(DataError):
    """A class has no usable snapshot of the asked tier."""


@dataclass(frozen=True)
class Draw:
    """One block of crops: ``n`` crops of ``class_name`` from the snapshot at ``step``."""

    class_name: str
    step: int
    tier: str
    n: int
    seed: int
    score: float | None


def read_quality(run_dir: Path) -> dict[tuple[int, str], tuple[str, float | None]]:
    """``(snapshot, class) -> (tier, quality)`` from ``RUN/quality.csv``.

    Raises:
        BlendaugError: quality.csv is missing (run ``gan score`` first). DataError: a bad row.
    """
    path = Path(run_dir) / "quality.csv"
    if not path.is_file():
        raise BlendaugError(f"{path}: not found; run `blendaug gan score {run_dir} --real CROPS` first")
    table = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"snapshot", "class", "tier"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            if row["tier"] not in ALL_TIERS:
                raise DataError(f"{where(path, line)}: tier {row['tier']!r} is not one of {', '.join(ALL_TIERS)}")
            try:
                q = float(row["quality"]) if row.get("quality") not in (None, "") else None
                table[(int(row["snapshot"]), row["class"])] = (row["tier"], None if q is None or math.isnan(q) else q)
            except ValueError as e:
                raise DataError(f"{where(path, line)}: bad snapshot or quality ({e})") from e
    return table


def class_rows(quality: dict, steps: Sequence[int], name: str) -> dict[int, tuple[str, float | None]]:
    """A class's rows by snapshot: its own, else the ``all`` rows."""
    own = {e: quality[(e, name)] for e in steps if (e, name) in quality}
    return own or {e: quality[(e, ALL)] for e in steps if (e, ALL) in quality}


@dataclass(frozen=True)
class TierAvailability:
    """Which snapshots (steps) each class has per tier, from ``quality.csv``."""

    by_tier: dict[str, dict[str, list[int]]]
    classes: list[str]

    def missing(self, tier: str) -> list[str]:
        """Classes without a usable snapshot of ``tier`` (``mixed``: of any of high, mid, low)."""
        wanted = TIERS if tier == "mixed" else (tier,)
        return [c for c in self.classes if not any(self.by_tier.get(t, {}).get(c) for t in wanted)]

    def usable(self, tier: str) -> bool:
        return not self.missing(tier)

    def message(self, tier: str) -> str:
        """One line: which classes lack ``tier`` and what they have instead."""
        missing = self.missing(tier)
        if not missing:
            return f"tier {tier}: every class has a usable snapshot"
        have = "; ".join(f"{c}: " + (", ".join(f"{t} {self.by_tier[t][c]}" for t in ALL_TIERS
                                               if self.by_tier.get(t, {}).get(c)) or "no rows")
                         for c in missing)  # fmt: skip
        return f"no usable snapshot of tier {tier} for class(es) {', '.join(missing)} (has: {have})"


def tier_availability(run_dir: Path) -> TierAvailability:
    """The tiers of a scored run (any family), per class."""
    from blendaug.gan.families import list_snapshots

    classes = list(read_run_info(run_dir)["classes"])
    quality = read_quality(run_dir)
    steps = [s.step for s in list_snapshots(run_dir)]
    by_tier: dict[str, dict[str, list[int]]] = {t: {} for t in ALL_TIERS}
    for name in classes:
        for e, (t, _) in sorted(class_rows(quality, steps, name).items()):
            by_tier[t].setdefault(name, []).append(e)
    return TierAvailability(by_tier, classes)


def split_evenly(n: int, k: int) -> list[int]:
    """``n`` items over ``k`` bins, the first ``n % k`` bins one larger: split_evenly(7, 3) == [3, 2, 2]."""
    return [n // k + (i < n % k) for i in range(k)]


def tier_shares(n: int, tier: str, available: Sequence[str]) -> dict[str, int]:
    """Crops per tier: all to ``tier``, or for ``mixed`` equal shares of the tiers in ``available``."""
    if tier != "mixed":
        return {tier: n}
    tiers = [t for t in TIERS if t in available]
    return dict(zip(tiers, split_evenly(n, len(tiers)), strict=True)) if tiers else {}


def block_seed(seed: int, class_index: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, class_index, step]).generate_state(1)[0] % (2**31))


def _best(rows: dict[int, tuple[str, float | None]]) -> int:
    """The snapshot with the highest quality (a missing quality ranks last; ties: the later step)."""
    return max(rows, key=lambda e: (rows[e][1] is not None, rows[e][1] or 0.0, e))


def plan_draws(
    quality: dict,
    steps: Sequence[int],
    classes: Sequence[str],
    wanted: Sequence[str],
    n: int,
    tier: str,
    seed: int,
    allow_unusable: bool = False,
) -> list[Draw]:
    """Which crops to draw: the pure core of :func:`sample_run` (see the module doc for the rule)."""
    draws = []
    for name in wanted:
        rows = class_rows(quality, steps, name)
        by_tier = {t: sorted(e for e, (rt, _) in rows.items() if rt == t) for t in TIERS}
        shares = tier_shares(n, tier, [t for t in TIERS if by_tier[t]])
        if not by_tier.get(tier, [None]) or not shares:
            if allow_unusable and rows:
                e = _best(rows)
                draws.append(Draw(name, e, "unusable", n, block_seed(seed, classes.index(name), e), rows[e][1]))
                continue
            have = ", ".join(f"{e}: {rows[e][0]}" for e in sorted(rows)) or "no rows"
            raise UnusableTierError(f"quality.csv: no usable snapshot of tier {tier!r} for class {name!r} ({have})")
        for t, count in shares.items():
            for step, k in zip(by_tier[t], split_evenly(count, len(by_tier[t])), strict=True):
                if k:
                    draws.append(Draw(name, step, t, k, block_seed(seed, classes.index(name), step), rows[step][1]))
    return draws


def write_samples(out: Path, blocks: list[tuple[Draw, np.ndarray]], arch: str, overwrite: bool = False) -> Path:
    """Write ``OUT/<class>/<id>.png`` and ``index.csv`` atomically; ids run over the whole folder."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        k = 0
        for draw, images in blocks:
            for image in images:
                rel = f"{draw.class_name}/{k:06d}.png"
                save_image(tmp / rel, image)
                score = "" if draw.score is None else f"{draw.score:.6g}"
                writer.writerow([rel, draw.class_name, arch, draw.step, draw.tier, draw.seed, score])
                k += 1
        (tmp / "index.csv").write_text(buf.getvalue(), encoding="utf-8")
    return Path(out)


def sample_run(
    run_dir: Path,
    out: Path,
    n: int,
    tier: str = "high",
    class_name: str | None = None,
    seed: int = 0,
    device: str = "cpu",
    overwrite: bool = False,
    allow_unusable: bool = False,
) -> Path:
    """Draw ``n`` crops per class (or of ``class_name``) from the snapshots of ``tier``; returns ``out``."""
    from blendaug.gan.families import list_snapshots

    if tier not in SAMPLE_TIERS:
        raise ConfigError(f"--tier: {tier!r} is not one of {', '.join(SAMPLE_TIERS)}")
    if n < 1:
        raise ConfigError("--n must be at least 1")
    info = read_run_info(run_dir)
    classes = list(info["classes"])
    if class_name is not None and class_name not in classes:
        raise ConfigError(f"--class: {run_dir} has no class {class_name!r} (has: {', '.join(classes)})")
    snapshots = {s.step: s for s in list_snapshots(run_dir)}
    quality = read_quality(run_dir)
    wanted = [class_name] if class_name else classes
    draws = plan_draws(quality, sorted(snapshots), classes, wanted, n, tier, seed, allow_unusable)
    blocks = [(d, snapshots[d.step].sample(d.class_name, d.n, d.seed, device=device)) for d in draws]
    return write_samples(out, blocks, info["generator"], overwrite)
