"""Atomic file replacement: write to a temporary sibling, then rename over the target.

A reader (or a crash) sees either the old file or the complete new one, never half of one. The
checks of a destination (:func:`check_output_file`, :func:`check_output_folder`) let a command
refuse a bad one before it does any work.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from est_stfm.errors import EstStfmError


def file_in_the_way(path: Path) -> Path | None:
    """The nearest of ``path``'s existing ancestors when it is not a folder (so no folder can be
    made at ``path``), else None."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def check_output_folder(path: str | Path, what: str) -> Path:
    """``path`` as a folder to write into, checked before any work starts: neither it nor an
    ancestor may be a file (one-line :class:`EstStfmError`, ``what`` names it, e.g. ``--out``).
    A missing folder is fine (it is made when written to)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EstStfmError(f"{what} {path} is a file: give a folder (it is made if missing)")
    blocker = file_in_the_way(path)
    if blocker is not None:
        raise EstStfmError(f"{what} {path}: {blocker} is a file, not a folder; choose another path")
    return path


def check_output_file(path: str | Path) -> Path:
    """``path`` as a file to write, checked (also before any work starts): neither a folder nor
    under a file (one-line :class:`EstStfmError`). An existing file is fine (it is replaced)."""
    path = Path(path)
    if path.is_dir():
        raise EstStfmError(f"cannot write {path}: it is a directory; give a file path inside it")
    blocker = file_in_the_way(path)
    if blocker is not None:
        raise EstStfmError(
            f"cannot write {path}: {blocker} is a file, not a folder; choose another path"
        )
    return path


@contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    The temporary name is fresh (not ``mkstemp``, whose 0600 mode would outlive the rename) and
    is removed if the body raises. A ``path`` that is a directory, under a file, or whose folder
    cannot be made, is a one-line :class:`EstStfmError` before anything is written.
    """
    path = check_output_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EstStfmError(
            f"cannot create the folder of {path} ({exc.strerror or exc}): choose a writable path"
        ) from None
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
