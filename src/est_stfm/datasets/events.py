"""Abrupt changes between the dates of a pretraining scene: flood, fire, harvest, construction.

Each :class:`Event` happens on a day between two dates and shows from the next date on (a flood
may recede again): inside its box, the surface blends by the event's cover ``fraction`` towards a
new spectrum. Sizes are drawn from a quarter of a coarse pixel to three coarse pixels in radius,
so some changes are invisible in a coarse pixel and others fill many. Shapes:

* flood: a ragged blob grown from open water when there is some, turning it turbid;
* fire: a ragged blob of burnt vegetation only (char, dark in the NIR, hot), recovering towards
  soil and regrowth over months;
* harvest: whole crop fields around a point (sometimes cut along a straight front), green crop
  to residue;
* construction: a cluster of sharp-edged rectangles turning to concrete or roof.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from est_stfm.datasets.landscape import smooth_field
from est_stfm.datasets.sensors import THERMAL

EVENT_KINDS = ("flood", "fire", "harvest", "construction")
"""The kinds of abrupt change a pretraining scene can hold."""

Box = tuple[int, int, int, int]
"""``(row0, row1, col0, col1)``, ends excluded."""


@dataclass(frozen=True)
class Ground:
    """What the events need to know of the land: field ids and where each kind can happen."""

    fields: np.ndarray
    """``(H, W)`` field ids."""
    water: np.ndarray
    """``(H, W)`` bool: open water (floods start there)."""
    vegetated: np.ndarray
    """``(H, W)`` bool: vegetation that can burn."""
    cropland: np.ndarray
    """``(H, W)`` bool: crops that can be harvested."""


@dataclass(frozen=True)
class Event:
    """One abrupt change; spectra are in the scene's channels."""

    kind: str
    first: int
    """Index of the first date showing it."""
    last: int
    """Index of the last date showing it (inclusive)."""
    day: float
    """When it happened, in days after the first date (between dates ``first - 1`` and
    ``first``)."""
    box: Box
    fraction: np.ndarray
    """``(h, w)`` cover in [0, 1] inside ``box``."""
    texture: np.ndarray
    """``(h, w)`` brightness of the new surface (reflectance only)."""
    start: np.ndarray
    """``(C,)`` spectrum just after the event."""
    end: np.ndarray
    """``(C,)`` spectrum it recovers towards (``start`` when it does not)."""
    recovery_days: float
    """e-folding time of the recovery (``inf``: none)."""

    @property
    def area(self) -> float:
        """Changed area in fine pixels."""
        return float(self.fraction.sum())

    def spectrum(self, day: float) -> np.ndarray:
        """The new surface's spectrum ``(C,)`` on ``day`` (days after the first date)."""
        weight = math.exp(-max(day - self.day, 0.0) / self.recovery_days)
        return self.end + weight * (self.start - self.end)


def apply_events(
    surface: np.ndarray,
    channels: Sequence[str],
    events: Sequence[Event],
    index: int,
    day: float,
) -> None:
    """Change ``surface`` (C, H, W) of date ``index`` (``day`` days after the first) in place by
    every event showing on it, in the order given."""
    reflective = np.array([c != THERMAL for c in channels])[:, None, None]
    for event in events:
        if not event.first <= index <= event.last:
            continue
        r0, r1, c0, c1 = event.box
        target = event.spectrum(day)[:, None, None] * np.where(reflective, event.texture, 1.0)
        patch = surface[:, r0:r1, c0:c1]
        patch += event.fraction * (target - patch)


def _pick(rng: np.random.Generator, where: np.ndarray) -> tuple[float, float]:
    """A random pixel of ``where`` (anywhere when it is empty), as a centre ``(row, col)``."""
    rows, cols = np.nonzero(where)
    if len(rows) == 0:
        return float(rng.uniform(0, where.shape[0])), float(rng.uniform(0, where.shape[1]))
    i = rng.integers(len(rows))
    return float(rows[i]) + 0.5, float(cols[i]) + 0.5


def _box_around(
    centre: tuple[float, float], reach: float, shape: tuple[int, int]
) -> tuple[Box, np.ndarray, np.ndarray]:
    """The box of pixels within ``reach`` of ``centre`` and its pixel-centre coordinates."""
    cy, cx = centre
    r0, r1 = max(0, math.floor(cy - reach)), min(shape[0], math.ceil(cy + reach))
    c0, c1 = max(0, math.floor(cx - reach)), min(shape[1], math.ceil(cx + reach))
    yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float32) + 0.5
    return (r0, r1, c0, c1), yy, xx


