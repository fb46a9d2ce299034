"""The scene file: which fine and coarse image belongs to which date.

A scene is a small YAML file; image paths are relative to it::

    scale: 0.0001            # stored value x scale = reflectance (optional, default 1)
    fine:   {2001-05-24: tm0524.tif, 2001-08-12: tm0812.tif}
    coarse: {2001-05-24: m0524.tif, 2001-07-11: m0711.tif, 2001-08-12: m0812.tif}

Dates are ``YYYY-MM-DD`` (quoted or not) or ``YYYYMMDD``. Every image, fine and coarse, must lie on
the grid of the first fine image (same size, transform and CRS: coarse images are resampled onto
the fine grid beforehand) and have the same bands. :func:`load_scene` checks all of this up front
and reports each problem as a one-line :class:`~est_stfm.errors.EstStfmError`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from est_stfm.atomic import atomic_write_text
from est_stfm.data.raster import Grid, WindowLike, read_grid, read_raster
from est_stfm.errors import EstStfmError

KEYS = ("scale", "fine", "coarse")
"""The top-level keys a scene file may have."""

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


@dataclass
class Scene:
    """A loaded, validated scene: absolute image paths per date, the scale and the common grid."""

    path: Path
    scale: float
    fine: dict[dt.date, Path]
    coarse: dict[dt.date, Path]
    grid: Grid

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

    def _lookup(self, kind: str, date: DateLike) -> Path:
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
        return images[day]

    def read_fine(
        self, date: DateLike, window: WindowLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(reflectance, valid)`` of the fine image of ``date``."""
        return read_raster(self._lookup("fine", date), self.scale, window)

    def read_coarse(
        self, date: DateLike, window: WindowLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(reflectance, valid)`` of the coarse image of ``date`` (on the fine grid)."""
        return read_raster(self._lookup("coarse", date), self.scale, window)

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


def _parse_scale(path: Path, value: Any) -> float:
    number: float = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):  # PyYAML reads 1e-4 (no dot) as a string
        try:
            number = float(value)
        except ValueError:
            pass
    if not math.isfinite(number) or number <= 0:
        raise _fail(
            path,
            f"scale must be a positive number (stored value x scale = reflectance, e.g. 0.0001 "
            f"for int16 x 10000), got {value!r}",
        )
    return number


def _parse_images(path: Path, kind: str, value: Any) -> dict[dt.date, tuple[str, Path]]:
    """``{date: (path as written, absolute path)}`` of one of the ``fine``/``coarse`` mappings."""
    example = f"{kind}: {{2001-05-24: image.tif}}"
    if value is None or (isinstance(value, Mapping) and not value):
        raise _fail(path, f"'{kind}' is empty: list at least one image, e.g. {example}")
    if not isinstance(value, Mapping):
        raise _fail(path, f"'{kind}' must map dates to image paths, e.g. {example}")
    images: dict[dt.date, tuple[str, Path]] = {}
    for key, name in value.items():
        try:
            day = parse_date(key)
        except ValueError:
            raise _fail(
                path, f"{kind} key {key!r} is not a date: write dates as YYYY-MM-DD or YYYYMMDD"
            ) from None
        if day in images:
            raise _fail(path, f"{kind} date {day} appears twice (as {key!r}): keep one entry")
        if not isinstance(name, (str, os.PathLike)) or not str(name).strip():
            raise _fail(path, f"{kind} {day} must be an image path, got {name!r}")
        text = str(name).strip()
        full = Path(os.path.abspath(path.parent / Path(text).expanduser()))
        images[day] = (text, full)
    return dict(sorted(images.items()))


def _placement(grid: Grid) -> str:
    t = grid.transform
    return f"origin ({t.c:.10g}, {t.f:.10g}) and pixel size ({t.a:.10g}, {t.e:.10g})"


def _check_image(
    path: Path, kind: str, day: dt.date, name: str, full: Path, ref: tuple[str, Grid] | None
) -> Grid:
    """The grid of one image, after checking it exists, is a raster and matches ``ref``."""
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
    if ref is None:
        return grid
    ref_name, fine = ref
    what = f"{kind} {day} {name}"
    if not grid.same_size(fine):
        fix = (
            "resample coarse images onto the fine grid first"
            if kind == "coarse"
            else "every fine image must cover the same grid"
        )
        raise EstStfmError(
            f"{what} is {grid.size_text} but the fine grid ({ref_name}) is {fine.size_text} "
            f"(width x height): {fix}"
        )
    if not grid.same_crs(fine):
        raise EstStfmError(
            f"{what} is in {grid.crs_text} but the fine grid ({ref_name}) is in {fine.crs_text}: "
            "reproject it onto the fine grid first"
        )
    if not grid.same_transform(fine):
        raise EstStfmError(
            f"{what} has {_placement(grid)} but the fine grid ({ref_name}) has "
            f"{_placement(fine)}: resample it onto the fine grid first"
        )
    if grid.count != fine.count:
        raise EstStfmError(
            f"{what} has {grid.count} bands but the fine grid ({ref_name}) has {fine.count}: "
            "every image needs the same bands in the same order"
        )
    return grid


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
    scale = _parse_scale(path, data.get("scale", 1.0))
    fine = _parse_images(path, "fine", data["fine"])
    coarse = _parse_images(path, "coarse", data["coarse"])

    first_day, (first_name, first_full) = next(iter(fine.items()))
    grid = _check_image(path, "fine", first_day, first_name, first_full, None)
    ref = (first_name, grid)
    for kind, images in (("fine", fine), ("coarse", coarse)):
        for day, (name, full) in images.items():
            if kind == "fine" and day == first_day:
                continue
            _check_image(path, kind, day, name, full, ref)
    return Scene(
        path=path,
        scale=scale,
        fine={d: full for d, (_, full) in fine.items()},
        coarse={d: full for d, (_, full) in coarse.items()},
        grid=grid,
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


def save_scene(
    path: str | Path,
    fine: Mapping[DateLike, str | Path],
    coarse: Mapping[DateLike, str | Path],
    scale: float = 1.0,
) -> Path:
    """Write a scene file and return its path.

    Image paths are taken as given (relative ones relative to the current directory) and written
    relative to the scene file's directory when possible. The file is written atomically.
    """
    path = Path(os.path.abspath(Path(path).expanduser()))
    if not isinstance(scale, (int, float)) or isinstance(scale, bool):
        raise EstStfmError(f"scale must be a positive number, got {scale!r}")
    if not math.isfinite(scale) or scale <= 0:
        raise EstStfmError(f"scale must be a positive number, got {scale!r}")
    sections: dict[str, dict[dt.date, str]] = {}
    for kind, images in (("fine", fine), ("coarse", coarse)):
        if not images:
            raise EstStfmError(f"cannot save scene {path}: no {kind} images given")
        section: dict[dt.date, str] = {}
        for key, image in images.items():
            try:
                day = parse_date(key)
            except ValueError as exc:
                raise EstStfmError(f"cannot save scene {path}: {kind} {exc}") from None
            if day in section:
                raise EstStfmError(f"cannot save scene {path}: {kind} date {day} given twice")
            section[day] = _relative(image, path.parent)
        sections[kind] = dict(sorted(section.items()))
    body = yaml.dump(
        {"scale": float(scale), **sections},
        Dumper=_PlainDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
    text = "# est-stfm scene: image paths are relative to this file\n" + body
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise EstStfmError(f"cannot write scene file {path}: {exc.strerror or exc}") from None
    return path
