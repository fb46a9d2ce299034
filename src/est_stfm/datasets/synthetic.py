"""A seeded generator of SYNTHETIC Landsat/MODIS-like time series (not real data).

Nothing here is measured: the images are simulated so that the package can be demonstrated and
tested without downloading satellite data, and every GeoTIFF written here carries the tag
``synthetic=true``. The simulation aims to make fusion a real task rather than to be accurate:

* a land-cover map of fields (an approximate Voronoi partition) with water, bare soil, three crop
  types, forest and urban classes, a meandering river and straight roads (sharp edges);
* per-class six-band spectra (blue, green, red, NIR, SWIR1, SWIR2) mixed between a soil and a
  green-vegetation end member by a per-class seasonal greenness curve (a double logistic; one crop
  senesces, one greens up, one is harvested abruptly), shifted a little per field, with static
  within-field texture and sensor noise, so fields change differently between dates;
* an abrupt change: a flood along the river from a chosen date on;
* coarse (MODIS-like, ``factor`` fine pixels wide) images from the fine surface by a Gaussian
  point-spread blur, block averaging, a per-band gain and bias, per-date atmospheric differences
  and noise, then bilinear resampling back onto the fine grid (as real STF inputs are prepared).

Only numpy is used (no scipy).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from est_stfm.errors import EstStfmError
from est_stfm.io import Grid, write_raster
from est_stfm.scene.scene import parse_date, save_scene

BAND_NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")
CLASS_NAMES = (
    "water",
    "bare_soil",
    "crop_early",
    "crop_late",
    "crop_harvested",
    "forest",
    "urban",
    "road",
)
"""Land-cover codes of the synthetic map: the index in this tuple is the code."""

WATER, BARE, CROP_EARLY, CROP_LATE, CROP_HARVESTED, FOREST, URBAN, ROAD = range(len(CLASS_NAMES))

SCALE = 0.0001
NODATA = -9999.0
EPSG = 32655
PIXEL_SIZE = 30.0
ORIGIN = (500_000.0, 4_800_000.0)
FIELD_SIZE = 24
"""Typical field width in fine pixels (fields are cells of a jittered lattice of this spacing)."""

DEFAULT_START = dt.date(2001, 5, 8)
DEFAULT_STEP_DAYS = 16

# End-member reflectance spectra (blue, green, red, NIR, SWIR1, SWIR2).
_SPECTRA = {
    "green_vegetation": (0.030, 0.070, 0.040, 0.420, 0.200, 0.090),
    "forest_canopy": (0.025, 0.050, 0.030, 0.320, 0.150, 0.060),
    "dry_soil": (0.100, 0.140, 0.180, 0.240, 0.320, 0.270),
    "moist_soil": (0.070, 0.100, 0.130, 0.190, 0.260, 0.210),
    "crop_residue": (0.090, 0.120, 0.150, 0.260, 0.340, 0.260),
    "forest_floor": (0.040, 0.060, 0.070, 0.200, 0.200, 0.120),
    "clear_water": (0.060, 0.050, 0.030, 0.015, 0.008, 0.005),
    "turbid_water": (0.090, 0.100, 0.090, 0.050, 0.020, 0.010),
    "urban": (0.120, 0.130, 0.140, 0.200, 0.240, 0.210),
    "asphalt": (0.080, 0.090, 0.100, 0.120, 0.150, 0.140),
}

# Per class: background end member, vegetation end member, greenness base and amplitude,
# start and end of season (day of year), rise and fall time constants (days), texture strength.
_PHENOLOGY = {
    WATER: ("clear_water", "clear_water", 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.01),
    BARE: ("dry_soil", "green_vegetation", 0.05, 0.0, 0.0, 0.0, 1.0, 1.0, 0.05),
    CROP_EARLY: ("crop_residue", "green_vegetation", 0.05, 0.85, 105.0, 180.0, 8.0, 7.0, 0.04),
    CROP_LATE: ("moist_soil", "green_vegetation", 0.05, 0.90, 170.0, 265.0, 7.0, 8.0, 0.04),
    CROP_HARVESTED: ("crop_residue", "green_vegetation", 0.05, 0.85, 138.0, 188.0, 6.0, 1.5, 0.04),
    FOREST: ("forest_floor", "forest_canopy", 0.55, 0.40, 128.0, 290.0, 9.0, 10.0, 0.06),
    URBAN: ("urban", "green_vegetation", 0.10, 0.05, 140.0, 250.0, 10.0, 10.0, 0.08),
    ROAD: ("asphalt", "asphalt", 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.02),
}

# Share of fields per class (rivers and roads are drawn over the fields afterwards).
_CLASS_SHARE = {
    WATER: 0.05,
    BARE: 0.10,
    CROP_EARLY: 0.21,
    CROP_LATE: 0.21,
    CROP_HARVESTED: 0.15,
    FOREST: 0.17,
    URBAN: 0.11,
}

FINE_NOISE = 0.003
"""Standard deviation of the fine sensor noise (reflectance)."""


def default_dates() -> list[dt.date]:
    """Six dates 16 days apart (the Landsat revisit) over the main growing season of 2001."""
    return [DEFAULT_START + dt.timedelta(days=DEFAULT_STEP_DAYS * i) for i in range(6)]


# ----------------------------------------------------------------------------------------------
# Degradation: the fine -> coarse operator
# ----------------------------------------------------------------------------------------------


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, math.ceil(3.0 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _convolve_axis(a: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """Convolve along ``axis`` with a symmetric kernel, mirroring the edges."""
    radius = len(kernel) // 2
    n = a.shape[axis]
    pad = [(0, 0)] * a.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(a, pad, mode="symmetric")
    out = np.zeros_like(a)
    for i, weight in enumerate(kernel):
        out += weight * np.take(padded, np.arange(i, i + n), axis=axis)
    return out


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A separable Gaussian blur over the last two axes (mirrored edges); ``sigma`` in pixels."""
    out = np.asarray(image, dtype=np.result_type(image, np.float32))
    if sigma <= 0:
        return out.copy()
    kernel = _gaussian_kernel(sigma)
    return _convolve_axis(_convolve_axis(out, kernel, -2), kernel, -1)


