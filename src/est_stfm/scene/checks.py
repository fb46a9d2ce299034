"""The checks a scene's files must pass before anything is read: each image exists and is a
raster with the bands asked for, lies on (or can be placed on) the fine grid, holds valid pixels
on a plausible scale; each mask lies on its image's grid. Every failure is a one-line
:class:`EstStfmError` naming the file and the fix.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from est_stfm.errors import EstStfmError
from est_stfm.io.raster import (
    GeoreferencingWarning,
    Grid,
    has_valid_pixel,
    read_grid,
    sample_values,
)
from est_stfm.io.resample import Placement, placement, warn_assumed
from est_stfm.scene.options import SectionOptions
from est_stfm.scene.spec import ImageFile

REFLECTANCE_RANGE = (-0.1, 1.5)
"""Where nearly every reflectance value lies."""

MAX_OUTSIDE = 0.1
"""The fraction of sampled values outside :data:`REFLECTANCE_RANGE` that means a wrong scale."""

KELVIN_LIKE = (150.0, 400.0)
"""Float values all inside this range look like temperatures in Kelvin, not reflectance."""


def open_image(scene: Path, label: str, image: ImageFile) -> Grid:
    """The grid of one image, after checking that it exists, is a raster and has the bands
    asked for; with a band choice, the grid's band count and names are those of the choice.

    ``label`` names the image in messages (``fine image for 2001-05-24``).
    """
    full = image.path
    if not full.exists():
        raise EstStfmError(
            f"{label} not found: {full} (check the path in {scene.name}; "
            "paths are relative to the scene file)"
        )
    if full.is_dir():
        raise EstStfmError(f"{label} is a directory, not an image: {full} (fix {scene.name})")
    try:
        grid = read_grid(full)
    except EstStfmError as exc:
        raise EstStfmError(f"{label}: {exc}") from None
    if image.bands is None:
        return grid
    missing = [b for b in image.bands if b > grid.count]
    if missing:
        raise EstStfmError(
            f"{label} {full.name} has {grid.count} bands, so band {missing[0]} does not exist: "
            f"fix bands in {scene.name} (bands are counted from 1)"
        )
    names = tuple(grid.descriptions[b - 1] for b in image.bands) if grid.descriptions else ()
    return replace(grid, count=len(image.bands), descriptions=names)


def _placement_text(grid: Grid) -> str:
    t = grid.transform
    return f"origin ({t.c:.10g}, {t.f:.10g}) and pixel size ({t.a:.10g}, {t.e:.10g})"


def _check_bands(what: str, grid: Grid, ref_name: str, fine: Grid) -> None:
    if grid.count != fine.count:
        raise EstStfmError(
            f"{what} has {grid.count} bands but the fine grid ({ref_name}) has {fine.count}: "
            "every image needs the same bands in the same order (or choose some with bands:)"
        )


def check_fine(what: str, grid: Grid, ref_name: str, fine: Grid) -> None:
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


def place_coarse(what: str, grid: Grid, ref_name: str, fine: Grid) -> Placement | None:
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


def check_one_nodata(what: str, grid: Grid, opts: SectionOptions) -> None:
    """A resampled image can leave one nodata value out of the interpolation, not several."""
    declared = [v for v in (grid.nodata, *opts.nodata) if v is not None and not math.isnan(v)]
    if len(set(declared)) > 1:
        values = ", ".join(f"{v:g}" for v in sorted(set(declared)))
        raise EstStfmError(
            f"{what} is resampled onto the fine grid, which leaves one nodata value out of the "
            f"interpolation, but it has several ({values}): keep one, or use valid_range"
        )


def check_mask(scene: Path, label: str, mask: Path, image: Path, image_grid: Grid) -> None:
    """A mask must be a one-band raster on the grid of the image it masks.

    ``label`` names the mask in messages (``fine mask for 2001-05-24``).
    """
    if not mask.is_file():
        state = "is a directory" if mask.is_dir() else "not found"
        raise EstStfmError(
            f"{label} {state}: {mask} (check masks in {scene.name}; paths are relative to it)"
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


def check_values(
    what: str, image: ImageFile, grid: Grid, opts: SectionOptions, unit: str | None
) -> None:
    """Not entirely nodata; reflectance on a plausible scale (a cheap sample of pixels).

    ``unit`` None means the scene file does not write it: read as reflectance, but float values
    that look like Kelvin only warn (files from before ``unit`` existed keep loading).
    """
    values = sample_values(
        image.path, bands=image.bands, nodata=opts.nodata, scale=opts.scale, offset=opts.offset
    )
    if values.size == 0 and not has_valid_pixel(image.path, bands=image.bands, nodata=opts.nodata):
        raise EstStfmError(
            f"{what} has no valid pixel (all are nodata, NaN or infinite): check the file, or "
            "its nodata value in the scene file"
        )
    if unit not in (None, "reflectance") or values.size == 0:
        return
    low, high = REFLECTANCE_RANGE
    outside = float(np.mean((values < low) | (values > high)))
    if outside <= MAX_OUTSIDE:
        return
    kelvin_like = np.mean((values >= KELVIN_LIKE[0]) & (values <= KELVIN_LIKE[1])) >= 0.99
    if unit is None and kelvin_like and np.issubdtype(np.dtype(grid.dtype), np.floating):
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


def warn_georeferencing(scene: Path, grid: Grid, first: str) -> None:
    """Warn when the fine grid (of the image ``first``) is not georeferenced: used by position."""
    if grid.georeferenced:
        return
    if grid.crs is not None and grid.has_transform:
        kind = f"only a local coordinate system ({grid.crs_text.split('[')[0]})"
    elif grid.has_transform:
        kind = "a geotransform but no CRS"
    else:
        kind = "no georeferencing"
    warnings.warn(
        f"fine images of {scene.name} (e.g. {first}) have {kind}: used by pixel position; "
        "predictions are written on the same grid, without georeferencing",
        GeoreferencingWarning,
        stacklevel=3,
    )
