"""What the sensors of the pretraining scenes see: a Sentinel-2-like spectral library, clouds and
their shadows, and the two sensors (fine and coarse) that turn a simulated surface into images.

The surface (:mod:`est_stfm.datasets.pretraining`) is a stack of *channels*: any of the 13
reflectance bands of :data:`BANDS` plus :data:`THERMAL`, the surface's temperature excess over
the air in Kelvin. A product (the scene's ``unit``) is made from channels:

* ``reflectance``: the chosen bands as they are (0-1);
* ``ndvi``: ``(B08 - B04) / (B08 + B04)`` (-1..1, one band);
* ``kelvin``: land-surface temperature, the air temperature of the day plus :data:`THERMAL`.

The fine sensor sees the product of each pixel plus noise. The coarse sensor differs: its bands
leak into a spectral neighbour (a band mix), it is misregistered by a sub-pixel shift, its
Gaussian point-spread function and block aggregation (:func:`~est_stfm.datasets.degrade.
blur_and_block_average`) act on what it physically integrates (reflectance; red and NIR for NDVI,
computed after aggregation as real coarse NDVI products are; emitted radiance ~ T^4 for
temperature), then a per-band gain and bias and noise apply on the coarse grid, and the image is
resampled bilinearly back onto the fine grid, as every synthetic scene presents coarse images.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from est_stfm.datasets.degrade import blur_and_block_average, upsample_bilinear, upsample_nearest
from est_stfm.datasets.landscape import smooth_field
from est_stfm.errors import EstStfmError

BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
"""The Sentinel-2-like bands a reflectance scene draws its bands from, by wavelength."""

WAVELENGTHS = (443, 490, 560, 665, 705, 740, 783, 842, 865, 945, 1375, 1610, 2190)
"""Centre wavelength of each band of :data:`BANDS`, in nm."""

THERMAL = "thermal"
"""The channel holding the surface's temperature excess over the air (Kelvin)."""

UNITS = ("reflectance", "ndvi", "kelvin")
"""The products a pretraining scene can hold."""

RED, NIR = "B04", "B08"

# End-member spectra: reflectance in the 13 bands of BANDS, then the daytime temperature excess
# over the air (K). Rough library-like shapes, varied per scene by end_members().
_LIBRARY = """
green_vegetation .030 .035 .080 .035 .100 .300 .400 .420 .430 .400 .005 .200 .090  -3
forest_canopy    .020 .025 .050 .025 .070 .200 .270 .290 .300 .280 .003 .140 .060  -5
dry_soil         .080 .100 .140 .190 .210 .220 .240 .250 .260 .270 .010 .330 .280   9
moist_soil       .050 .070 .100 .130 .150 .160 .170 .180 .190 .190 .006 .250 .200   3
crop_residue     .070 .090 .120 .150 .180 .210 .240 .260 .270 .270 .010 .350 .260   6
forest_floor     .030 .040 .060 .070 .100 .150 .180 .200 .210 .200 .005 .200 .120   0
clear_water      .070 .060 .045 .025 .020 .015 .012 .010 .009 .006 .001 .005 .003  -6
turbid_water     .090 .100 .110 .090 .080 .060 .050 .045 .040 .030 .001 .015 .010  -4
concrete         .120 .130 .150 .170 .180 .190 .200 .210 .210 .200 .008 .250 .220  10
roof             .100 .110 .140 .220 .250 .270 .280 .290 .290 .280 .010 .320 .270  12
asphalt          .070 .075 .085 .095 .100 .105 .110 .115 .120 .120 .005 .140 .130  14
char             .040 .045 .050 .060 .065 .070 .075 .080 .082 .080 .004 .140 .150  13
cloud            .550 .560 .570 .580 .580 .580 .580 .580 .580 .500 .300 .450 .350 -30
"""
END_MEMBERS: dict[str, tuple[float, ...]] = {
    row.split()[0]: tuple(float(v) for v in row.split()[1:]) for row in _LIBRARY.split("\n") if row
}
"""End member -> reflectance in :data:`BANDS`, then the temperature excess (K)."""


