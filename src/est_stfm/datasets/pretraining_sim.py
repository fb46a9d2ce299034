"""The simulation behind the pretraining scenes (:mod:`est_stfm.datasets.pretraining`): from
:class:`PretrainingSettings` to a :class:`PretrainingSeries` in memory.

Each scene is drawn from its seed alone, with its own random stream for the setup (coarse factor,
bands, dates), the land, the events, the sensors, the fine and coarse clouds and the noise, so
that switching events off, say, leaves everything else as it was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from est_stfm.datasets.events import EVENT_KINDS, Event, apply_events, draw_events
from est_stfm.datasets.pretraining_land import Climate, World, draw_calendar, make_world
from est_stfm.datasets.sensors import (
    BANDS,
    UNITS,
    Clouds,
    Sensors,
    channels_needed,
    draw_clouds,
    draw_sensors,
    end_members,
    observe,
)
from est_stfm.errors import EstStfmError

FACTORS = (8, 10, 12, 16, 20, 24, 32)
"""The coarse factors drawn when none is given."""


@dataclass
class PretrainingSeries:
    """A simulated pretraining scene in memory (values in the unit, float32)."""

    dates: list[dt.date]
    days: list[float]
    """Days after the first date."""
    unit: str
    bands: tuple[str, ...]
    """Band names of the product (``("ndvi",)`` / ``("lst",)`` for one-band units)."""
    fine: np.ndarray
    """``(dates, bands, H, W)``, clouds included where ``fine_clouds`` has some."""
    clear: np.ndarray
    """``(dates, bands, H, W)``: the fine images without clouds (same noise)."""
    coarse: np.ndarray
    """``(dates, bands, H, W)`` on the fine grid."""
    fine_clouds: dict[int, Clouds]
    coarse_masks: dict[int, np.ndarray]
    """Date index -> ``(H, W)`` uint8, 1 where the coarse pixel is cloudy."""
    coarse_cover: dict[int, float]
    world: World
    events: list[Event]
    sensors: Sensors
    climate: Climate

    def surface(self, index: int, events: bool = True) -> np.ndarray:
        """The noise-free surface channels ``(C, H, W)`` of date ``index``, with or without the
        events (channel names: ``world.channels``)."""
        surface = self.world.surface(self.day_of_year(index))
        if events:
            apply_events(surface, self.world.channels, self.events, index, self.days[index])
        return surface

    def day_of_year(self, index: int) -> float:
        day = self.dates[index]
        return float(day.toordinal() - dt.date(self.dates[0].year, 1, 1).toordinal() + 1)


@dataclass(frozen=True)
class PretrainingSettings:
    """Everything a pretraining scene is drawn from (see :func:`make_pretraining_scene`)."""

    seed: int
    height: int = 256
    width: int = 256
    n_dates: int = 5
    bands: int | tuple[str, ...] | None = None
    unit: str = "reflectance"
    factor: int | None = None
    n_events: int | None = None
    event_kinds: tuple[str, ...] = EVENT_KINDS
    cloud_probability: float = 0.4
    coarse_cloud_probability: float = 0.2
    misregistration: float | tuple[float, float] | None = None
    gain: float | tuple[float, ...] | None = None
    bias: float | tuple[float, ...] | None = None
    band_mix: float | None = None
    noise: tuple[float, float] | None = None


def _check(s: PretrainingSettings) -> None:
    """One-line errors for settings that cannot make a scene."""
    if not isinstance(s.seed, (int, np.integer)) or s.seed < 0:
        raise EstStfmError(f"seed must be a whole number >= 0, got {s.seed!r}")
    if s.unit not in UNITS:
        raise EstStfmError(f"unit must be one of {', '.join(UNITS)}, got {s.unit!r}")
    if s.n_dates < 1:
        raise EstStfmError(f"n_dates must be at least 1, got {s.n_dates}")
    if s.n_events is not None and s.n_events < 0:
        raise EstStfmError(f"n_events must be 0 or more (None: drawn), got {s.n_events}")
    if s.factor is not None and not 2 <= s.factor <= min(s.height, s.width) // 2:
        raise EstStfmError(
            f"factor {s.factor} does not fit a {s.height}x{s.width} scene: give 2 to half the "
            "smaller side (at least two coarse pixels across)"
        )
    if min(s.height, s.width) < 16:
        raise EstStfmError(f"scene size must be at least 16x16, got {s.height}x{s.width}")
    unknown = [k for k in s.event_kinds if k not in EVENT_KINDS]
    if unknown:
        raise EstStfmError(f"unknown event kind {unknown[0]!r}: use {', '.join(EVENT_KINDS)}")
    for name in ("cloud_probability", "coarse_cloud_probability"):
        if not 0.0 <= getattr(s, name) <= 1.0:
            raise EstStfmError(f"{name} must lie in [0, 1], got {getattr(s, name)}")


def _band_choice(rng: np.random.Generator, s: PretrainingSettings) -> tuple[str, ...]:
    """The product's band names: a drawn subset of ``bands`` Sentinel-2-like bands (the cirrus
    band only when all 13 are asked for), the names given, or one band for NDVI / Kelvin."""
    if s.unit != "reflectance":
        if s.bands not in (None, 1):
            raise EstStfmError(f"unit {s.unit} has one band, got bands={s.bands!r}")
        return ("ndvi",) if s.unit == "ndvi" else ("lst",)
    if s.bands is None or isinstance(s.bands, (int, np.integer)):
        n = 6 if s.bands is None else int(s.bands)
        if not 1 <= n <= len(BANDS):
            raise EstStfmError(f"bands must be 1 to {len(BANDS)}, got {n}")
        pool = [b for b in BANDS if b != "B10"] if n < len(BANDS) else list(BANDS)
        picked = set(rng.choice(len(pool), n, replace=False).tolist())
        return tuple(b for i, b in enumerate(pool) if i in picked)
    names = tuple(s.bands)
    bad = [b for b in names if b not in BANDS]
    if bad or not names or len(set(names)) != len(names):
        raise EstStfmError(f"bands must be distinct names of {', '.join(BANDS)}, got {names}")
    return names


def pretraining_series(settings: PretrainingSettings) -> PretrainingSeries:
    """Simulate a pretraining scene in memory (deterministic for its settings)."""
    s = settings
    _check(s)
    streams = [np.random.default_rng(c) for c in np.random.SeedSequence(s.seed).spawn(7)]
    setup, land, happen, sensing, fine_sky, coarse_sky, noise = streams
    factor = s.factor or int(setup.choice(FACTORS))
    factor = min(factor, min(s.height, s.width) // 2)
    bands = _band_choice(setup, s)
    dates, climate = draw_calendar(setup, s.n_dates)
    days = [float((d - dates[0]).days) for d in dates]
    product_bands = bands if s.unit == "reflectance" else ()
    options = {k: getattr(s, k) for k in ("misregistration", "gain", "bias", "band_mix", "noise")}
    sensors = draw_sensors(sensing, s.unit, product_bands, factor, **options)
    channels = channels_needed(sensors)
    spectra = end_members(land, channels)
    shape = (s.height, s.width)
    world = make_world(land, shape, channels, spectra)
    n_events = int(happen.integers(1, 5)) if s.n_events is None else s.n_events
    events = draw_events(happen, n_events, s.event_kinds, world.ground(), days, factor, spectra)
    stack = (len(dates), len(bands), *shape)
    out = PretrainingSeries(
        dates=dates,
        days=days,
        unit=s.unit,
        bands=bands,
        fine=np.empty(stack, np.float32),
        clear=np.empty(stack, np.float32),
        coarse=np.empty(stack, np.float32),
        fine_clouds={},
        coarse_masks={},
        coarse_cover={},
        world=world,
        events=events,
        sensors=sensors,
        climate=climate,
    )
    for i in range(len(dates)):
        clouds = sky = None
        if fine_sky.random() < s.cloud_probability:
            clouds = out.fine_clouds[i] = draw_clouds(fine_sky, shape, fine_sky.uniform(0.03, 0.35))
        if coarse_sky.random() < s.coarse_cloud_probability:
            sky = draw_clouds(coarse_sky, shape, coarse_sky.uniform(0.02, 0.2))
            out.coarse_cover[i] = sky.cover
        seen = observe(
            sensors,
            out.surface(i),
            channels,
            t_air=climate.air(out.day_of_year(i)),
            rng=noise,
            clouds=clouds,
            coarse_clouds=sky,
            cloud=spectra["cloud"],
        )
        out.fine[i], out.clear[i], out.coarse[i] = seen.fine, seen.clear, seen.coarse
        if seen.coarse_mask is not None:
            out.coarse_masks[i] = seen.coarse_mask
    return out
