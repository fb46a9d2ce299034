"""The scene file: which fine and coarse image belongs to which date, and how to read it.

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

:func:`load_scene` checks everything up front and reports each problem as a one-line
:class:`~est_stfm.errors.EstStfmError` naming the file and the fix: every fine image must lie on
the grid of the first fine image (size, transform, CRS) and every image must have the same
number of bands; a coarse image on another grid (pixel size, extent or CRS) must overlap the fine
grid and is then resampled onto it on the fly, window by window (same-grid images are read as
they are); a file whose pixels are all nodata is an error, and so is a reflectance scale that
puts most sampled values far outside [-0.1, 1.5]. Fine images without georeferencing are
accepted with a :class:`~est_stfm.io.raster.GeoreferencingWarning`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from est_stfm.errors import EstStfmError
from est_stfm.io.atomic import atomic_write_text
from est_stfm.io.raster import (
    GeoreferencingWarning,
    Grid,
    WindowLike,
    has_valid_pixel,
    read_band,
    read_grid,
    read_raster,
    sample_values,
)
from est_stfm.io.resample import RESAMPLING, Placement, placement, read_placed, warn_assumed

OPTION_KEYS = ("scale", "offset", "nodata", "valid_range", "masks", "mask_valid_values")
"""Keys allowed at the top level and in a section (``fine:`` / ``coarse:``)."""

KEYS = (*OPTION_KEYS[:2], "unit", "coarse_factor", "resampling", *OPTION_KEYS[2:], "fine", "coarse")
"""The top-level keys a scene file may have."""

SECTION_KEYS = ("images", *OPTION_KEYS, "bands", "resampling")
"""The keys of the section form of ``fine`` / ``coarse`` (``resampling``: coarse only)."""

UNITS = ("reflectance", "ndvi", "kelvin", "other")
"""What the decoded values are; only ``reflectance`` gets the plausibility check."""

REFLECTANCE_RANGE = (-0.1, 1.5)
"""Where nearly every reflectance value lies."""

MAX_OUTSIDE = 0.1
"""The fraction of sampled values outside :data:`REFLECTANCE_RANGE` that means a wrong scale."""

KELVIN_LIKE = (150.0, 400.0)
"""Float values all inside this range look like temperatures in Kelvin, not reflectance."""

DateLike = dt.date | str | int


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


def _date_text(dates: Iterable[dt.date]) -> str:
    items = sorted(dates)
    return ", ".join(d.isoformat() for d in items) if items else "none"


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


@dataclass(frozen=True)
class ImageSource:
    """How one image file is read: which of its bands, and where it lies on the fine grid."""

    path: Path
    bands: tuple[int, ...] | None = None
    """Band numbers (from 1) to read; None: all."""
    placement: Placement | None = None
    """None when the file is on the fine grid; else how it is resampled onto it."""


@dataclass
class Scene:
    """A loaded, validated scene: absolute image paths per date, encodings and the common grid.

    ``scale`` and ``offset`` are the fine images' encoding (predictions are written with it);
    :meth:`options` gives each section's full settings.
    """

    path: Path
    scale: float
    fine: dict[dt.date, Path]
    coarse: dict[dt.date, Path]
    grid: Grid
    offset: float = 0.0
    unit: str = "reflectance"
    fine_options: SectionOptions | None = None
    coarse_options: SectionOptions | None = None
    sources: dict[tuple[str, dt.date], ImageSource] = field(default_factory=dict)
    """``(kind, date) -> ImageSource`` for images read with a band choice or resampled."""
    coarse_factor_given: float | None = None
    """The scene file's ``coarse_factor``, if written."""

    def __post_init__(self) -> None:
        if self.fine_options is None:
            self.fine_options = SectionOptions(scale=self.scale, offset=self.offset)
        if self.coarse_options is None:
            self.coarse_options = SectionOptions(scale=self.scale, offset=self.offset)

    @property
    def bands(self) -> int:
        """Number of bands of every image."""
        return self.grid.count

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of every image, in fine pixels."""
        return self.grid.shape

    @property
    def dates(self) -> list[dt.date]:
        """Every date with a fine or a coarse image, sorted."""
        return sorted(set(self.fine) | set(self.coarse))

    @property
    def coarse_factor(self) -> float | None:
        """Coarse pixel size in fine pixels: the scene file's ``coarse_factor``, else measured
        from the first coarse image on its own grid in the same CRS; None when unknown."""
        if self.coarse_factor_given is not None:
            return self.coarse_factor_given
        for (kind, _), source in sorted(self.sources.items(), key=lambda kv: kv[0][1]):
            place = source.placement
            if kind == "coarse" and place is not None and place.src_crs == place.dst_crs:
                src, dst = place.src_transform, place.dst_transform
                return float(math.sqrt(abs(src.determinant) / abs(dst.determinant)))
        return None

    def options(self, kind: str) -> SectionOptions:
        """The settings of the ``fine`` or ``coarse`` section."""
        opts = self.fine_options if kind == "fine" else self.coarse_options
        assert opts is not None  # set in __post_init__
        return opts

    def _find(self, kind: str, date: DateLike) -> tuple[dt.date, Path]:
        images = self.fine if kind == "fine" else self.coarse
        try:
            day = parse_date(date)
        except ValueError:
            raise EstStfmError(f"{date!r} is not a date: write it as YYYY-MM-DD") from None
        if day not in images:
            raise EstStfmError(
                f"no {kind} image for {day} in {self.path} ({kind} dates: "
                f"{_date_text(images)}): add it to the scene file or pick one of those dates"
            )
        return day, images[day]

    def _lookup(self, kind: str, date: DateLike) -> Path:
        return self._find(kind, date)[1]

    def _read(
        self, kind: str, date: DateLike, window: WindowLike | None
    ) -> tuple[np.ndarray, np.ndarray]:
        day, path = self._find(kind, date)
        opts = self.options(kind)
        source = self.sources.get((kind, day))
        if source is not None and source.path != path:
            source = None  # the path was replaced after loading: read it as it is
        bands = source.bands if source else None
        place = source.placement if source else None
        if place is None:
            image, valid = read_raster(
                path,
                opts.scale,
                window,
                offset=opts.offset,
                bands=bands,
                nodata=opts.nodata,
                valid_range=opts.valid_range,
            )
        else:
            image, valid = read_placed(
                path,
                self.grid,
                place,
                window,
                resampling=opts.resampling,
                scale=opts.scale,
                offset=opts.offset,
                bands=bands,
                nodata=opts.nodata,
                valid_range=opts.valid_range,
            )
        mask = opts.masks.get(day)
        if mask is not None:
            clear = self._mask_clear(mask, place, window, opts.mask_valid_values)
            image[:, ~clear] = 0.0
            valid &= clear
        return image, valid

    def _mask_clear(
        self,
        mask: Path,
        place: Placement | None,
        window: WindowLike | None,
        clear_values: tuple[float, ...],
    ) -> np.ndarray:
        """Where the mask ``mask`` says clear (on the fine grid, in ``window``)."""
        if place is None:
            values = read_band(mask, 1, window)
        else:
            values = read_placed(
                mask, self.grid, place, window, resampling="nearest", bands=[1], raw=True
            )[0][0]
        return np.isin(values, np.asarray(clear_values))

    def read_fine(
        self, date: DateLike, window: WindowLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(values, valid)`` of the fine image of ``date`` (nodata, range and mask applied)."""
        return self._read("fine", date, window)

    def read_coarse(
        self, date: DateLike, window: WindowLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(values, valid)`` of the coarse image of ``date``, on the fine grid.

        A coarse image on its own grid is resampled onto the fine grid for ``window`` only.
        """
        return self._read("coarse", date, window)

    def require_coarse(self, date: DateLike) -> Path:
        """The coarse image of ``date``; a clear error listing the coarse dates if there is none."""
        return self._lookup("coarse", date)

    def pairs_dates(self) -> list[dt.date]:
        """Sorted dates that have both a fine and a coarse image (possible references)."""
        return sorted(set(self.fine) & set(self.coarse))

    def nearest_reference(self, date: DateLike, exclude: Iterable[DateLike] = ()) -> dt.date:
        """The date with a fine and a coarse image nearest to ``date`` (ties: the earlier one).

        ``date`` itself and the dates in ``exclude`` are never chosen.
        """
        try:
            day = parse_date(date)
            skip = {parse_date(d) for d in exclude} | {day}
        except ValueError as exc:
            raise EstStfmError(f"{exc}: write dates as YYYY-MM-DD") from None
        candidates = [d for d in self.pairs_dates() if d not in skip]
        if not candidates:
            raise EstStfmError(
                f"no reference for {day} in {self.path}: it needs another date with both a fine "
                f"and a coarse image (dates with both: {_date_text(self.pairs_dates())})"
            )
        return min(candidates, key=lambda d: (abs((d - day).days), d))


def _fail(scene_path: Path, problem: str) -> EstStfmError:
    return EstStfmError(f"scene file {scene_path}: {problem}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that rejects duplicate keys (YAML would silently keep the last one)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue  # the default constructor reports unhashable keys
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (also on line {seen[key]})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EstStfmError(
            f"scene file {path} is not a text file: give the scene YAML, not an image"
        ) from None
    except OSError as exc:
        raise EstStfmError(f"cannot read scene file {path}: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        raise _fail(path, f"not valid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise _fail(path, f"not valid YAML: {' '.join(str(exc).split())}") from None
    except ValueError as exc:  # a date-like key that is no real date, e.g. 2001-02-30
        raise _fail(path, f"invalid date ({exc}): write dates as YYYY-MM-DD") from None


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


def _parse_scale(path: Path, value: Any, where: str = "") -> float:
    number = _number(value)
    if not math.isfinite(number) or number <= 0:
        raise _fail(
            path,
            f"{where}scale must be a positive number (stored value x scale = reflectance, e.g. "
            f"0.0001 for int16 x 10000), got {value!r}",
        )
    return number


def _parse_offset(path: Path, value: Any, where: str) -> float:
    number = _number(value)
    if not math.isfinite(number):
        raise _fail(
            path,
            f"{where}offset must be a number (value = stored x scale + offset), got {value!r}",
        )
    return number


def _parse_numbers(
    path: Path, value: Any, where: str, key: str, example: str, allow_nan: bool = False
) -> tuple[float, ...]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    out: list[float] = []
    for item in items:
        number = _number(item)
        if allow_nan and _is_nan_text(item):
            number = math.nan
        elif not math.isfinite(number):
            out = []
            break
        out.append(number)
    if not out:
        raise _fail(path, f"{where}{key} must be a number or a list of numbers, e.g. {example}")
    return tuple(out)


def _parse_valid_range(path: Path, value: Any, where: str) -> tuple[float, float]:
    numbers = [_number(v) for v in value] if isinstance(value, (list, tuple)) else []
    if len(numbers) != 2 or not all(math.isfinite(n) for n in numbers) or numbers[0] >= numbers[1]:
        raise _fail(
            path,
            f"{where}valid_range must be [min, max] with min < max, in the unit after scale and "
            f"offset (e.g. [0, 1] for reflectance), got {value!r}",
        )
    return numbers[0], numbers[1]


def _choice(path: Path, value: Any, where: str, key: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    text = str(value).strip().lower() if isinstance(value, str) else ""
    if text not in allowed:
        close = difflib.get_close_matches(text, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _fail(path, f"{where}{key} {value!r} is not one of {', '.join(allowed)}{hint}")
    return text


def _parse_bands(path: Path, value: Any, where: str) -> tuple[int, ...]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    ok = bool(items) and all(
        isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in items
    )
    if not ok:
        raise _fail(
            path, f"{where}bands must be band numbers counted from 1, e.g. [1, 2, 3], got {value!r}"
        )
    return tuple(items)


def _absolute(path: Path, text: str) -> Path:
    return Path(os.path.abspath(path.parent / Path(text).expanduser()))


def _parse_masks(path: Path, value: Any, where: str) -> dict[dt.date, Path]:
    example = "masks: {2001-05-24: cloud0524.tif}"
    if not isinstance(value, Mapping) or not value:
        raise _fail(path, f"{where}masks must map dates to mask files, e.g. {example}")
    masks: dict[dt.date, Path] = {}
    for key, name in value.items():
        try:
            day = parse_date(key)
        except ValueError:
            raise _fail(
                path, f"{where}mask key {key!r} is not a date: write dates as YYYY-MM-DD"
            ) from None
        if day in masks:
            raise _fail(path, f"{where}mask date {day} appears twice: keep one entry")
        if not isinstance(name, (str, os.PathLike)) or not str(name).strip():
            raise _fail(path, f"{where}mask for {day} must be a file path, got {name!r}")
        masks[day] = _absolute(path, str(name).strip())
    return dict(sorted(masks.items()))


def _parse_options(path: Path, raw: Mapping, where: str, base: SectionOptions) -> SectionOptions:
    """``base`` with the option keys present in ``raw`` applied."""
    changes: dict[str, Any] = {}
    if "scale" in raw:
        changes["scale"] = _parse_scale(path, raw["scale"], where)
    if "offset" in raw:
        changes["offset"] = _parse_offset(path, raw["offset"], where)
    if "nodata" in raw:
        changes["nodata"] = _parse_numbers(
            path, raw["nodata"], where, "nodata", "nodata: -9999 or nodata: [0, 65535]", True
        )
    if "valid_range" in raw:
        changes["valid_range"] = _parse_valid_range(path, raw["valid_range"], where)
    if "mask_valid_values" in raw:
        changes["mask_valid_values"] = _parse_numbers(
            path, raw["mask_valid_values"], where, "mask_valid_values", "[0, 1]"
        )
    if "resampling" in raw:
        changes["resampling"] = _choice(path, raw["resampling"], where, "resampling", RESAMPLING)
    if "masks" in raw:
        changes["masks"] = _parse_masks(path, raw["masks"], where)
    return replace(base, **changes)


Images = dict[dt.date, tuple[str, Path, "tuple[int, ...] | None"]]
"""``{date: (path as written, absolute path, bands or None)}``."""


def _parse_images(
    path: Path, kind: str, value: Any, bands: tuple[int, ...] | None = None
) -> Images:
    """The date -> image mapping of the ``fine`` or ``coarse`` section."""
    example = f"{kind}: {{2001-05-24: image.tif}}"
    if value is None or (isinstance(value, Mapping) and not value):
        raise _fail(path, f"'{kind}' is empty: list at least one image, e.g. {example}")
    if not isinstance(value, Mapping):
        raise _fail(path, f"'{kind}' must map dates to image paths, e.g. {example}")
    images: Images = {}
    for key, entry in value.items():
        try:
            day = parse_date(key)
        except ValueError:
            raise _fail(
                path, f"{kind} key {key!r} is not a date: write dates as YYYY-MM-DD or YYYYMMDD"
            ) from None
        if day in images:
            raise _fail(path, f"{kind} date {day} appears twice (as {key!r}): keep one entry")
        chosen = bands
        name = entry
        if isinstance(entry, Mapping):
            extra = [str(k) for k in entry if k not in ("path", "bands")]
            if extra or "path" not in entry:
                raise _fail(
                    path,
                    f"{kind} {day} must be a path or {{path: FILE, bands: [1, 2]}}, "
                    f"got keys {', '.join(map(str, entry))}",
                )
            name = entry["path"]
            if "bands" in entry:
                chosen = _parse_bands(path, entry["bands"], f"{kind} {day}: ")
        if not isinstance(name, (str, os.PathLike)) or not str(name).strip():
            raise _fail(path, f"{kind} {day} must be an image path, got {name!r}")
        text = str(name).strip()
        images[day] = (text, _absolute(path, text), chosen)
    return dict(sorted(images.items()))


def _parse_section(
    path: Path, kind: str, value: Any, base: SectionOptions
) -> tuple[Images, SectionOptions]:
    """Images and options of the ``fine`` or ``coarse`` key, in either form."""
    if isinstance(value, Mapping) and "images" in value:
        allowed = SECTION_KEYS if kind == "coarse" else SECTION_KEYS[:-1]
        unknown = [str(k) for k in value if k not in allowed]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, allowed, n=1)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise _fail(
                path,
                f"unknown key {', '.join(hints)} under {kind}: allowed are {', '.join(allowed)}",
            )
        if "masks" in value and base.masks:
            raise _fail(
                path, f"masks given both at the top level and under {kind}: keep one of them"
            )
        options = _parse_options(path, value, f"{kind}: ", base)
        bands = _parse_bands(path, value["bands"], f"{kind}: ") if "bands" in value else None
        return _parse_images(path, kind, value["images"], bands), options
    if isinstance(value, Mapping):
        options_given = [str(k) for k in value if isinstance(k, str) and k in SECTION_KEYS]
        if options_given:
            raise _fail(
                path,
                f"'{kind}' has {', '.join(options_given)} but no 'images': put the dates under "
                f"images:, e.g. {kind}: {{scale: 0.0001, images: {{2001-05-24: image.tif}}}}",
            )
    return _parse_images(path, kind, value), base


def _placement_text(grid: Grid) -> str:
    t = grid.transform
    return f"origin ({t.c:.10g}, {t.f:.10g}) and pixel size ({t.a:.10g}, {t.e:.10g})"


def _open_image(
    path: Path, kind: str, day: dt.date, full: Path, bands: tuple[int, ...] | None
) -> Grid:
    """The grid of one image (its band count and names those of ``bands``), after checking that
    it exists, is a raster and has those bands."""
    label = f"{kind} image for {day}"
    if not full.exists():
        raise EstStfmError(
            f"{label} not found: {full} (check the path in {path.name}; "
            "paths are relative to the scene file)"
        )
    if full.is_dir():
        raise EstStfmError(f"{label} is a directory, not an image: {full} (fix {path.name})")
    try:
        grid = read_grid(full)
    except EstStfmError as exc:
        raise EstStfmError(f"{label}: {exc}") from None
    if bands is None:
        return grid
    missing = [b for b in bands if b > grid.count]
    if missing:
        raise EstStfmError(
            f"{label} {full.name} has {grid.count} bands, so band {missing[0]} does not exist: "
            f"fix bands in {path.name} (bands are counted from 1)"
        )
    names = tuple(grid.descriptions[b - 1] for b in bands) if grid.descriptions else ()
    return replace(grid, count=len(bands), descriptions=names)


def _check_fine(what: str, grid: Grid, ref_name: str, fine: Grid) -> None:
    """A fine image must be on the grid of the first one, with the same band count."""
    if not grid.same_size(fine):
        raise EstStfmError(
            f"{what} is {grid.size_text} but the fine grid ({ref_name}) is {fine.size_text} "
            "(width x height): every fine image must cover the same grid"
        )
    if not grid.same_crs(fine):
        raise EstStfmError(
            f"{what} is in {grid.crs_text} but the fine grid ({ref_name}) is in {fine.crs_text}: "
            "reproject it onto the fine grid first"
        )
    if not grid.same_transform(fine):
        raise EstStfmError(
            f"{what} has {_placement_text(grid)} but the fine grid ({ref_name}) has "
            f"{_placement_text(fine)}: resample it onto the fine grid first"
        )
    _check_bands(what, grid, ref_name, fine)


def _check_bands(what: str, grid: Grid, ref_name: str, fine: Grid) -> None:
    if grid.count != fine.count:
        raise EstStfmError(
            f"{what} has {grid.count} bands but the fine grid ({ref_name}) has {fine.count}: "
            "every image needs the same bands in the same order (or choose some with bands:)"
        )


def _place_coarse(what: str, grid: Grid, ref_name: str, fine: Grid) -> Placement | None:
    """How a coarse image lies on the fine grid (None: on it); errors name the file."""
    _check_bands(what, grid, ref_name, fine)
    try:
        place = placement(grid, fine)
    except EstStfmError as exc:
        raise EstStfmError(
            f"{what} ({grid.size_text} px in {grid.crs_text}) {exc} of {ref_name}: "
            "give a coarse image of the same area"
        ) from None
    if place is not None and place.assumed:
        warn_assumed(what, ref_name)
    return place


def _check_one_nodata(what: str, grid: Grid, opts: SectionOptions) -> None:
    """A resampled image can leave one nodata value out of the interpolation, not several."""
    declared = [v for v in (grid.nodata, *opts.nodata) if v is not None and not math.isnan(v)]
    if len(set(declared)) > 1:
        values = ", ".join(f"{v:g}" for v in sorted(set(declared)))
        raise EstStfmError(
            f"{what} is resampled onto the fine grid, which leaves one nodata value out of the "
            f"interpolation, but it has several ({values}): keep one, or use valid_range"
        )


def _check_mask(
    path: Path, kind: str, day: dt.date, mask: Path, image: Path, image_grid: Grid
) -> None:
    """A mask must be a one-band raster on the grid of the image it masks."""
    label = f"{kind} mask for {day}"
    if not mask.is_file():
        state = "is a directory" if mask.is_dir() else "not found"
        raise EstStfmError(
            f"{label} {state}: {mask} (check masks in {path.name}; paths are relative to it)"
        )
    try:
        grid = read_grid(mask)
    except EstStfmError as exc:
        raise EstStfmError(f"{label}: {exc}") from None
    if grid.count != 1:
        raise EstStfmError(
            f"{label} {mask.name} has {grid.count} bands: give a one-band mask (0 = clear)"
        )
    placed_apart = (
        grid.has_transform
        and image_grid.has_transform
        and grid.same_crs(image_grid)
        and not grid.same_transform(image_grid)
    )
    if not grid.same_size(image_grid) or placed_apart:
        raise EstStfmError(
            f"{label} {mask.name} ({grid.size_text}) is not on the grid of its image "
            f"{image.name} ({image_grid.size_text}): give a mask pixel for pixel on the image"
        )


def _scale_hint(values: np.ndarray, scale: float, offset: float) -> str:
    stored = (float(np.median(np.abs(values))) - offset) / scale
    if not math.isfinite(stored) or stored <= 0:
        return "set scale and offset"
    power = round(math.log10(stored / 0.2))
    return f"set scale: {10.0**-power:g} if the values are stored x {10.0**power:g}"


def _check_values(
    what: str,
    full: Path,
    grid: Grid,
    bands: tuple[int, ...] | None,
    opts: SectionOptions,
    unit: str,
    unit_given: bool,
) -> None:
    """Not entirely nodata; reflectance on a plausible scale (a cheap sample of pixels)."""
    values = sample_values(
        full, bands=bands, nodata=opts.nodata, scale=opts.scale, offset=opts.offset
    )
    if values.size == 0 and not has_valid_pixel(full, bands=bands, nodata=opts.nodata):
        raise EstStfmError(
            f"{what} has no valid pixel (all are nodata, NaN or infinite): check the file, or "
            "its nodata value in the scene file"
        )
    if unit != "reflectance" or values.size == 0:
        return
    low, high = REFLECTANCE_RANGE
    outside = float(np.mean((values < low) | (values > high)))
    if outside <= MAX_OUTSIDE:
        return
    kelvin_like = np.mean((values >= KELVIN_LIKE[0]) & (values <= KELVIN_LIKE[1])) >= 0.99
    if not unit_given and kelvin_like and np.issubdtype(np.dtype(grid.dtype), np.floating):
        warnings.warn(
            f"{what} holds values like temperatures in Kelvin (median "
            f"{float(np.median(values)):.5g}), not reflectance: add unit: kelvin to the scene "
            "file (it is read as it is)",
            UserWarning,
            stacklevel=3,
        )
        return
    raise EstStfmError(
        f"{what}: {outside:.0%} of sampled values lie outside the reflectance range "
        f"[{low:g}, {high:g}] with scale {opts.scale:g} and offset {opts.offset:g} (median "
        f"{float(np.median(values)):.5g}): {_scale_hint(values, opts.scale, opts.offset)} "
        "(under fine: or coarse: for one of them), or set unit: ndvi, kelvin or other"
    )


def _warn_georeferencing(path: Path, grid: Grid, first: str) -> None:
    if grid.georeferenced:
        return
    if grid.crs is not None and grid.has_transform:
        kind = f"only a local coordinate system ({grid.crs_text.split('[')[0]})"
    elif grid.has_transform:
        kind = "a geotransform but no CRS"
    else:
        kind = "no georeferencing"
    warnings.warn(
        f"fine images of {path.name} (e.g. {first}) have {kind}: used by pixel position; "
        "predictions are written on the same grid, without georeferencing",
        GeoreferencingWarning,
        stacklevel=3,
    )


def load_scene(path: str | Path) -> Scene:
    """Read and validate a scene file; every problem is a one-line :class:`EstStfmError`."""
    path = Path(os.path.abspath(Path(path).expanduser()))
    if not path.exists():
        raise EstStfmError(f"scene file not found: {path} (give the path of a scene YAML file)")
    if path.is_dir():
        hint = " (did you mean scene.yaml in it?)" if (path / "scene.yaml").is_file() else ""
        raise EstStfmError(f"{path} is a directory: give the scene YAML file{hint}")
    data = _read_yaml(path)
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise _fail(path, f"it is {kind}: it needs the keys fine and coarse (and optional scale)")
    unknown = [str(k) for k in data if k not in KEYS]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise _fail(path, f"unknown key {', '.join(hints)}: allowed keys are {', '.join(KEYS)}")
    for key in ("fine", "coarse"):
        if key not in data:
            raise _fail(path, f"'{key}' is missing: add e.g. {key}: {{2001-05-24: image.tif}}")
    top = _parse_options(path, data, "", SectionOptions())
    unit = _choice(path, data["unit"], "", "unit", UNITS) if "unit" in data else "reflectance"
    factor = data.get("coarse_factor")
    if factor is not None and (
        isinstance(factor, bool)
        or not isinstance(factor, (int, float))
        or not math.isfinite(factor)
        or factor < 1
    ):
        raise _fail(
            path,
            f"coarse_factor must be a number >= 1 (coarse pixel size in fine pixels), "
            f"got {factor!r}",
        )
    fine, fine_opts = _parse_section(path, "fine", data["fine"], top)
    coarse, coarse_opts = _parse_section(path, "coarse", data["coarse"], replace(top, masks={}))
    for kind, images, opts in (("fine", fine, fine_opts), ("coarse", coarse, coarse_opts)):
        stray = [d for d in opts.masks if d not in images]
        if stray:
            raise _fail(
                path,
                f"mask for {stray[0]} but no {kind} image on that date ({kind} dates: "
                f"{_date_text(images)}): fix the date or remove the mask",
            )

    first_day, (first_name, first_full, first_bands) = next(iter(fine.items()))
    grid = _open_image(path, "fine", first_day, first_full, first_bands)
    grids: dict[tuple[str, dt.date], Grid] = {("fine", first_day): grid}
    sources: dict[tuple[str, dt.date], ImageSource] = {}
    for kind, images in (("fine", fine), ("coarse", coarse)):
        for day, (name, full, bands) in images.items():
            image_grid = grids.get((kind, day)) or _open_image(path, kind, day, full, bands)
            grids[(kind, day)] = image_grid
            what = f"{kind} {day} {name}"
            place = None
            if kind == "fine" and day != first_day:
                _check_fine(what, image_grid, first_name, grid)
            elif kind == "coarse":
                place = _place_coarse(what, image_grid, first_name, grid)
                if place is not None:
                    _check_one_nodata(what, image_grid, coarse_opts)
            if bands is not None or place is not None:
                sources[(kind, day)] = ImageSource(full, bands, place)
    for kind, images, opts in (("fine", fine, fine_opts), ("coarse", coarse, coarse_opts)):
        for day, mask in opts.masks.items():
            _check_mask(path, kind, day, mask, images[day][1], grids[(kind, day)])
    _warn_georeferencing(path, grid, first_name)
    for kind, images, opts in (("fine", fine, fine_opts), ("coarse", coarse, coarse_opts)):
        for day, (name, full, bands) in images.items():
            what = f"{kind} {day} {name}"
            _check_values(what, full, grids[(kind, day)], bands, opts, unit, "unit" in data)
    return Scene(
        path=path,
        scale=fine_opts.scale,
        fine={d: full for d, (_, full, _) in fine.items()},
        coarse={d: full for d, (_, full, _) in coarse.items()},
        grid=grid,
        offset=fine_opts.offset,
        unit=unit,
        fine_options=fine_opts,
        coarse_options=coarse_opts,
        sources=sources,
        coarse_factor_given=None if factor is None else float(factor),
    )


class _PlainDumper(yaml.SafeDumper):
    """A safe dumper without anchors/aliases (a date shared by fine and coarse stays a date)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _relative(image: str | Path, base: Path) -> str:
    """``image`` relative to ``base`` when possible (POSIX separators), else absolute."""
    full = os.path.abspath(Path(image).expanduser())
    try:
        return Path(os.path.relpath(full, base)).as_posix()
    except ValueError:  # another drive on Windows
        return Path(full).as_posix()


ImageLike = str | Path | Mapping[str, Any]
"""An image for :func:`save_scene`: a path, or ``{"path": ..., "bands": [...]}``."""


def _save_error(path: Path, problem: str) -> EstStfmError:
    return EstStfmError(f"cannot save scene {path}: {problem}")


def _plain(value: Any, base: Path) -> Any:
    """``value`` as plain YAML data: tuples -> lists, paths -> relative strings."""
    if isinstance(value, Path):
        return _relative(value, base)
    if isinstance(value, (tuple, list)):
        return [_plain(v, base) for v in value]
    return value


def _image_entry(image: ImageLike, base: Path, path: Path, kind: str) -> Any:
    if isinstance(image, Mapping):
        if "path" not in image or any(k not in ("path", "bands") for k in image):
            raise _save_error(path, f"a {kind} image must be a path or {{path, bands}}")
        entry: dict[str, Any] = {"path": _relative(image["path"], base)}
        if image.get("bands") is not None:
            entry["bands"] = [int(b) for b in image["bands"]]
        return entry
    return _relative(image, base)


def _dated(
    path: Path, kind: str, items: Mapping[DateLike, Any], convert: Any
) -> dict[dt.date, Any]:
    out: dict[dt.date, Any] = {}
    for key, value in items.items():
        try:
            day = parse_date(key)
        except ValueError as exc:
            raise _save_error(path, f"{kind} {exc}") from None
        if day in out:
            raise _save_error(path, f"{kind} date {day} given twice")
        out[day] = convert(value)
    return dict(sorted(out.items()))


def _options_yaml(
    path: Path, where: str, options: Mapping[str, Any], allowed: Iterable[str]
) -> dict[str, Any]:
    allowed = tuple(allowed)
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in allowed:
            raise _save_error(
                path, f"unknown {where}option {key!r} (allowed: {', '.join(allowed)})"
            )
        if value is None:
            continue
        if key == "masks":
            out[key] = _dated(path, f"{where}mask", value, lambda m: _relative(m, path.parent))
        else:
            out[key] = _plain(value, path.parent)
    return out


def save_scene(
    path: str | Path,
    fine: Mapping[DateLike, ImageLike],
    coarse: Mapping[DateLike, ImageLike],
    scale: float = 1.0,
    *,
    offset: float = 0.0,
    unit: str = "reflectance",
    coarse_factor: float | None = None,
    resampling: str = "bilinear",
    nodata: float | list[float] | None = None,
    valid_range: tuple[float, float] | None = None,
    masks: Mapping[DateLike, str | Path] | None = None,
    mask_valid_values: list[float] | None = None,
    fine_options: Mapping[str, Any] | None = None,
    coarse_options: Mapping[str, Any] | None = None,
) -> Path:
    """Write a scene file and return its path.

    Image (and mask) paths are taken as given (relative ones relative to the current directory)
    and written relative to the scene file's directory when possible; an image may also be
    ``{"path": ..., "bands": [...]}``. Keyword arguments are the optional top-level keys (only
    values other than the defaults are written; ``masks`` are the fine images' masks);
    ``fine_options`` / ``coarse_options`` hold per-section overrides (``scale``, ``offset``,
    ``nodata``, ``valid_range``, ``masks``, ``mask_valid_values``, ``bands``, ``resampling``)
    and switch that section to the ``images:`` form. The file is written atomically; it is
    checked when loaded, not here.
    """
    path = Path(os.path.abspath(Path(path).expanduser()))
    if not isinstance(scale, (int, float)) or isinstance(scale, bool):
        raise EstStfmError(f"scale must be a positive number, got {scale!r}")
    if not math.isfinite(scale) or scale <= 0:
        raise EstStfmError(f"scale must be a positive number, got {scale!r}")
    top: dict[str, Any] = {"scale": float(scale)}
    extras = {
        "offset": None if offset == 0 else float(offset),
        "unit": None if unit == "reflectance" else unit,
        "coarse_factor": coarse_factor,
        "resampling": None if resampling == "bilinear" else resampling,
        "nodata": nodata,
        "valid_range": valid_range,
        "masks": masks,
        "mask_valid_values": mask_valid_values,
    }
    top.update(_options_yaml(path, "", extras, KEYS))
    body: dict[str, Any] = dict(top)
    allowed = tuple(k for k in SECTION_KEYS if k != "images")
    for kind, images, options in (
        ("fine", fine, fine_options),
        ("coarse", coarse, coarse_options),
    ):
        if not images:
            raise _save_error(path, f"no {kind} images given")
        section = _dated(
            path, kind, images, lambda image, k=kind: _image_entry(image, path.parent, path, k)
        )
        if options:
            body[kind] = {**_options_yaml(path, f"{kind} ", options, allowed), "images": section}
        else:
            body[kind] = section
    text = "# est-stfm scene: image paths are relative to this file\n" + yaml.dump(
        body, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise EstStfmError(f"cannot write scene file {path}: {exc.strerror or exc}") from None
    return path