@dataclass(frozen=True)
class UnitModel:
    """How a product is clipped, and the ranges its sensor differences are drawn from."""

    low: float
    high: float
    gain: tuple[float, float]
    bias: tuple[float, float]
    fine_noise: tuple[float, float]
    coarse_noise: tuple[float, float]


UNIT_MODELS = {
    "reflectance": UnitModel(0.0, 1.0, (0.9, 1.1), (-0.015, 0.015), (0.001, 0.006), (0.002, 0.008)),
    "ndvi": UnitModel(-1.0, 1.0, (0.9, 1.1), (-0.04, 0.04), (0.005, 0.02), (0.01, 0.03)),
    "kelvin": UnitModel(200.0, 350.0, (0.99, 1.01), (-2.5, 2.5), (0.2, 0.6), (0.3, 1.0)),
}

KELVIN_REF = 300.0
"""Temperatures are aggregated as ``(T / KELVIN_REF) ** 4`` (emitted radiance, well scaled)."""


def neighbour(band: str) -> str:
    """The band nearest in wavelength to ``band`` (where a coarse band's response leaks)."""
    centre = dict(zip(BANDS, WAVELENGTHS, strict=True))
    return min((b for b in BANDS if b != band), key=lambda b: abs(centre[b] - centre[band]))


def product_bands(unit: str, bands: Sequence[str]) -> tuple[str, ...]:
    """The reflectance bands a product is computed from (none for temperature)."""
    return tuple(bands) if unit == "reflectance" else (RED, NIR) if unit == "ndvi" else ()


def end_members(rng: np.random.Generator, channels: Sequence[str]) -> dict[str, np.ndarray]:
    """This scene's end members in ``channels``: the library with a smooth random tilt and
    per-band jitter of a few percent (clouds excepted), the temperature excess scaled by 0.8-1.2."""
    x = np.log(np.asarray(WAVELENGTHS, dtype=np.float64) / 900.0)
    index = [len(BANDS) if c == THERMAL else BANDS.index(c) for c in channels]
    out = {}
    for name, values in END_MEMBERS.items():
        spectrum = np.asarray(values, dtype=np.float64)
        tilt, level = rng.normal(0.0, 0.06), rng.normal(0.0, 0.05)
        jitter = rng.normal(0.0, 0.02, len(BANDS))
        thermal = rng.uniform(0.8, 1.2)
        if name != "cloud":
            spectrum[: len(BANDS)] *= np.clip(1.0 + level + tilt * x + jitter, 0.6, 1.4)
            spectrum[len(BANDS)] *= thermal
        out[name] = spectrum[index].astype(np.float32)
    return out


@dataclass(frozen=True)
class Clouds:
    """Clouds over one image: ``opacity`` (H, W) in [0, 1], ``flags`` (H, W) uint8 (0 clear,
    1 cloud, 2 shadow) and how much the shadow darkens reflectance."""

    opacity: np.ndarray
    flags: np.ndarray
    darkness: float

    @property
    def cover(self) -> float:
        """Share of flagged (cloud or shadow) pixels."""
        return float(np.mean(self.flags > 0))


def draw_clouds(rng: np.random.Generator, shape: tuple[int, int], cover: float) -> Clouds:
    """Clouds over about ``cover`` of the image (opaque cores, thin edges), with their shadows
    cast a few pixels away in a random direction."""
    scale = rng.uniform(5.0, 30.0)
    field = smooth_field(rng, shape, scale)
    threshold = np.quantile(field, 1.0 - cover)
    cloud = field > threshold
    opacity = np.where(cloud, np.clip(0.3 + 1.2 * (field - threshold), 0.0, 1.0), 0.0)
    angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(3.0, 3.0 + scale)
    offset = (round(distance * np.sin(angle)), round(distance * np.cos(angle)))
    shadow = ndimage.shift(cloud.astype(np.uint8), offset, order=0, cval=0).astype(bool) & ~cloud
    flags = np.where(cloud, 1, np.where(shadow, 2, 0)).astype(np.uint8)
    return Clouds(opacity.astype(np.float32), flags, float(rng.uniform(0.25, 0.45)))


