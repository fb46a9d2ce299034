"""User-facing errors.

Every mistake a user can make (a missing file, a date not in the scene, grids that do not match)
raises :class:`EstStfmError` with a one-line message that names the problem and the fix. The CLI
prints that line and exits with status 2; it never shows a traceback for these.
"""

from __future__ import annotations

from typing import Any


class EstStfmError(Exception):
    """A user error with a one-line, actionable message."""


def format_error(exc: BaseException) -> str:
    """The one way a user error is shown, on the command line and in benchmark rows:
    ``error: <message>`` on a single line."""
    return "error: " + " ".join(str(exc).split())


def condense(exc: Any, first_only: bool = False) -> str:
    """A pydantic ``ValidationError`` as one line: ``field: message; field: message`` (or the
    first problem and how many more, with ``first_only``)."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = " ".join(str(err["msg"]).removeprefix("Value error, ").split())
        parts.append(f"{loc}: {msg}" if loc else msg)
    if first_only and len(parts) > 1:
        return f"{parts[0]} (and {len(parts) - 1} more problem(s))"
    return "; ".join(parts)
