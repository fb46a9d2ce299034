"""The scene file's schema: the keys it may have, what each accepts, and one message per mistake.

A scene is a small YAML file; image paths are relative to it. The plain form::

    scale: 0.0001            # value = stored x scale + offset (optional, default 1)
    fine:   {2001-05-24: tm0524.tif, 2001-08-12: tm0812.tif}
    coarse: {2001-05-24: m0524.tif, 2001-07-11: m0711.tif, 2001-08-12: m0812.tif}

Optional top-level keys:

* ``scale`` (default 1) and ``offset`` (default 0): ``value = stored x scale + offset``.
* ``unit``: ``reflectance`` (default), ``ndvi``, ``kelvin`` or ``other``. Only reflectance is
  checked for a plausible scale (a sample of pixels must mostly lie in [-0.1, 1.5]); float files
  whose values all look like temperatures in Kelvin only get a warning when ``unit`` is not
  written (scene files from before ``unit`` existed keep loading).
* ``nodata``: a stored value, or a list of them, that marks invalid pixels in addition to each
  file's own nodata (for files that declare none, e.g. raw ENVI).
* ``valid_range: [min, max]``: values (in the unit, after scale and offset) outside it are invalid.
* ``coarse_factor``: the coarse pixel size in fine pixels (e.g. 16 for 480 m / 30 m). Methods
  that work at the coarse scale (FSDAF, the coarse-consistency loss) need it; it is measured
  from the grids when the coarse images are on their own grid in the fine images' CRS, so write
  it only for coarse images already resampled onto the fine grid.
* ``resampling``: ``bilinear`` (default), ``nearest``, ``cubic`` or ``average``: how a coarse
  image on its own grid is resampled onto the fine grid.
* ``masks: {2001-05-24: cloud0524.tif}``: cloud/QA masks of the **fine** images, one-band rasters
  on the fine grid (a section's ``masks``: on the grid of that section's image of the date);
  ``mask_valid_values`` (default ``[0]``) lists the mask values that mean clear, so by default
  any non-zero mask value makes the pixel invalid.

The section form: ``fine`` and/or ``coarse`` may instead be a mapping with ``images:`` (the
date -> image mapping) and any of ``scale``, ``offset``, ``nodata``, ``valid_range``, ``masks``,
``mask_valid_values``, ``bands`` (and ``resampling`` for coarse), which override the top-level
values for that section only, so fine and coarse files may be encoded differently::

    fine:
      scale: 0.0001                       # Landsat stored x 10000
      masks: {2020-03-08: cfmask_068.tif}
      mask_valid_values: [0, 1]           # CFMask: clear, water
      images: {2020-03-08: l068.tif, 2020-03-17: l077.tif}
    coarse:
      scale: 1                            # MODIS already 0-1, on its own 500 m grid
      images:
        2020-03-08: m068.tif
        2020-03-17: {path: modis_stack.tif, bands: [10]}

An image is a path or ``{path: FILE, bands: [numbers]}`` (bands numbered from 1; ``bands`` in a
section applies to each of its images). Dates are ``YYYY-MM-DD`` (quoted or not) or
``YYYYMMDD``. Any raster GDAL opens can be used (GeoTIFF, ENVI with its ``.hdr``, ...).

Every validator writes its own message, naming the key (and the section and date) and the fix,
so a mistake reads the same wherever it is made; :func:`parse_scene_spec` reports the first one.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from est_stfm.errors import EstStfmError, condense
from est_stfm.scene.dates import dates_text, parse_date
from est_stfm.scene.options import OPTION_KEYS, OptionsSpec, SectionOptions, choice, path_text

KEYS = (*OPTION_KEYS[:2], "unit", "coarse_factor", "resampling", *OPTION_KEYS[2:], "fine", "coarse")
"""The top-level keys a scene file may have."""

SECTION_KEYS = ("images", *OPTION_KEYS, "bands", "resampling")
"""The keys of the section form of ``fine`` / ``coarse`` (``resampling``: coarse only)."""

Unit = Literal["reflectance", "ndvi", "kelvin", "other"]
"""What the decoded values are; only ``reflectance`` gets the plausibility check."""

UNITS: tuple[str, ...] = typing.get_args(Unit)
"""The values ``unit`` accepts."""


@dataclass(frozen=True)
class ImageFile:
    """One image of a section, resolved: the path as written, the absolute path, its bands."""

    name: str
    path: Path
    bands: tuple[int, ...] | None = None
    """Band numbers (from 1) to read; None: all."""


def _with_hints(keys: Iterable[str], allowed: Iterable[str]) -> str:
    """``'key' (did you mean 'other'?)`` for each unknown key, comma separated."""
    allowed = tuple(allowed)
    hints = []
    for key in keys:
        close = difflib.get_close_matches(key, allowed, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ", ".join(hints)


def _band_numbers(value: Any, where: str) -> tuple[int, ...]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    ok = bool(items) and all(
        isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in items
    )
    if not ok:
        raise ValueError(
            f"{where}bands must be band numbers counted from 1, e.g. [1, 2, 3], got {value!r}"
        )
    return tuple(items)


def _absolute(folder: Path, name: str) -> Path:
    return Path(os.path.abspath(folder / Path(name).expanduser()))


class ImageSpec(BaseModel):
    """One image entry: a path, or ``{path: FILE, bands: [numbers]}``.

    Validated with ``context={"where": "fine 2001-05-24"}`` so messages name the entry.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    bands: tuple[int, ...] | None = None
    """Band numbers (from 1); None: not written here. Declared first, so checked first."""
    path: str
    """The path as written (stripped), relative to the scene file."""

    @staticmethod
    def _where(info: ValidationInfo) -> str:
        context = info.context if isinstance(info.context, Mapping) else {}
        return str(context.get("where", "image"))

    @model_validator(mode="before")
    @classmethod
    def _path_or_mapping(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, Mapping):
            return {"path": value}
        if "path" not in value or any(k not in ("path", "bands") for k in value):
            raise ValueError(
                f"{cls._where(info)} must be a path or {{path: FILE, bands: [1, 2]}}, "
                f"got keys {', '.join(map(str, value))}"
            )
        return dict(value)

    @field_validator("path", mode="before")
    @classmethod
    def _usable_path(cls, value: Any, info: ValidationInfo) -> str:
        text = path_text(value)
        if text is None:
            raise ValueError(f"{cls._where(info)} must be an image path, got {value!r}")
        return text

    @field_validator("bands", mode="before")
    @classmethod
    def _band_list(cls, value: Any, info: ValidationInfo) -> tuple[int, ...]:
        return _band_numbers(value, f"{cls._where(info)}: ")


