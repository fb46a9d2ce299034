"""The decoding and masking options of a scene file: ``scale``, ``offset``, ``nodata``,
``valid_range``, ``mask_valid_values``, ``resampling`` and ``masks``, allowed at the top level and
in a section. :class:`OptionsSpec` validates them as written; :class:`SectionOptions` is what one
section's images are then read with.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from est_stfm.io.resample import RESAMPLING
from est_stfm.scene.dates import parse_date

OPTION_KEYS = ("scale", "offset", "nodata", "valid_range", "masks", "mask_valid_values")
"""Keys allowed at the top level and in a section (``fine:`` / ``coarse:``)."""


@dataclass(frozen=True)
class SectionOptions:
    """How the images of one section (fine or coarse) are decoded and masked."""

    scale: float = 1.0
    offset: float = 0.0
    nodata: tuple[float, ...] = ()
    """Stored values that mark invalid pixels, besides each file's own nodata."""
    valid_range: tuple[float, float] | None = None
    """``(min, max)`` in the unit; values outside are invalid."""
    masks: Mapping[dt.date, Path] = field(default_factory=dict)
    """Date -> absolute path of a one-band mask on the grid of that date's image."""
    mask_valid_values: tuple[float, ...] = (0.0,)
    """Mask values meaning clear; any other value makes the pixel invalid."""
    resampling: str = "bilinear"
    """How images on another grid are resampled onto the fine grid."""


def _number(value: Any) -> float:
    """A float from a YAML number or numeric string (PyYAML reads 1e-4 as a string); else NaN."""
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def _is_nan_text(value: Any) -> bool:
    return (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and value.strip().lower() in ("nan", ".nan")
    )


def _numbers(value: Any, allow_nan: bool) -> tuple[float, ...]:
    """A number or list of numbers as a tuple; empty when any item is not a finite number."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    out: list[float] = []
    for item in items:
        number = _number(item)
        if allow_nan and _is_nan_text(item):
            number = math.nan
        elif not math.isfinite(number):
            return ()
        out.append(number)
    return tuple(out)


def choice(value: Any, where: str, key: str, allowed: Iterable[str]) -> str:
    """``value`` lowercased when it is one of ``allowed``; else a message naming ``where`` and
    ``key`` and the closest allowed value."""
    allowed = tuple(allowed)
    text = str(value).strip().lower() if isinstance(value, str) else ""
    if text not in allowed:
        close = difflib.get_close_matches(text, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{where}{key} {value!r} is not one of {', '.join(allowed)}{hint}")
    return text


def path_text(value: Any) -> str | None:
    """The stripped path text, or None when ``value`` is no usable path."""
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        return None
    return str(value).strip()


class OptionsSpec(BaseModel):
    """The encoding and masking keys, valid at the top level and in a section."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    WHERE: ClassVar[str] = ""
    """What messages put before a key's name: nothing at the top level, ``fine: `` in a section."""

    scale: float = 1.0
    offset: float = 0.0
    nodata: tuple[float, ...] = ()
    valid_range: tuple[float, float] | None = None
    mask_valid_values: tuple[float, ...] = (0.0,)
    resampling: str = "bilinear"
    masks: dict[dt.date, str] = Field(default_factory=dict)
    """Date -> mask path as written."""

    @field_validator("scale", mode="before")
    @classmethod
    def _positive_scale(cls, value: Any) -> float:
        number = _number(value)
        if not math.isfinite(number) or number <= 0:
            raise ValueError(
                f"{cls.WHERE}scale must be a positive number (stored value x scale = "
                f"reflectance, e.g. 0.0001 for int16 x 10000), got {value!r}"
            )
        return number

    @field_validator("offset", mode="before")
    @classmethod
    def _finite_offset(cls, value: Any) -> float:
        number = _number(value)
        if not math.isfinite(number):
            raise ValueError(
                f"{cls.WHERE}offset must be a number (value = stored x scale + offset), "
                f"got {value!r}"
            )
        return number

    @field_validator("nodata", mode="before")
    @classmethod
    def _nodata_values(cls, value: Any) -> tuple[float, ...]:
        numbers = _numbers(value, allow_nan=True)
        if not numbers:
            raise ValueError(
                f"{cls.WHERE}nodata must be a number or a list of numbers, e.g. "
                "nodata: -9999 or nodata: [0, 65535]"
            )
        return numbers

    @field_validator("valid_range", mode="before")
    @classmethod
    def _min_below_max(cls, value: Any) -> tuple[float, float]:
        numbers = [_number(v) for v in value] if isinstance(value, (list, tuple)) else []
        if (
            len(numbers) != 2
            or not all(math.isfinite(n) for n in numbers)
            or numbers[0] >= numbers[1]
        ):
            raise ValueError(
                f"{cls.WHERE}valid_range must be [min, max] with min < max, in the unit after "
                f"scale and offset (e.g. [0, 1] for reflectance), got {value!r}"
            )
        return numbers[0], numbers[1]

    @field_validator("mask_valid_values", mode="before")
    @classmethod
    def _clear_values(cls, value: Any) -> tuple[float, ...]:
        numbers = _numbers(value, allow_nan=False)
        if not numbers:
            raise ValueError(
                f"{cls.WHERE}mask_valid_values must be a number or a list of numbers, e.g. [0, 1]"
            )
        return numbers

    @field_validator("resampling", mode="before")
    @classmethod
    def _known_resampling(cls, value: Any) -> str:
        return choice(value, cls.WHERE, "resampling", RESAMPLING)

    @field_validator("masks", mode="before")
    @classmethod
    def _dated_masks(cls, value: Any) -> dict[dt.date, str]:
        where = cls.WHERE
        if not isinstance(value, Mapping) or not value:
            raise ValueError(
                f"{where}masks must map dates to mask files, e.g. "
                "masks: {2001-05-24: cloud0524.tif}"
            )
        masks: dict[dt.date, str] = {}
        for key, name in value.items():
            try:
                day = parse_date(key)
            except ValueError:
                raise ValueError(
                    f"{where}mask key {key!r} is not a date: write dates as YYYY-MM-DD"
                ) from None
            if day in masks:
                raise ValueError(f"{where}mask date {day} appears twice: keep one entry")
            text = path_text(name)
            if text is None:
                raise ValueError(f"{where}mask for {day} must be a file path, got {name!r}")
            masks[day] = text
        return dict(sorted(masks.items()))
