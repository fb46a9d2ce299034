"""How many threads the classic methods use for their heaviest loops (FSDAF's similar-pixel
filter). Like ``torch.set_num_threads``: one setting per process, the available cores unless
set (a process that runs base runs beside others sets 1)."""

from __future__ import annotations

import os

_SETTING: list[int] = []


def available_cores() -> int:
    """The cores this process may run on (its affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_threads(n: int | None) -> None:
    """Use ``n`` threads from now on in this process (None: the available cores again)."""
    _SETTING[:] = [] if n is None else [max(1, int(n))]


def get_threads() -> int:
    """Threads the classic methods use now: :func:`set_threads`'s, else the available cores."""
    return _SETTING[0] if _SETTING else available_cores()