class SectionSpec(OptionsSpec):
    """The ``fine`` or ``coarse`` key: dates -> images, and options overriding the top level.

    Written either plainly (only the dates) or as a section with ``images:``; a subclass per
    section names it in messages and says which keys it allows.
    """

    KIND: ClassVar[str] = "section"
    WHERE: ClassVar[str] = "section: "
    ALLOWED: ClassVar[tuple[str, ...]] = SECTION_KEYS

    bands: tuple[int, ...] | None = None
    """Bands read from every image that names none itself."""
    images: dict[dt.date, ImageSpec]

    @model_validator(mode="before")
    @classmethod
    def _either_form(cls, value: Any) -> Any:
        kind = cls.KIND
        if isinstance(value, Mapping) and "images" in value:
            unknown = [str(k) for k in value if k not in cls.ALLOWED]
            if unknown:
                raise ValueError(
                    f"unknown key {_with_hints(unknown, cls.ALLOWED)} under {kind}: allowed "
                    f"are {', '.join(cls.ALLOWED)}"
                )
            return dict(value)
        if isinstance(value, Mapping):
            given = [str(k) for k in value if isinstance(k, str) and k in SECTION_KEYS]
            if given:
                raise ValueError(
                    f"'{kind}' has {', '.join(given)} but no 'images': put the dates under "
                    f"images:, e.g. {kind}: {{scale: 0.0001, images: {{2001-05-24: image.tif}}}}"
                )
        return {"images": value}

    @field_validator("bands", mode="before")
    @classmethod
    def _section_bands(cls, value: Any) -> tuple[int, ...]:
        return _band_numbers(value, cls.WHERE)

    @field_validator("images", mode="before")
    @classmethod
    def _dated_images(cls, value: Any) -> dict[dt.date, ImageSpec]:
        kind = cls.KIND
        example = f"{kind}: {{2001-05-24: image.tif}}"
        if value is None or (isinstance(value, Mapping) and not value):
            raise ValueError(f"'{kind}' is empty: list at least one image, e.g. {example}")
        if not isinstance(value, Mapping):
            raise ValueError(f"'{kind}' must map dates to image paths, e.g. {example}")
        images: dict[dt.date, ImageSpec] = {}
        for key, entry in value.items():
            try:
                day = parse_date(key)
            except ValueError:
                raise ValueError(
                    f"{kind} key {key!r} is not a date: write dates as YYYY-MM-DD or YYYYMMDD"
                ) from None
            if day in images:
                raise ValueError(f"{kind} date {day} appears twice (as {key!r}): keep one entry")
            images[day] = ImageSpec.model_validate(entry, context={"where": f"{kind} {day}"})
        return dict(sorted(images.items()))