def _block_counts(n: int, factor: int) -> np.ndarray:
    stops = np.minimum(np.arange(1, math.ceil(n / factor) + 1) * factor, n)
    return stops - np.arange(len(stops)) * factor


def block_average(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor x factor`` blocks of the last two axes; partial edge blocks are averaged
    over the pixels they have. Output size is ``ceil(H / factor) x ceil(W / factor)``."""
    a = np.asarray(image)
    h, w = a.shape[-2:]
    hc, wc = math.ceil(h / factor), math.ceil(w / factor)
    pad = [(0, 0)] * (a.ndim - 2) + [(0, hc * factor - h), (0, wc * factor - w)]
    padded = np.pad(a, pad)
    sums = padded.reshape(*a.shape[:-2], hc, factor, wc, factor).sum(axis=(-3, -1))
    counts = np.outer(_block_counts(h, factor), _block_counts(w, factor))
    return (sums / counts).astype(np.result_type(a, np.float32))


def blur_and_block_average(
    fine: np.ndarray, factor: int, psf_sigma: float | None = None
) -> np.ndarray:
    """The pure fine -> coarse operator: Gaussian PSF blur, then ``factor`` block averaging.

    Works on the last two axes of ``fine`` (e.g. ``(bands, H, W)``) and returns the coarse-grid
    array ``(..., ceil(H / factor), ceil(W / factor))``. ``psf_sigma`` is in fine pixels; ``None``
    means ``factor / 4`` (together with the box of the block average, a sensor footprint of about
    1.2 coarse pixels). No gain, bias or noise: use it as a physical consistency operator.
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    sigma = factor / 4.0 if psf_sigma is None else float(psf_sigma)
    return block_average(gaussian_blur(fine, sigma), factor)


def upsample_bilinear(coarse: np.ndarray, shape: tuple[int, int], factor: int) -> np.ndarray:
    """Bilinear resampling of a coarse grid (from :func:`block_average`) back onto the fine grid.

    Each coarse pixel's value sits at the centre of the fine pixels it covers (partial edge blocks
    included); fine pixels between centres are interpolated, those beyond the outer centres take
    the edge value. Works on the last two axes.
    """
    a = np.asarray(coarse)
    out = a
    for axis, n in ((-2, shape[0]), (-1, shape[1])):
        nc = a.shape[axis]
        starts = np.arange(nc) * factor
        stops = np.minimum(starts + factor, n)
        centres = (starts + stops - 1) / 2.0
        pos = np.interp(np.arange(n, dtype=np.float64), centres, np.arange(nc, dtype=np.float64))
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, nc - 1)
        frac = (pos - i0).astype(out.dtype)
        shape_w = [1] * out.ndim
        shape_w[axis] = n
        frac = frac.reshape(shape_w)
        out = np.take(out, i0, axis=axis) * (1 - frac) + np.take(out, i1, axis=axis) * frac
    return out


