"""Atomic writes: an output file or folder appears complete or not at all.

Everything is written to a temporary sibling (same filesystem, so ``os.replace`` is a rename) and
moved into place at the end. A crash or kill leaves at most a hidden ``.tmp-*`` sibling behind,
which the next run of the same command removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from blendaug.data.errors import BlendaugError

_TMP_PREFIX = ".tmp-"


def _tmp_sibling_prefix(path: Path) -> str:
    return f"{_TMP_PREFIX}{path.name}-"


def clean_stale_tmp(path: Path) -> None:
    """Remove temporary siblings of ``path`` that an earlier, killed run left behind."""
    parent = path.parent
    if not parent.is_dir():
        return
    prefix = _tmp_sibling_prefix(path)
    for stale in parent.iterdir():
        if stale.name.startswith(prefix):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``out`` when the block finishes without error.

    Args:
        out: the final folder.
        overwrite: replace an existing ``out``; otherwise an existing, non-empty ``out`` is an error.
    """
    out = Path(out).absolute()
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise BlendaugError(f"{out}: output already exists (pass --overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(out)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_sibling_prefix(out), dir=out.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700; the final folder gets the usual mode
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        # Move the old folder aside first so the swap is two renames, never a half-deleted tree.
        old = Path(tempfile.mkdtemp(prefix=_tmp_sibling_prefix(out), dir=out.parent))
        os.replace(out, old / "old")
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_sibling_prefix(path), dir=path.parent)
    try:
        # mkstemp makes the file 0600; give it the mode a plain open() would (0666 minus the umask).
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask_from_proc() -> int | None:
    """The current umask from ``/proc/self/status`` (Linux >= 4.7), or None where that is not available."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _umask_at_import() -> int:
    # The only portable way to read the umask is to set it and set it back. Doing that on every
    # write raced with other threads creating files (for a moment the process umask was 0, so their
    # files came out world-writable); once, at import, nothing else is writing yet.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_IMPORT_UMASK = _umask_from_proc()
if _IMPORT_UMASK is None:
    _IMPORT_UMASK = _umask_at_import()


def _umask() -> int:
    """The process umask, read without changing it (later changes are seen where /proc is)."""
    mask = _umask_from_proc()
    return _IMPORT_UMASK if mask is None else mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (free on disk), falling back to a copy across filesystems."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
