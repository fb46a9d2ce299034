"""User-facing errors.

Every mistake a user can make (a missing file, a date not in the scene, grids that do not match)
raises :class:`EstStfmError` with a one-line message that names the problem and the fix. The CLI
prints that line and exits with status 2; it never shows a traceback for these.
"""

from __future__ import annotations


class EstStfmError(Exception):
    """A user error with a one-line, actionable message."""