def degrade_to_coarse(
    fine: np.ndarray,
    factor: int = 16,
    psf_sigma: float | None = None,
    rng: np.random.Generator | int | None = None,
    gain: float | Sequence[float] | np.ndarray | None = None,
    bias: float | Sequence[float] | np.ndarray | None = None,
    noise: float = 0.003,
) -> np.ndarray:
    """A MODIS-like image of ``fine`` ``(bands, H, W)``, resampled back onto the fine grid.

    :func:`blur_and_block_average`, then ``gain * x + bias`` per band (``None``: drawn from ``rng``,
    gain in [0.96, 1.04], bias in [-0.008, 0.008]), Gaussian noise of std ``noise`` per coarse
    pixel, then :func:`upsample_bilinear` to ``(bands, H, W)``. ``rng`` is a generator or a seed
    (``None``: seed 0, so the result is deterministic).
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng or 0)
    a = np.asarray(fine, dtype=np.float32)
    bands = a.shape[0] if a.ndim >= 3 else 1
    per_band = (bands, 1, 1) if a.ndim >= 3 else (1, 1)
    g = rng.uniform(0.96, 1.04, bands) if gain is None else np.broadcast_to(gain, (bands,))
    b = rng.uniform(-0.008, 0.008, bands) if bias is None else np.broadcast_to(bias, (bands,))
    coarse = blur_and_block_average(a, factor, psf_sigma)
    coarse = coarse * np.asarray(g, np.float32).reshape(per_band)
    coarse = coarse + np.asarray(b, np.float32).reshape(per_band)
    if noise > 0:
        coarse = coarse + rng.normal(0.0, noise, coarse.shape).astype(np.float32)
    return upsample_bilinear(coarse, a.shape[-2:], factor).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# The simulated surface
# ----------------------------------------------------------------------------------------------


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


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std spatially correlated noise."""
    field = gaussian_blur(rng.standard_normal(shape).astype(np.float32), sigma)
    return (field - field.mean()) / max(float(field.std()), 1e-6)


