"""Atomic file replacement: write to a temporary sibling, then rename over the target.

A reader (or a crash) sees either the old file or the complete new one, never half of one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from est_stfm.errors import EstStfmError


@contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    The temporary name is fresh (not ``mkstemp``, whose 0600 mode would outlive the rename) and
    is removed if the body raises. A ``path`` that is a directory, or whose folder cannot be
    made, is a one-line :class:`EstStfmError` before anything is written.
    """
    path = Path(path)
    if path.is_dir():
        raise EstStfmError(f"cannot write {path}: it is a directory; give a file path inside it")
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