def contaminate(
    surface: np.ndarray, channels: Sequence[str], clouds: Clouds, cloud: np.ndarray
) -> np.ndarray:
    """``surface`` (C, H, W) under ``clouds``: shadows darken reflectance and cool by 4 K, clouds
    blend towards the ``cloud`` spectrum (C,) by their opacity."""
    out = surface.copy()
    shadow = clouds.flags == 2
    for c, name in enumerate(channels):
        if name == THERMAL:
            out[c][shadow] -= 4.0
        else:
            out[c][shadow] *= clouds.darkness
    out += clouds.opacity * (cloud[:, None, None] - out)
    return out


def observable(
    surface: np.ndarray,
    channels: Sequence[str],
    unit: str,
    bands: Sequence[str],
    t_air: float,
    mix: dict[str, tuple[str, float]] | None = None,
) -> np.ndarray:
    """What a sensor integrates over its footprint, ``(k, H, W)``: reflectance of the product's
    bands (each leaking into its neighbour by ``mix``), or ``(T / KELVIN_REF) ** 4``."""
    where = {name: c for c, name in enumerate(channels)}
    if unit == "kelvin":
        return (((t_air + surface[where[THERMAL]]) / KELVIN_REF) ** 4)[None]
    layers = []
    for band in product_bands(unit, bands):
        layer = surface[where[band]]
        other, weight = (mix or {}).get(band, (band, 0.0))
        layers.append(layer if weight == 0 else layer + weight * (surface[where[other]] - layer))
    return np.stack(layers)


def product(values: np.ndarray, unit: str) -> np.ndarray:
    """The product from what :func:`observable` gives (after any aggregation)."""
    if unit == "ndvi":
        red, nir = values[0], values[1]
        return ((nir - red) / np.maximum(nir + red, 1e-4))[None]
    if unit == "kelvin":
        return KELVIN_REF * np.maximum(values, 0.0) ** 0.25
    return values


@dataclass(frozen=True)
class Sensors:
    """The product both sensors make, and how the coarse sensor differs from the fine one (in
    fine pixels and the product's unit)."""

    unit: str
    bands: tuple[str, ...]
    """The reflectance bands of a reflectance product (empty for NDVI and Kelvin)."""
    factor: int
    psf_sigma: float
    """Standard deviation of the Gaussian point-spread function, in fine pixels."""
    shift: tuple[float, float]
    """Misregistration ``(dy, dx)`` in fine pixels: a feature at fine ``(r, c)`` appears in the
    coarse image at ``(r + dy, c + dx)``."""
    gain: np.ndarray
    bias: np.ndarray
    mix: dict[str, tuple[str, float]]
    """Band -> (neighbour, weight): the coarse band sees ``(1 - w) band + w neighbour``."""
    fine_noise: float
    coarse_noise: float
    """Standard deviation per coarse pixel."""


def _per_band(
    value: float | Sequence[float] | None, n: int, draw: np.ndarray, name: str
) -> np.ndarray:
    """``value`` as one number per band (``draw`` when None)."""
    if value is None:
        return draw.astype(np.float64)
    out = np.asarray(value, dtype=np.float64).ravel()
    if out.size == 1:
        out = np.full(n, out[0])
    if out.size != n or not np.all(np.isfinite(out)):
        raise EstStfmError(f"{name} must be one number or one per band ({n}), got {value!r}")
    return out


