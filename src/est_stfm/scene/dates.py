"""Dates as scene files and users write them: ``YYYY-MM-DD``, ``YYYYMMDD`` or ``datetime.date``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from est_stfm.errors import EstStfmError

DateLike = dt.date | str | int
"""What the API accepts wherever it asks for a date."""


def parse_date(value: Any) -> dt.date:
    """A date from ``datetime.date``, ``'YYYY-MM-DD'``, ``'YYYYMMDD'`` or the int ``YYYYMMDD``.

    Raises ``ValueError`` for anything else (callers turn it into a message).
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date")
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    match = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", text)
    if match is None:
        raise ValueError(f"{value!r} is not a date")
    return dt.date(*(int(g) for g in match.groups()))


def user_date(value: Any) -> dt.date:
    """:func:`parse_date` for values a user typed: a one-line error instead of ``ValueError``."""
    try:
        return parse_date(value)
    except ValueError:
        raise EstStfmError(f"{value!r} is not a date: write it as YYYY-MM-DD") from None


def dates_text(dates: Iterable[dt.date]) -> str:
    """Sorted ISO dates separated by commas (``none`` when empty), for messages that list them."""
    items = sorted(dates)
    return ", ".join(d.isoformat() for d in items) if items else "none"