def _blob(
    rng: np.random.Generator,
    shape: tuple[int, int],
    centre: tuple[float, float],
    radius: float,
    roughness: float,
) -> tuple[Box, np.ndarray]:
    """A ragged disk: cover in [0, 1] with a one-pixel soft edge."""
    box, yy, xx = _box_around(centre, radius * (1 + 1.2 * roughness) + 1, shape)
    noise = np.clip(smooth_field(rng, yy.shape, max(1.0, radius / 3)), -1.2, 1.2)
    edge = radius * (1.0 + roughness * noise)
    distance = np.hypot(yy - centre[0], xx - centre[1])
    return box, np.clip(edge - distance + 0.5, 0.0, 1.0).astype(np.float32)


def _fields_near(
    rng: np.random.Generator, ground: Ground, centre: tuple[float, float], radius: float
) -> tuple[Box, np.ndarray]:
    """Crop fields with a pixel within ``radius`` of ``centre``, sometimes cut by a front."""
    shape = ground.fields.shape
    box, yy, xx = _box_around(centre, radius, shape)
    r0, r1, c0, c1 = box
    near = np.hypot(yy - centre[0], xx - centre[1]) <= max(radius, 0.8)
    crop = ground.cropland[r0:r1, c0:c1]
    chosen = np.unique(ground.fields[r0:r1, c0:c1][near & crop])
    cover = np.isin(ground.fields, chosen) & ground.cropland
    if rng.random() < 0.3:  # harvest still under way: only one side of a straight front
        angle = rng.uniform(0, 2 * np.pi)
        yy_all, xx_all = np.mgrid[0 : shape[0], 0 : shape[1]]
        cover &= (yy_all - centre[0]) * np.sin(angle) + (xx_all - centre[1]) * np.cos(angle) < 0
    if not cover.any():
        return box, np.zeros((r1 - r0, c1 - c0), np.float32)
    rows, cols = np.nonzero(cover)
    box = (int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
    return box, cover[box[0] : box[1], box[2] : box[3]].astype(np.float32)


def _buildings(
    rng: np.random.Generator, shape: tuple[int, int], centre: tuple[float, float], radius: float
) -> tuple[Box, np.ndarray, np.ndarray]:
    """Sharp-edged rectangles around ``centre`` (cover and a brightness per rectangle)."""
    box, yy, xx = _box_around(centre, 1.5 * radius + 1, shape)
    cover = np.zeros(yy.shape, np.float32)
    texture = np.ones(yy.shape, np.float32)
    for _ in range(1 + min(11, int(rng.poisson(radius / 4)))):
        oy, ox = rng.uniform(-1, 1, 2) * radius
        hy, hx = rng.uniform(1.0, max(1.5, radius / 2), 2)
        rect = (np.abs(yy - centre[0] - oy) < hy) & (np.abs(xx - centre[1] - ox) < hx)
        cover[rect] = 1.0
        texture[rect] = rng.uniform(0.75, 1.25)
    return box, cover, texture


def draw_events(
    rng: np.random.Generator,
    n: int,
    kinds: Sequence[str],
    ground: Ground,
    days: Sequence[float],
    factor: int,
    spectra: dict[str, np.ndarray],
) -> list[Event]:
    """``n`` events of the given kinds over dates ``days`` (days after the first date), in the
    order they happen; none when there is a single date."""
    shape = ground.fields.shape
    if len(days) < 2 or not kinds:
        return []
    events = []
    for _ in range(n):
        kind = str(kinds[rng.integers(len(kinds))])
        first = int(rng.integers(1, len(days)))
        day = float(rng.uniform(days[first - 1], days[first]))
        last = len(days) - 1
        radius = factor * math.exp(rng.uniform(math.log(0.25), math.log(3.0)))
        radius = max(1.5, min(radius, min(shape) / 3))
        texture_scale = 0.03
        recovery = math.inf
        if kind == "flood":
            box, cover = _blob(rng, shape, _pick(rng, ground.water), radius, 0.45)
            start = end = spectra["turbid_water"]
            if rng.random() < 0.4:  # the water recedes again
                last = int(rng.integers(first, len(days)))
        elif kind == "fire":
            box, cover = _blob(rng, shape, _pick(rng, ground.vegetated), radius, 0.5)
            cover *= ground.vegetated[box[0] : box[1], box[2] : box[3]]
            start = spectra["char"]
            end = 0.6 * spectra["dry_soil"] + 0.4 * spectra["green_vegetation"]
            recovery = float(rng.uniform(60.0, 400.0))
            texture_scale = 0.06
        elif kind == "harvest":
            box, cover = _fields_near(rng, ground, _pick(rng, ground.cropland), radius)
            start = end = spectra["crop_residue"]
        else:
            box, cover, texture = _buildings(rng, shape, _pick(rng, ~ground.water), radius)
            start = end = spectra["roof" if rng.random() < 0.5 else "concrete"]
        if kind != "construction":
            texture = 1.0 + texture_scale * smooth_field(rng, cover.shape, 1.5)
        events.append(
            Event(
                kind, first, last, day, box, cover, texture.astype(np.float32), start, end, recovery
            )
        )
    return sorted(events, key=lambda e: e.day)
