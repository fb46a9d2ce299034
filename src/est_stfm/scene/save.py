"""Writing a scene file: :func:`save_scene` turns dates, image paths and options into the YAML
that :func:`~est_stfm.scene.scene.load_scene` reads, with paths relative to the file."""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from est_stfm.errors import EstStfmError
from est_stfm.io.atomic import atomic_write_text
from est_stfm.scene.dates import DateLike, parse_date
from est_stfm.scene.spec import KEYS, SECTION_KEYS


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
