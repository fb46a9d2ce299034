"""The land of the pretraining scenes (:mod:`est_stfm.datasets.pretraining`): zones, fields,
classes, phenology, river and roads, and the air temperature over the year.

Zones of farmland, forest, town or natural land are each cut into fields of their own size
(6-48 px: a Voronoi mosaic of random seeds with a drawn metric and stretch); each field takes a
class of :data:`CLASSES` by its zone's land use. A class is a soil-vegetation mix of end members
(:mod:`est_stfm.datasets.sensors`) driven by a double-logistic greenness curve whose timing and
amplitude are drawn per scene (evergreen, deciduous, one- and two-season crops, ...) and jittered
per field, with static texture and per-field brightness. :meth:`World.surface` gives the
noise-free surface channels on a day of the year.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from est_stfm.datasets.events import Ground
from est_stfm.datasets.landscape import Phenology, smooth_field
from est_stfm.datasets.sensors import THERMAL

# Per class: background and vegetation end members (est_stfm.datasets.sensors), then the ranges
# (drawn per scene) of the greenness base and amplitude, the start of season (day of year), the
# season length (days) and the rise and fall time constants (days, each drawn), and the texture
# strength.
# crop_double has a second season after the first.
_COVER_TABLE = """
water            clear_water  clear_water      0    0    0    0     100 100  100 100  5  5  .01
bare_soil        dry_soil     green_vegetation 0    .05  0    .08   90  160  60  120  8  15 .05
urban            concrete     green_vegetation .08  .2   .03  .1    90  140  120 200  8  15 .10
road             asphalt      asphalt          0    0    0    0     100 100  100 100  5  5  .02
evergreen_forest forest_floor forest_canopy    .75  .9   .03  .1    90  150  150 220  8  15 .06
deciduous_forest forest_floor green_vegetation .15  .3   .55  .75   100 140  150 190  6  12 .06
grassland        dry_soil     green_vegetation .15  .3   .3   .55   80  130  60  130  6  14 .05
shrubland        dry_soil     forest_canopy    .25  .4   .1   .25   90  150  100 160  8  15 .07
wetland          moist_soil   green_vegetation .2   .35  .4   .6    110 160  100 150  6  12 .05
crop_spring      crop_residue green_vegetation .03  .08  .75  .9    90  130  60  90   4  8  .04
crop_summer      moist_soil   green_vegetation .03  .08  .8   .95   150 200  70  110  4  8  .04
crop_double      crop_residue green_vegetation .03  .08  .7   .9    70  100  50  70   4  8  .04
"""


@dataclass(frozen=True)
class Cover:
    """One land-cover class: its end members and the ranges its phenology is drawn from."""

    name: str
    background: str
    vegetation: str
    ranges: tuple[tuple[float, float], ...]
    """``(low, high)`` of the greenness base and amplitude, the start of season, the season
    length and the rise and fall time constants (each drawn from the same range)."""
    texture: float


def _covers() -> tuple[Cover, ...]:
    rows = [row.split() for row in _COVER_TABLE.split("\n") if row]
    out = []
    for name, back, veg, *numbers in rows:
        values = [float(v) for v in numbers]
        ranges = tuple((values[i], values[i + 1]) for i in range(0, 10, 2))
        out.append(Cover(name, back, veg, ranges, values[10]))
    return tuple(out)


COVERS = _covers()
"""The land-cover classes, in code order."""

CLASSES = tuple(cover.name for cover in COVERS)
"""Land-cover class names: the index is the code in ``truth.tif``."""

WATER, BARE, URBAN, ROAD = range(4)
VEGETATED = tuple(range(4, len(CLASSES)))
CROPS = tuple(CLASSES.index(c) for c in ("crop_spring", "crop_summer", "crop_double"))

# Land uses of the zones: their share of the zones, then the weight of each class in their fields.
_ZONE_TABLE = """
farmland .45 crop_spring:3 crop_summer:3 crop_double:2 grassland:1 bare_soil:1 water:.15 urban:.3
forest   .25 evergreen_forest:3 deciduous_forest:3 shrubland:1 grassland:.5 water:.15
town     .10 urban:5 grassland:1 bare_soil:1 deciduous_forest:.5
natural  .20 grassland:2 shrubland:2 wetland:1.5 water:1 bare_soil:1 deciduous_forest:.5
"""
_ZONES = {
    use: (float(share), {c: float(w) for c, w in (item.split(":") for item in weights)})
    for use, share, *weights in (row.split() for row in _ZONE_TABLE.split("\n") if row)
}


@dataclass(frozen=True)
class World:
    """The static land of a scene; its surface on any day comes from :meth:`surface`."""

    channels: tuple[str, ...]
    landcover: np.ndarray
    """``(H, W)`` uint8 class codes (:data:`CLASSES`)."""
    fields: np.ndarray
    """``(H, W)`` field ids."""
    background: np.ndarray
    """``(C, H, W)`` soil (water, concrete, ...) spectrum of each pixel."""
    vegetation: np.ndarray
    """``(C, H, W)`` green spectrum of each pixel."""
    brightness: np.ndarray
    """``(H, W)`` reflectance multiplier (field brightness times texture)."""
    warmth: np.ndarray
    """``(H, W)`` static temperature texture (K)."""
    seasons: tuple[Phenology, ...]
    """Greenness is the largest of these curves."""

    def surface(self, day_of_year: float) -> np.ndarray:
        """The noise-free, event-free surface ``(C, H, W)`` on ``day_of_year``."""
        green = self.seasons[0].greenness(day_of_year)
        for season in self.seasons[1:]:
            green = np.maximum(green, season.greenness(day_of_year))
        green = green.astype(np.float32)
        surface = self.background + green * (self.vegetation - self.background)
        for c, name in enumerate(self.channels):
            if name == THERMAL:
                surface[c] += self.warmth
            else:
                surface[c] *= self.brightness
        return surface

    def ground(self) -> Ground:
        """Where events can happen."""
        cover = self.landcover
        return Ground(self.fields, cover == WATER, np.isin(cover, VEGETATED), np.isin(cover, CROPS))


def _zones(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """A zone id per pixel (a Voronoi partition with warped borders) and each zone's land use."""
    h, w = shape
    n = int(rng.integers(2, 7))
    seeds = rng.uniform(0, 1, (n, 2)) * (h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = 0.08 * max(h, w)
    qy = yy + warp * smooth_field(rng, shape, max(h, w) / 6)
    qx = xx + warp * smooth_field(rng, shape, max(h, w) / 6)
    zone = cKDTree(seeds).query(np.column_stack([qy.ravel(), qx.ravel()]))[1].reshape(shape)
    uses = list(_ZONES)
    share = np.array([_ZONES[use][0] for use in uses])
    return zone, [uses[i] for i in rng.choice(len(uses), n, p=share / share.sum())]


def _field_mosaic(
    rng: np.random.Generator, zone: np.ndarray, uses: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Field ids (nearest seed, each zone with its own field size) and each field's class."""
    h, w = zone.shape
    points, classes = [], []
    for z, use in enumerate(uses):
        size = math.exp(rng.uniform(math.log(6), math.log(48)))
        candidates = rng.uniform(0, 1, (math.ceil(h * w / size**2) + 1, 2)) * (h, w)
        inside = candidates[zone[candidates[:, 0].astype(int), candidates[:, 1].astype(int)] == z]
        if len(inside) == 0:
            rows, cols = np.nonzero(zone == z)
            if len(rows) == 0:  # the warp left this zone no pixel: it has no fields
                continue
            inside = np.array([[rows[len(rows) // 2], cols[len(cols) // 2]]], dtype=np.float64)
        names = list(_ZONES[use][1])
        weight = np.array(list(_ZONES[use][1].values()))
        drawn = rng.choice(len(names), len(inside), p=weight / weight.sum())
        points.append(inside)
        classes.extend(CLASSES.index(names[i]) for i in drawn)
    stretch = rng.uniform(1.0, 1.5)
    metric = (1.0, 2.0, np.inf)[rng.integers(3)]
    seeds = np.concatenate(points) * (stretch, 1.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    query = np.column_stack([yy.ravel() * stretch, xx.ravel()])
    fields = cKDTree(seeds).query(query, p=metric)[1].reshape(h, w)
    return fields.astype(np.int32), np.asarray(classes, dtype=np.uint8)


def _lines(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cover of a meandering river (in 60% of scenes) and of up to three straight roads."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    river = np.zeros(shape, np.float32)
    if rng.random() < 0.6:
        along, across, n_across = (yy, xx, w) if rng.random() < 0.5 else (xx, yy, h)
        phase = rng.uniform(0, 2 * np.pi, 2)
        centre = n_across * rng.uniform(0.2, 0.8) + n_across * (
            0.1 * np.sin(along / (0.15 * max(h, w) * rng.uniform(1, 4)) + phase[0])
            + 0.03 * np.sin(along / (0.04 * max(h, w) * rng.uniform(1, 3)) + phase[1])
        )
        river = np.clip(rng.uniform(1.0, 4.0) - np.abs(across - centre) + 0.5, 0, 1)
    road = np.zeros(shape, np.float32)
    for _ in range(int(rng.integers(0, 4))):
        y0, x0, angle = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0, np.pi)
        distance = np.abs((xx - x0) * np.sin(angle) - (yy - y0) * np.cos(angle))
        road = np.maximum(road, np.clip(rng.uniform(0.5, 1.2) - distance + 0.5, 0, 1))
    return river.astype(np.float32), road


def _seasons(
    rng: np.random.Generator, landcover: np.ndarray, fields: np.ndarray, lines: np.ndarray
) -> tuple[Phenology, ...]:
    """Per-pixel greenness curves: class parameters drawn per scene, jittered per field."""
    n_fields = int(fields.max()) + 1
    shift = rng.normal(0.0, 6.0, n_fields)[fields]
    amp_field = rng.uniform(0.85, 1.1, n_fields)[fields]
    table = np.zeros((len(CLASSES), 6))
    second = np.zeros((len(CLASSES), 3))  # amplitude, start, length of a second season
    for code, cover in enumerate(COVERS):
        table[code] = [rng.uniform(*r) for r in (*cover.ranges, cover.ranges[-1])]
        if cover.name == "crop_double":
            end = table[code, 2] + table[code, 3]
            second[code] = [table[code, 1], end + rng.uniform(30, 50), rng.uniform(50, 80)]
    p = table[landcover]
    keep = 1.0 - lines
    sos = p[..., 2] + shift
    first = Phenology(
        p[..., 0] * keep, p[..., 1] * amp_field * keep, sos, sos + p[..., 3], p[..., 4], p[..., 5]
    )
    s = second[landcover]
    if not s[..., 0].any():
        return (first,)
    start = s[..., 1] + shift
    zero = np.zeros_like(start)
    later = Phenology(
        zero, s[..., 0] * amp_field * keep, start, start + s[..., 2], p[..., 4], p[..., 5]
    )
    return first, later


def make_world(
    rng: np.random.Generator,
    shape: tuple[int, int],
    channels: Sequence[str],
    spectra: dict[str, np.ndarray],
) -> World:
    """Draw the land of a scene of ``shape`` fine pixels, in ``channels``."""
    zone, uses = _zones(rng, shape)
    fields, field_class = _field_mosaic(rng, zone, uses)
    landcover = field_class[fields]
    river, road = _lines(rng, shape)
    landcover[river > 0.5] = WATER
    landcover[road > 0.5] = ROAD
    back_table = np.stack([spectra[cover.background] for cover in COVERS])
    veg_table = np.stack([spectra[cover.vegetation] for cover in COVERS])
    background = np.moveaxis(back_table[landcover], -1, 0)
    vegetation = np.moveaxis(veg_table[landcover], -1, 0)
    for cover, name in ((river, "clear_water"), (road, "asphalt")):
        background += cover * (spectra[name][:, None, None] - background)
        vegetation += cover * (spectra[name][:, None, None] - vegetation)
    texture = smooth_field(rng, shape, 1.5)
    strength = np.array([cover.texture for cover in COVERS], dtype=np.float32)[landcover]
    field_bright = rng.uniform(0.9, 1.1, int(fields.max()) + 1).astype(np.float32)[fields]
    return World(
        channels=tuple(channels),
        landcover=landcover,
        fields=fields,
        background=np.ascontiguousarray(background),
        vegetation=np.ascontiguousarray(vegetation),
        brightness=field_bright * (1.0 + strength * texture),
        warmth=(1.5 * texture).astype(np.float32),
        seasons=_seasons(rng, landcover, fields, np.maximum(river, road)),
    )


@dataclass(frozen=True)
class Climate:
    """Air temperature over the year: ``mean + amplitude * sin(2 pi (doy - 105) / 365)``."""

    mean: float
    amplitude: float

    def air(self, day_of_year: float) -> float:
        return self.mean + self.amplitude * math.sin(2 * math.pi * (day_of_year - 105) / 365)


def draw_calendar(rng: np.random.Generator, n: int) -> tuple[list[dt.date], Climate]:
    """``n`` dates of one season (a drawn start, then 6-40 days apart) and its air temperature."""
    start = dt.date(int(rng.integers(2000, 2024)), 1, 1) + dt.timedelta(int(rng.integers(30, 230)))
    steps = np.concatenate([[0], np.cumsum(rng.integers(6, 41, n - 1))])
    climate = Climate(float(rng.uniform(280, 300)), float(rng.uniform(4, 14)))
    return [start + dt.timedelta(int(d)) for d in steps], climate