def _fields(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Field ids: nearest seed of a jittered lattice (a Voronoi partition, 3x3 neighbours)."""
    s = FIELD_SIZE
    ny, nx = math.ceil(height / s), math.ceil(width / s)
    seeds_y = (np.arange(ny)[:, None] + rng.uniform(0.1, 0.9, (ny, nx))) * s
    seeds_x = (np.arange(nx)[None, :] + rng.uniform(0.1, 0.9, (ny, nx))) * s
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = (yy // s).astype(int), (xx // s).astype(int)
    best = np.full((height, width), np.inf, dtype=np.float32)
    ids = np.zeros((height, width), dtype=np.int64)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ty, tx = cy + dy, cx + dx
            inside = (ty >= 0) & (ty < ny) & (tx >= 0) & (tx < nx)
            ty, tx = np.clip(ty, 0, ny - 1), np.clip(tx, 0, nx - 1)
            # slightly anisotropic distance: fields a little wider than tall, like parcels
            d = ((yy - seeds_y[ty, tx]) * 1.2) ** 2 + (xx - seeds_x[ty, tx]) ** 2
            d = np.where(inside, d, np.inf)
            closer = d < best
            best = np.where(closer, d, best)
            ids = np.where(closer, ty * nx + tx, ids)
    return ids


def _assign_classes(rng: np.random.Generator, n_fields: int) -> np.ndarray:
    classes = np.array(list(_CLASS_SHARE), dtype=np.int64)
    share = np.array(list(_CLASS_SHARE.values()))
    out = rng.choice(classes, size=n_fields, p=share / share.sum())
    order = rng.permutation(n_fields)
    k = min(n_fields, len(classes))
    out[order[:k]] = classes[rng.permutation(len(classes))[:k]]  # every class at least once
    return out


def _greenness(
    t: float,
    base: np.ndarray,
    amp: np.ndarray,
    sos: np.ndarray,
    eos: np.ndarray,
    k_up: np.ndarray,
    k_down: np.ndarray,
) -> np.ndarray:
    """Double-logistic seasonal greenness in [0, 1] at day ``t``."""
    rise = 1.0 / (1.0 + np.exp(-(t - sos) / k_up))
    fall = 1.0 / (1.0 + np.exp(-(t - eos) / k_down))
    return np.clip(base + amp * (rise - fall), 0.0, 1.0)


def _line_fraction(distance: np.ndarray, half_width: float) -> np.ndarray:
    """Pixel cover of a linear feature from the distance to its centre line (1-pixel edge)."""
    return np.clip(half_width - distance + 0.5, 0.0, 1.0).astype(np.float32)


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
    first_flood = None
    if flood_from is not None:
        first_flood = flood_from + len(days) if flood_from < 0 else flood_from
        if not 0 <= first_flood < len(days):
            raise EstStfmError(
                f"flood_from={flood_from} is outside the {len(days)} dates: "
                "give an index into the dates, or None for no flood"
            )

    rng = np.random.default_rng(seed)
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    # fields and their classes, with per-field phenology and brightness jitter
    field_ids = _fields(rng, h, w)
    n_fields = int(field_ids.max()) + 1
    field_class = _assign_classes(rng, n_fields)
    field_shift = rng.normal(0.0, 6.0, n_fields)
    field_amp = rng.uniform(0.85, 1.05, n_fields)
    field_bright = rng.uniform(0.92, 1.08, n_fields)
    landcover = field_class[field_ids].astype(np.uint8)

    # a meandering river (3 pixels wide) and two straight roads (about 2 pixels)
    phase = rng.uniform(0, 2 * np.pi, 2)
    river_x = (
        w * rng.uniform(0.35, 0.65)
        + 0.10 * w * np.sin(2 * np.pi * yy[:, :1] / (0.9 * h) + phase[0])
        + 0.03 * w * np.sin(2 * np.pi * yy[:, :1] / (0.25 * h) + phase[1])
    )
    river_dist = np.abs(xx - river_x)
    river = _line_fraction(river_dist, 1.5)
    road = np.zeros((h, w), dtype=np.float32)
    for _ in range(2):
        y0, x0 = rng.uniform(0, h), rng.uniform(0, w)
        angle = rng.uniform(0, np.pi)
        dist = np.abs((xx - x0) * np.sin(angle) - (yy - y0) * np.cos(angle))
        road = np.maximum(road, _line_fraction(dist, 0.8))
    landcover[river > 0.5] = WATER
    landcover[road > 0.5] = ROAD

    # the flood: a stretch of the valley along the river, with a ragged shore
    centre = rng.uniform(0.35, 0.65) * h
    reach = 0.28 * h
    half_width = 0.13 * w * np.exp(-(((yy - centre) / reach) ** 4))
    shore = half_width * (1.0 + 0.35 * _smooth_noise(rng, (h, w), 4.0))
    flood_frac = np.clip(shore - river_dist + 0.5, 0.0, 1.0).astype(np.float32)
    flood_frac[half_width < 1.0] = 0.0
    flood = flood_frac > 0.5

    # static texture and per-class parameters mapped to pixels
    texture = _smooth_noise(rng, (h, w), 1.5)
    params = np.array([_PHENOLOGY[c][2:] for c in range(len(CLASS_NAMES))], dtype=np.float64)
    base, amp, sos, eos, k_up, k_down, tex = (params[landcover, i] for i in range(7))
    shift = field_shift[field_ids]
    amp = amp * field_amp[field_ids]
    sos, eos = sos + shift, eos + shift
    bright = (field_bright[field_ids] * (1.0 + tex * texture)).astype(np.float32)
    spectra = {k: np.array(v, dtype=np.float32) for k, v in _SPECTRA.items()}
    background = np.stack([spectra[_PHENOLOGY[c][0]] for c in range(len(CLASS_NAMES))])
    vegetation = np.stack([spectra[_PHENOLOGY[c][1]] for c in range(len(CLASS_NAMES))])
    back_px = np.moveaxis(background[landcover], -1, 0)  # (bands, H, W)
    veg_px = np.moveaxis(vegetation[landcover], -1, 0)
    for fraction, name in ((river, "clear_water"), (road, "asphalt")):
        back_px += fraction * (spectra[name][:, None, None] - back_px)
        veg_px += fraction * (spectra[name][:, None, None] - veg_px)
    line = np.maximum(river, road)
    # linear features have no phenology of their own
    base, amp = base * (1 - line), amp * (1 - line)
    turbid = spectra["turbid_water"][:, None, None] * (1.0 + 0.02 * texture)

    bands = len(BAND_NAMES)
    gain = rng.uniform(0.96, 1.04, bands)  # a fixed radiometric difference between sensors
    bias = rng.uniform(-0.008, 0.008, bands)
    year_start = dt.date(days[0].year, 1, 1)
    fine_stack = np.empty((len(days), bands, h, w), dtype=np.float32)
    coarse_stack = np.empty_like(fine_stack)
    for i, day in enumerate(days):
        t = float((day - year_start).days + 1)
        green = _greenness(t, base, amp, sos, eos, k_up, k_down).astype(np.float32)
        surface = (back_px + green * (veg_px - back_px)) * bright
        if first_flood is not None and i >= first_flood:
            surface += flood_frac * (turbid - surface)
        surface = np.clip(surface, 0.0, 1.0)
        noisy = surface + rng.normal(0.0, FINE_NOISE, surface.shape).astype(np.float32)
        fine_stack[i] = np.clip(noisy, 0.0, 1.0)
        # per-date atmosphere / view-angle differences on top of the fixed sensor difference
        day_gain = gain * rng.normal(1.0, 0.01, bands)
        day_bias = bias + rng.normal(0.0, 0.003, bands)
        coarse = degrade_to_coarse(surface, factor, None, rng, day_gain, day_bias, noise=0.003)
        coarse_stack[i] = np.clip(coarse, 0.0, 1.0)
    return SyntheticSeries(days, fine_stack, coarse_stack, landcover, flood, first_flood, factor)


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
