"""Stored values <-> physical values: the one place the file encoding is defined.

Files store ``(value - offset) / scale`` in their own dtype; :func:`decode` turns stored values
into float32 values plus a valid mask, :func:`encode` turns values back into the dtype (rounded,
clipped, nodata kept for invalid pixels only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from est_stfm.errors import EstStfmError


def check_scale(scale: float) -> float:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise EstStfmError(
            f"scale must be a positive number (stored value x scale = reflectance), got {scale!r}"
        )
    return value


def check_offset(offset: float) -> float:
    try:
        value = float(offset)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise EstStfmError(
            f"offset must be a finite number (stored value x scale + offset), got {offset!r}"
        )
    return value


def decode(
    raw: np.ndarray,
    scale: float = 1.0,
    offset: float = 0.0,
    nodata: Sequence[float] = (),
    valid_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Stored values ``(bands, H, W)`` -> ``(values, valid)``: ``stored * scale + offset``.

    A pixel is invalid where any band equals one of ``nodata`` (stored values; NaN matches NaN),
    is not finite, or lies outside ``valid_range`` (decoded units, inclusive). Invalid pixels are
    0.0 in ``values``.
    """
    invalid = np.zeros(raw.shape[1:], dtype=bool)
    for value in nodata:
        if value is None or math.isnan(value):
            continue  # NaN is caught by the finiteness test below
        invalid |= np.any(raw == value, axis=0)
    values = raw.astype(np.float32)
    if scale != 1.0:
        values *= np.float32(scale)
    if offset != 0.0:
        values += np.float32(offset)
    invalid |= ~np.all(np.isfinite(values), axis=0)
    if valid_range is not None:
        low, high = valid_range
        with np.errstate(invalid="ignore"):
            invalid |= np.any((values < low) | (values > high), axis=0)
    values[:, invalid] = 0.0
    return values, ~invalid


def nodata_values(file_nodata: float | None, extra: Sequence[float]) -> tuple[float, ...]:
    """The file's nodata (if any) followed by the extra nodata values."""
    values = [] if file_nodata is None else [float(file_nodata)]
    return tuple(values + [float(v) for v in extra])


def default_nodata(dtype: np.dtype) -> float:
    """The nodata used when the grid has none but some pixels are invalid (never 0)."""
    if np.issubdtype(dtype, np.floating):
        return math.nan
    info = np.iinfo(dtype)
    if info.min < 0:
        return float(max(-9999, info.min))
    return float(info.max)


def representable(value: float, dtype: np.dtype) -> bool:
    """Whether ``value`` is exactly storable in ``dtype`` (a valid nodata for it)."""
    if np.issubdtype(dtype, np.floating):
        return math.isnan(value) or abs(value) <= np.finfo(dtype).max
    info = np.iinfo(dtype)
    return float(value).is_integer() and info.min <= value <= info.max


def encode(
    reflectance: np.ndarray,
    invalid: np.ndarray,
    scale: float,
    dtype: np.dtype,
    nodata: float | None,
    offset: float = 0.0,
) -> np.ndarray:
    """``(reflectance - offset) / scale`` in ``dtype``: rounded and clipped for integers, nodata
    avoided."""
    values = reflectance.astype(np.float64)
    if offset != 0.0:
        values = values - offset
    values = values / scale
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values), info.min, info.max)
        encoded = values.astype(dtype)
        if nodata is not None:
            hit = (encoded == nodata) & ~invalid
            step = 1 if nodata <= 0 else -1  # towards zero, so always inside the range
            encoded[hit] = np.asarray(nodata + step).astype(dtype)
    else:
        big = np.finfo(dtype).max
        encoded = np.clip(values, -big, big).astype(dtype)
        if nodata is not None and not math.isnan(nodata):
            hit = (encoded == nodata) & ~invalid
            towards = np.zeros((), dtype=dtype) if nodata != 0 else np.ones((), dtype=dtype)
            encoded[hit] = np.nextafter(np.asarray(nodata, dtype=dtype), towards)
    if nodata is not None:
        encoded[:, invalid] = np.asarray(nodata).astype(dtype)
    return encoded
