"""The simulated land surface behind the SYNTHETIC scenes: fields, classes, spectra, phenology.

Nothing here is measured; it only has to make fusion a real task:

* a land-cover map of fields (an approximate Voronoi partition) with water, bare soil, three crop
  types, forest and urban classes, a meandering river and straight roads (sharp edges);
* per-class six-band spectra (blue, green, red, NIR, SWIR1, SWIR2) mixed between a soil and a
  green-vegetation end member by a per-class seasonal greenness curve (a double logistic; one crop
  senesces, one greens up, one is harvested abruptly), shifted a little per field, with static
  within-field texture, so fields change differently between dates;
* a flood zone along the river that the series turns to turbid water from a chosen date on.

:func:`make_landscape` draws all of it from one generator; :meth:`Landscape.surface` gives the
noise-free reflectance on a day of the year. Sensors and dates: :mod:`est_stfm.datasets.synthetic`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from est_stfm.datasets.degrade import gaussian_blur, upsample_bilinear

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

FIELD_SIZE = 24
"""Typical field width in fine pixels (fields are cells of a jittered lattice of this spacing)."""

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


@dataclass(frozen=True)
class Phenology:
    """Per-pixel parameters of a double-logistic greenness curve (days of the year)."""

    base: np.ndarray
    amp: np.ndarray
    sos: np.ndarray
    """Start of season: the middle of the rise."""
    eos: np.ndarray
    """End of season: the middle of the fall."""
    k_up: np.ndarray
    k_down: np.ndarray

    def greenness(self, t: float) -> np.ndarray:
        """Seasonal greenness in [0, 1] at day ``t``."""
        rise = 1.0 / (1.0 + np.exp(-(t - self.sos) / self.k_up))
        fall = 1.0 / (1.0 + np.exp(-(t - self.eos) / self.k_down))
        return np.clip(self.base + self.amp * (rise - fall), 0.0, 1.0)


@dataclass(frozen=True)
class Landscape:
    """The static surface of a synthetic scene; ``(bands, H, W)`` arrays are float32."""

    landcover: np.ndarray
    """``(H, W)`` uint8 class codes (see :data:`CLASS_NAMES`), before any flood."""
    flood: np.ndarray
    """``(H, W)`` bool: the pixels mostly under water once flooded."""
    flood_fraction: np.ndarray
    """``(H, W)`` share of each pixel under water once flooded (a soft shore)."""
    background: np.ndarray
    """Soil (or water, asphalt) end member per pixel, ``(bands, H, W)``."""
    vegetation: np.ndarray
    """Green end member per pixel, ``(bands, H, W)``."""
    brightness: np.ndarray
    """``(H, W)`` per-field brightness times the static texture."""
    turbid: np.ndarray
    """Flood-water spectrum per pixel, ``(bands, H, W)``."""
    phenology: Phenology

    def surface(self, day_of_year: float, flooded: bool) -> np.ndarray:
        """Noise-free reflectance ``(bands, H, W)`` in [0, 1] on ``day_of_year``."""
        green = self.phenology.greenness(day_of_year).astype(np.float32)
        back = self.background
        surface = (back + green * (self.vegetation - back)) * self.brightness
        if flooded:
            surface += self.flood_fraction * (self.turbid - surface)
        return np.clip(surface, 0.0, 1.0)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std spatially correlated noise."""
    field = gaussian_blur(rng.standard_normal(shape).astype(np.float32), sigma)
    return (field - field.mean()) / max(float(field.std()), 1e-6)


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Zero-mean, unit-std noise correlated over about ``scale`` pixels; for ``scale`` above 4 it
    is drawn on a grid ``scale / 2`` times coarser and resampled bilinearly (fast at any scale)."""
    step = max(1, int(scale // 2)) if scale > 4 else 1
    small = (-(-shape[0] // step), -(-shape[1] // step))
    field = _smooth_noise(rng, small, scale / step)
    if step > 1:
        field = upsample_bilinear(field, shape, step)
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
    """A class per field, drawn by :data:`_CLASS_SHARE`, every class at least once."""
    classes = np.array(list(_CLASS_SHARE), dtype=np.int64)
    share = np.array(list(_CLASS_SHARE.values()))
    out = rng.choice(classes, size=n_fields, p=share / share.sum())
    order = rng.permutation(n_fields)
    k = min(n_fields, len(classes))
    out[order[:k]] = classes[rng.permutation(len(classes))[:k]]
    return out


def _line_fraction(distance: np.ndarray, half_width: float) -> np.ndarray:
    """Pixel cover of a linear feature from the distance to its centre line (1-pixel edge)."""
    return np.clip(half_width - distance + 0.5, 0.0, 1.0).astype(np.float32)


def _river_and_roads(
    rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cover fractions of a meandering river (3 px wide) and two straight roads (about 2 px),
    and every pixel's distance to the river's centre line."""
    h, w = yy.shape
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
    return river, road, river_dist


