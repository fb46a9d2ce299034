"""JSON that every strict parser reads: an undefined number (NaN, +-inf) is written as ``null``.

Python's ``json`` writes ``NaN`` and ``Infinity``, which are not JSON; a metric that is undefined
(the CC of a constant band, the PSNR of a perfect one) must come out as ``null`` instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from est_stfm.io.atomic import atomic_write_text


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float (nested in dicts, lists, tuples, arrays) as None
    and numpy scalars as Python numbers."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def json_text(value: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """``value`` as indented JSON text ending in a newline; non-finite numbers become ``null``.
    ``default`` converts objects json cannot (e.g. ``str`` for dates)."""
    return json.dumps(finite_or_none(value), indent=2, allow_nan=False, default=default) + "\n"


def write_json(
    path: str | Path, value: Any, *, default: Callable[[Any], Any] | None = None
) -> None:
    """Write :func:`json_text` of ``value`` to ``path`` atomically."""
    atomic_write_text(path, json_text(value, default=default))
