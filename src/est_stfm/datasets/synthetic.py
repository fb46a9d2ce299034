"""A seeded generator of SYNTHETIC Landsat/MODIS-like time series (not real data).

Nothing here is measured: the images are simulated so that the package can be demonstrated and
tested without downloading satellite data, and every GeoTIFF written here carries the tag
``synthetic=true``. On each date, the fine image is the surface of a simulated landscape
(:mod:`est_stfm.datasets.landscape`: fields, classes, phenology, an optional flood) plus sensor
noise; the coarse (MODIS-like, ``factor`` fine pixels wide) image is that surface seen through
:func:`~est_stfm.datasets.degrade.degrade_to_coarse`: a Gaussian point-spread blur, block
averaging, a fixed per-band gain and bias with per-date atmospheric differences on top, noise,
then bilinear resampling back onto the fine grid (as real STF inputs are prepared).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from est_stfm.datasets.degrade import degrade_to_coarse
from est_stfm.datasets.landscape import BAND_NAMES, CLASS_NAMES, make_landscape
from est_stfm.errors import EstStfmError
from est_stfm.io import Grid, write_raster
from est_stfm.scene import save_scene
from est_stfm.scene.dates import parse_date

SCALE = 0.0001
NODATA = -9999.0
EPSG = 32655
PIXEL_SIZE = 30.0
ORIGIN = (500_000.0, 4_800_000.0)

DEFAULT_START = dt.date(2001, 5, 8)
DEFAULT_STEP_DAYS = 16

FINE_NOISE = 0.003
"""Standard deviation of the fine sensor noise (reflectance)."""


def default_dates() -> list[dt.date]:
    """Six dates 16 days apart (the Landsat revisit) over the main growing season of 2001."""
    return [DEFAULT_START + dt.timedelta(days=DEFAULT_STEP_DAYS * i) for i in range(6)]


@dataclass
class SyntheticSeries:
    """A simulated time series held in memory (reflectance, float32)."""

    dates: list[dt.date]
    fine: np.ndarray
    """``(dates, bands, H, W)`` fine images (the truth on every date)."""
    coarse: np.ndarray
    """``(dates, bands, H, W)`` coarse images on the fine grid."""
    landcover: np.ndarray
    """``(H, W)`` uint8 class codes (see :data:`CLASS_NAMES`), before any flood."""
    flood: np.ndarray
    """``(H, W)`` bool, the area under water from ``flood_from`` on."""
    flood_from: int | None
    """Index into ``dates`` of the first flooded date, or None (no flood)."""
    factor: int


def _checked_dates(
    height: int, width: int, dates: Sequence[str | dt.date] | None, factor: int
) -> list[dt.date]:
    """The sorted dates of a series; a one-line user error for any bad argument."""
    if height < 1 or width < 1:
        raise EstStfmError(f"synthetic scene size must be positive, got {height}x{width}")
    if factor < 1:
        raise EstStfmError(f"coarse factor must be at least 1, got {factor}")
    try:
        days = sorted(parse_date(d) for d in (default_dates() if dates is None else dates))
    except ValueError as exc:
        raise EstStfmError(f"synthetic scene dates: {exc}: write them as YYYY-MM-DD") from None
    if not days:
        raise EstStfmError("synthetic scene needs at least one date")
    if len(set(days)) != len(days):
        raise EstStfmError("synthetic scene dates must be distinct")
    return days


def _first_flood(flood_from: int | None, n_dates: int) -> int | None:
    """``flood_from`` as a non-negative index into the dates (None stays None)."""
    if flood_from is None:
        return None
    first = flood_from + n_dates if flood_from < 0 else flood_from
    if not 0 <= first < n_dates:
        raise EstStfmError(
            f"flood_from={flood_from} is outside the {n_dates} dates: "
            "give an index into the dates, or None for no flood"
        )
    return first


def synthetic_series(
    *,
    height: int = 256,
    width: int = 256,
    dates: Sequence[str | dt.date] | None = None,
    factor: int = 16,
    seed: int = 0,
    flood_from: int | None = -2,
) -> SyntheticSeries:
    """Simulate fine and coarse reflectance for ``dates`` (sorted; default :func:`default_dates`).

    ``flood_from`` is the index (negative counts from the end) of the first date on which the
    flood is present, or None for no flood. Deterministic for a given ``seed``.
    """
    days = _checked_dates(height, width, dates, factor)
    first_flood = _first_flood(flood_from, len(days))
    rng = np.random.default_rng(seed)
    land = make_landscape(rng, height, width)

    bands = len(BAND_NAMES)
    gain = rng.uniform(0.96, 1.04, bands)  # a fixed radiometric difference between sensors
    bias = rng.uniform(-0.008, 0.008, bands)
    year_start = dt.date(days[0].year, 1, 1)
    fine_stack = np.empty((len(days), bands, height, width), dtype=np.float32)
    coarse_stack = np.empty_like(fine_stack)
    for i, day in enumerate(days):
        flooded = first_flood is not None and i >= first_flood
        surface = land.surface(float((day - year_start).days + 1), flooded)
        noisy = surface + rng.normal(0.0, FINE_NOISE, surface.shape).astype(np.float32)
        fine_stack[i] = np.clip(noisy, 0.0, 1.0)
        # per-date atmosphere / view-angle differences on top of the fixed sensor difference
        day_gain = gain * rng.normal(1.0, 0.01, bands)
        day_bias = bias + rng.normal(0.0, 0.003, bands)
        coarse = degrade_to_coarse(surface, factor, None, rng, day_gain, day_bias, noise=0.003)
        coarse_stack[i] = np.clip(coarse, 0.0, 1.0)
    return SyntheticSeries(
        days, fine_stack, coarse_stack, land.landcover, land.flood, first_flood, factor
    )


def make_synthetic_scene(
    out_dir: str | Path,
    *,
    height: int = 256,
    width: int = 256,
    dates: Sequence[str | dt.date] | None = None,
    factor: int = 16,
    seed: int = 0,
    flood_from: int | None = -2,
) -> Path:
    """Write a SYNTHETIC scene (see the module docstring) and return the path of its scene.yaml.

    Every date gets a fine and a coarse image (so the truth is known for evaluation):
    ``fine_YYYY-MM-DD.tif`` and ``coarse_YYYY-MM-DD.tif``, int16 reflectance x 10000 (scale
    0.0001, nodata -9999, bands blue..swir2) on a 30 m UTM grid (EPSG:32655), tagged
    ``synthetic=true``; ``landcover.tif`` holds the class map and the flood mask. Default dates:
    :func:`default_dates`; ``flood_from`` as in :func:`synthetic_series` (default: the last two
    dates are flooded). Deterministic for a seed.
    """
    series = synthetic_series(
        height=height, width=width, dates=dates, factor=factor, seed=seed, flood_from=flood_from
    )
    out = Path(out_dir)
    grid = Grid(
        crs=CRS.from_epsg(EPSG),
        transform=Affine(PIXEL_SIZE, 0.0, ORIGIN[0], 0.0, -PIXEL_SIZE, ORIGIN[1]),
        width=width,
        height=height,
        count=len(BAND_NAMES),
        dtype="int16",
        nodata=NODATA,
        descriptions=BAND_NAMES,
    )
    common = {"synthetic": "true", "generator": "est_stfm.datasets.synthetic", "seed": str(seed)}
    fine, coarse = {}, {}
    for i, day in enumerate(series.dates):
        for kind, stack, paths in (("fine", series.fine, fine), ("coarse", series.coarse, coarse)):
            path = out / f"{kind}_{day.isoformat()}.tif"
            tags = {**common, "sensor": kind, "date": day.isoformat()}
            if kind == "coarse":
                tags["coarse_factor"] = str(factor)
            write_raster(path, stack[i], grid, scale=SCALE, tags=tags)
            paths[day] = path
    flood_tag = "none" if series.flood_from is None else series.dates[series.flood_from].isoformat()
    truth = np.stack([series.landcover, series.flood.astype(np.uint8)])
    truth_grid = Grid(
        grid.crs, grid.transform, width, height, 2, "uint8", None, ("landcover", "flood")
    )
    write_raster(
        out / "landcover.tif",
        truth,
        truth_grid,
        tags={
            **common,
            "classes": ",".join(f"{i}={name}" for i, name in enumerate(CLASS_NAMES)),
            "flood_from": flood_tag,
        },
    )
    return save_scene(out / "scene.yaml", fine, coarse, scale=SCALE, coarse_factor=factor)