def _flood_fraction(rng: np.random.Generator, yy: np.ndarray, river_dist: np.ndarray) -> np.ndarray:
    """Water cover of a flooded stretch of the valley along the river, with a ragged shore."""
    h, w = yy.shape
    centre = rng.uniform(0.35, 0.65) * h
    reach = 0.28 * h
    half_width = 0.13 * w * np.exp(-(((yy - centre) / reach) ** 4))
    shore = half_width * (1.0 + 0.35 * _smooth_noise(rng, (h, w), 4.0))
    fraction = np.clip(shore - river_dist + 0.5, 0.0, 1.0).astype(np.float32)
    fraction[half_width < 1.0] = 0.0
    return fraction


def make_landscape(rng: np.random.Generator, height: int, width: int) -> Landscape:
    """Draw a landscape of ``height x width`` fine pixels from ``rng`` (deterministic per state)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)

    field_ids = _fields(rng, height, width)
    n_fields = int(field_ids.max()) + 1
    field_class = _assign_classes(rng, n_fields)
    field_shift = rng.normal(0.0, 6.0, n_fields)
    field_amp = rng.uniform(0.85, 1.05, n_fields)
    field_bright = rng.uniform(0.92, 1.08, n_fields)
    landcover = field_class[field_ids].astype(np.uint8)

    river, road, river_dist = _river_and_roads(rng, yy, xx)
    landcover[river > 0.5] = WATER
    landcover[road > 0.5] = ROAD
    flood_fraction = _flood_fraction(rng, yy, river_dist)

    texture = _smooth_noise(rng, (height, width), 1.5)
    params = np.array([_PHENOLOGY[c][2:] for c in range(len(CLASS_NAMES))], dtype=np.float64)
    base, amp, sos, eos, k_up, k_down, tex = (params[landcover, i] for i in range(7))
    shift = field_shift[field_ids]
    amp = amp * field_amp[field_ids]
    bright = (field_bright[field_ids] * (1.0 + tex * texture)).astype(np.float32)

    spectra = {k: np.array(v, dtype=np.float32) for k, v in _SPECTRA.items()}
    background = np.stack([spectra[_PHENOLOGY[c][0]] for c in range(len(CLASS_NAMES))])
    vegetation = np.stack([spectra[_PHENOLOGY[c][1]] for c in range(len(CLASS_NAMES))])
    back_px = np.moveaxis(background[landcover], -1, 0)
    veg_px = np.moveaxis(vegetation[landcover], -1, 0)
    for fraction, name in ((river, "clear_water"), (road, "asphalt")):
        back_px += fraction * (spectra[name][:, None, None] - back_px)
        veg_px += fraction * (spectra[name][:, None, None] - veg_px)
    line = np.maximum(river, road)  # linear features have no phenology of their own
    phenology = Phenology(
        base * (1 - line), amp * (1 - line), sos + shift, eos + shift, k_up, k_down
    )
    return Landscape(
        landcover=landcover,
        flood=flood_fraction > 0.5,
        flood_fraction=flood_fraction,
        background=back_px,
        vegetation=veg_px,
        brightness=bright,
        turbid=spectra["turbid_water"][:, None, None] * (1.0 + 0.02 * texture),
        phenology=phenology,
    )