def draw_sensors(
    rng: np.random.Generator,
    unit: str,
    bands: Sequence[str],
    factor: int,
    *,
    misregistration: float | tuple[float, float] | None = None,
    gain: float | Sequence[float] | None = None,
    bias: float | Sequence[float] | None = None,
    band_mix: float | None = None,
    noise: tuple[float, float] | None = None,
) -> Sensors:
    """Draw the sensor differences of a scene; each given argument replaces its draw.

    ``misregistration`` is in coarse pixels: a pair ``(dy, dx)``, or a length in a random
    direction (drawn up to 0.5). ``band_mix`` is the weight every band leaks into its
    neighbour (drawn per band in [0, 0.2]); ``noise`` is ``(fine, coarse)`` in the unit.
    """
    model = UNIT_MODELS[unit]
    n = len(bands) if unit == "reflectance" else 1
    psf = factor * rng.uniform(0.2, 0.45)
    angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.5)
    if isinstance(misregistration, (int, float)):
        length = float(misregistration)
    if misregistration is None or isinstance(misregistration, (int, float)):
        dy, dx = length * np.sin(angle), length * np.cos(angle)
    elif len(misregistration) == 2:
        dy, dx = (float(v) for v in misregistration)
    else:
        dy = dx = np.nan
    if not np.isfinite([dy, dx]).all():
        raise EstStfmError(
            f"misregistration must be a length or (dy, dx) in coarse pixels, got {misregistration}"
        )
    if band_mix is not None and not 0.0 <= band_mix <= 1.0:
        raise EstStfmError(f"band_mix must lie in [0, 1], got {band_mix}")
    if noise is not None and (len(noise) != 2 or min(noise) < 0):
        raise EstStfmError(f"noise must be (fine, coarse) standard deviations >= 0, got {noise}")
    gains = _per_band(gain, n, rng.uniform(*model.gain, n), "gain")
    biases = _per_band(bias, n, rng.uniform(*model.bias, n), "bias")
    weights = rng.uniform(0.0, 0.2, len(BANDS))
    mixed = product_bands(unit, bands)
    mix = {
        b: (neighbour(b), float(weights[BANDS.index(b)] if band_mix is None else band_mix))
        for b in mixed
    }
    drawn = (rng.uniform(*model.fine_noise), rng.uniform(*model.coarse_noise))
    fine_noise, coarse_noise = drawn if noise is None else (float(noise[0]), float(noise[1]))
    shift = (float(dy * factor), float(dx * factor))
    return Sensors(
        unit, tuple(bands), factor, psf, shift, gains, biases, mix, fine_noise, coarse_noise
    )


def channels_needed(sensors: Sensors) -> tuple[str, ...]:
    """The surface channels both sensors need, in :data:`BANDS` order (or :data:`THERMAL`)."""
    if sensors.unit == "kelvin":
        return (THERMAL,)
    wanted = set(product_bands(sensors.unit, sensors.bands))
    wanted |= {other for other, weight in sensors.mix.values() if weight != 0}
    return tuple(b for b in BANDS if b in wanted)


def observe_fine(
    sensors: Sensors, surface: np.ndarray, channels: Sequence[str], t_air: float
) -> np.ndarray:
    """The fine sensor's noise-free product ``(n, H, W)`` (clipped to the unit's range)."""
    unit = sensors.unit
    values = product(observable(surface, channels, unit, sensors.bands, t_air), unit)
    return np.clip(values, UNIT_MODELS[unit].low, UNIT_MODELS[unit].high).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _footprint(n: int, factor: int, psf_sigma: float, shift: float) -> np.ndarray:
    """The coarse sensor along one axis of ``n`` fine pixels as a matrix ``(ceil(n / factor), n)``:
    the shift by ``shift`` pixels (linear interpolation), then
    :func:`~est_stfm.datasets.degrade.blur_and_block_average`. Both are linear and separable, so
    applying this matrix to both axes gives the same image as shifting, blurring and block
    averaging the whole image, at a fraction of the cost."""
    moved = ndimage.shift(np.eye(n), (shift, 0.0), order=1, mode="nearest")
    impulses = np.ascontiguousarray(moved.T)[:, None, :]  # one row per input pixel
    return blur_and_block_average(impulses, factor, psf_sigma)[:, 0, :].T.copy()