class FineSpec(SectionSpec):
    """The ``fine`` key (no ``resampling``: the fine images define the grid)."""

    KIND: ClassVar[str] = "fine"
    WHERE: ClassVar[str] = "fine: "
    ALLOWED: ClassVar[tuple[str, ...]] = SECTION_KEYS[:-1]


class CoarseSpec(SectionSpec):
    """The ``coarse`` key."""

    KIND: ClassVar[str] = "coarse"
    WHERE: ClassVar[str] = "coarse: "


class SceneSpec(OptionsSpec):
    """A whole scene file, as written; :meth:`section_options` and :meth:`section_images`
    resolve what one section reads."""

    unit: Unit = "reflectance"
    coarse_factor: float | None = None
    """Coarse pixel size in fine pixels, when written."""
    fine: FineSpec
    coarse: CoarseSpec

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
            raise ValueError(
                f"it is {kind}: it needs the keys fine and coarse (and optional scale)"
            )
        unknown = [str(k) for k in data if k not in KEYS]
        if unknown:
            raise ValueError(
                f"unknown key {_with_hints(unknown, KEYS)}: allowed keys are {', '.join(KEYS)}"
            )
        for key in ("fine", "coarse"):
            if key not in data:
                raise ValueError(f"'{key}' is missing: add e.g. {key}: {{2001-05-24: image.tif}}")
        return dict(data)

    @field_validator("unit", mode="before")
    @classmethod
    def _known_unit(cls, value: Any) -> str:
        return choice(value, "", "unit", UNITS)

    @field_validator("coarse_factor", mode="before")
    @classmethod
    def _at_least_one(cls, value: Any) -> float | None:
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 1
        ):
            raise ValueError(
                "coarse_factor must be a number >= 1 (coarse pixel size in fine pixels), "
                f"got {value!r}"
            )
        return float(value)

    @field_validator("fine", mode="before")
    @classmethod
    def _masks_once(cls, value: Any, info: ValidationInfo) -> Any:
        section_masks = isinstance(value, Mapping) and "images" in value and "masks" in value
        # an unknown key under fine is named first, by FineSpec
        if section_masks and info.data.get("masks") and set(value) <= set(FineSpec.ALLOWED):
            raise ValueError("masks given both at the top level and under fine: keep one of them")
        return value

    @model_validator(mode="after")
    def _masks_have_images(self) -> SceneSpec:
        for kind in ("fine", "coarse"):
            images = self._section(kind).images
            stray = [d for d in self._masks(kind) if d not in images]
            if stray:
                raise ValueError(
                    f"mask for {stray[0]} but no {kind} image on that date ({kind} dates: "
                    f"{dates_text(images)}): fix the date or remove the mask"
                )
        return self

    def _section(self, kind: str) -> SectionSpec:
        return self.fine if kind == "fine" else self.coarse

    def _masks(self, kind: str) -> dict[dt.date, str]:
        """A section's masks: its own, else (fine only) the top-level ones."""
        section = self._section(kind)
        if "masks" in section.model_fields_set:
            return section.masks
        return self.masks if kind == "fine" else {}

    @property
    def unit_given(self) -> bool:
        """Whether the file writes ``unit`` (older files do not, and only get warnings)."""
        return "unit" in self.model_fields_set

    def section_options(self, kind: str, folder: Path) -> SectionOptions:
        """The settings of the ``fine`` or ``coarse`` section: its own keys, else the top-level
        ones; mask paths made absolute against ``folder`` (the scene file's)."""
        section = self._section(kind)
        names = ("scale", "offset", "nodata", "valid_range", "mask_valid_values", "resampling")
        values = {n: getattr(section if n in section.model_fields_set else self, n) for n in names}
        masks = {day: _absolute(folder, name) for day, name in self._masks(kind).items()}
        return SectionOptions(**values, masks=masks)

    def section_images(self, kind: str, folder: Path) -> dict[dt.date, ImageFile]:
        """Date -> image of the ``fine`` or ``coarse`` section, sorted, paths made absolute."""
        section = self._section(kind)
        return {
            day: ImageFile(
                name=image.path,
                path=_absolute(folder, image.path),
                bands=image.bands if image.bands is not None else section.bands,
            )
            for day, image in section.images.items()
        }


def parse_scene_spec(path: Path, data: Any) -> SceneSpec:
    """Validate the parsed YAML ``data`` of the scene file ``path``; the first problem becomes a
    one-line :class:`EstStfmError` naming the file."""
    try:
        return SceneSpec.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "value_error":
            problem = str(first["msg"]).removeprefix("Value error, ")
        else:
            problem = condense(exc, first_only=True)
        raise EstStfmError(f"scene file {path}: {problem}") from None