def footprint_average(sensors: Sensors, image: np.ndarray) -> np.ndarray:
    """``image`` (..., H, W) seen by the coarse sensor's footprint, on the coarse grid: shifted by
    its misregistration, blurred by its point-spread function and block averaged."""
    h, w = image.shape[-2:]
    rows = _footprint(h, sensors.factor, sensors.psf_sigma, sensors.shift[0])
    cols = _footprint(w, sensors.factor, sensors.psf_sigma, sensors.shift[1])
    return (rows @ image.astype(np.float64) @ cols.T).astype(np.float32)


def observe_coarse(
    sensors: Sensors,
    surface: np.ndarray,
    channels: Sequence[str],
    t_air: float,
    rng: np.random.Generator,
    clouds: Clouds | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The coarse image on the fine grid ``(n, H, W)`` and, under ``clouds`` (on the fine grid,
    already in the surface), the coarse mask on the fine grid: 1 where over 5% of a coarse
    pixel's footprint is cloud or shadow, else 0."""
    model, unit, factor = UNIT_MODELS[sensors.unit], sensors.unit, sensors.factor
    shape = surface.shape[-2:]
    seen = observable(surface, channels, unit, sensors.bands, t_air, sensors.mix)
    coarse = product(footprint_average(sensors, seen), unit)
    coarse = coarse * sensors.gain[:, None, None] + sensors.bias[:, None, None]
    coarse = coarse + rng.normal(0.0, sensors.coarse_noise, coarse.shape)
    coarse = np.clip(coarse, model.low, model.high).astype(np.float32)
    image = upsample_bilinear(coarse, shape, factor)
    if clouds is None:
        return image, None
    share = footprint_average(sensors, (clouds.flags > 0).astype(np.float32))
    mask = upsample_nearest((share > 0.05).astype(np.uint8), shape, factor)
    return image, np.ascontiguousarray(mask)


@dataclass(frozen=True)
class Observation:
    """What both sensors record on one date (the product's unit, float32)."""

    fine: np.ndarray
    """``(n, H, W)`` with any clouds."""
    clear: np.ndarray
    """``(n, H, W)`` the same without clouds (same noise)."""
    coarse: np.ndarray
    """``(n, H, W)`` on the fine grid."""
    coarse_mask: np.ndarray | None
    """``(H, W)`` uint8, 1 where the coarse pixel is cloudy; None without coarse clouds."""


def observe(
    sensors: Sensors,
    surface: np.ndarray,
    channels: Sequence[str],
    *,
    t_air: float,
    rng: np.random.Generator,
    clouds: Clouds | None,
    coarse_clouds: Clouds | None,
    cloud: np.ndarray,
) -> Observation:
    """Both sensors over ``surface`` (C, H, W) on one date: fine under ``clouds`` with noise
    drawn from ``rng``, coarse under ``coarse_clouds``; ``cloud`` is the cloud spectrum (C,)."""
    model = UNIT_MODELS[sensors.unit]
    clear = observe_fine(sensors, surface, channels, t_air)
    grain = rng.normal(0.0, sensors.fine_noise, clear.shape).astype(np.float32)
    clear = np.clip(clear + grain, model.low, model.high)
    fine = clear
    if clouds is not None:
        cloudy = observe_fine(
            sensors, contaminate(surface, channels, clouds, cloud), channels, t_air
        )
        fine = np.clip(cloudy + grain, model.low, model.high)
    if coarse_clouds is not None:
        surface = contaminate(surface, channels, coarse_clouds, cloud)
    coarse, mask = observe_coarse(sensors, surface, channels, t_air, rng, coarse_clouds)
    return Observation(fine, clear, coarse, mask)
