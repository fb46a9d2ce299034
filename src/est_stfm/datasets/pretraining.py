"""A seeded generator of varied SYNTHETIC scenes for pretraining fusion models (not real data).

Every scene is drawn from its seed alone (:mod:`est_stfm.datasets.pretraining_sim`):

* land (:mod:`est_stfm.datasets.pretraining_land`): zones of fields of varied sizes, 12 classes
  with their own drawn phenology, a river and roads;
* abrupt changes between dates (:mod:`est_stfm.datasets.events`): flood, fire, harvest and
  construction, from under a coarse pixel to many coarse pixels;
* the product and the sensors (:mod:`est_stfm.datasets.sensors`): reflectance in 1-13
  Sentinel-2-like bands, NDVI or land-surface temperature (Kelvin); a coarse sensor with a band
  mix, misregistration, a Gaussian point-spread function and block aggregation (factor 8-32),
  gain, bias and noise; clouds and shadows masked in some fine (and coarse) images.

:func:`make_pretraining_scene` writes one scene (files: its docstring), :func:`pretraining_scenes`
writes many with varied settings; :func:`pretraining_series` simulates one in memory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from affine import Affine
from rasterio.crs import CRS

from est_stfm.datasets.pretraining_land import CLASSES
from est_stfm.datasets.pretraining_sim import (
    FACTORS,
    PretrainingSeries,
    PretrainingSettings,
    pretraining_series,
)
from est_stfm.datasets.sensors import BANDS, UNITS, WAVELENGTHS
from est_stfm.datasets.synthetic import EPSG, ORIGIN, PIXEL_SIZE
from est_stfm.errors import EstStfmError
from est_stfm.io import Grid, write_raster
from est_stfm.io.atomic import atomic_write_text
from est_stfm.scene import save_scene

__all__ = [
    "ENCODINGS",
    "FACTORS",
    "PretrainingSeries",
    "PretrainingSettings",
    "make_pretraining_scene",
    "pretraining_scenes",
    "pretraining_series",
    "write_series",
]


ENCODINGS = {
    "reflectance": ("int16", 0.0001, -9999.0),
    "ndvi": ("int16", 0.0001, -32768.0),
    "kelvin": ("uint16", 0.01, 0.0),
}
"""How each unit is stored: dtype, scale and nodata of the GeoTIFFs."""


def _plain(value: Any) -> Any:
    """``value`` as plain YAML data (numpy numbers and arrays, tuples, dates)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating, float)):
        number = float(value)
        return int(number) if isinstance(value, np.integer) else round(number, 6)
    return value.isoformat() if isinstance(value, dt.date) else value


def _record(series: PretrainingSeries, settings: PretrainingSettings) -> dict[str, Any]:
    """What ``generator.yaml`` says: the settings and everything drawn from them."""
    sensors, first = series.sensors, series.dates[0]
    factor = sensors.factor
    events = [
        {
            "id": i + 1,
            "kind": e.kind,
            "happened": first + dt.timedelta(days=int(e.day)),
            "first_date": series.dates[e.first],
            "last_date": series.dates[e.last],
            "box": list(e.box),
            "area_px": e.area,
            "area_coarse_px": e.area / factor**2,
        }
        for i, e in enumerate(series.events)
    ]
    return _plain(
        {
            "generator": "est_stfm.datasets.pretraining",
            "synthetic": True,
            "settings": {k: v for k, v in asdict(settings).items() if v is not None},
            "unit": series.unit,
            "bands": series.bands,
            "dates": series.dates,
            "coarse": {
                "factor": factor,
                "psf_sigma_fine_px": sensors.psf_sigma,
                "misregistration_fine_px": sensors.shift,
                "misregistration_coarse_px": [v / factor for v in sensors.shift],
                "gain": sensors.gain,
                "bias": sensors.bias,
                "band_mix": {b: [o, w] for b, (o, w) in sensors.mix.items()},
                "noise": sensors.coarse_noise,
            },
            "fine_noise": sensors.fine_noise,
            "air_temperature": {"mean": series.climate.mean, "amplitude": series.climate.amplitude},
            "fine_cloud_cover": {series.dates[i]: c.cover for i, c in series.fine_clouds.items()},
            "coarse_cloud_cover": {series.dates[i]: c for i, c in series.coarse_cover.items()},
            "events": events,
            "classes": list(CLASSES),
        }
    )


def write_series(
    series: PretrainingSeries, folder: str | Path, settings: PretrainingSettings
) -> Path:
    """Write ``series`` into ``folder`` (see :func:`make_pretraining_scene`); the scene file."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    height, width = series.fine.shape[-2:]
    dtype, scale, nodata = ENCODINGS[series.unit]
    transform = Affine(PIXEL_SIZE, 0.0, ORIGIN[0], 0.0, -PIXEL_SIZE, ORIGIN[1])
    grid = Grid(
        CRS.from_epsg(EPSG),
        transform,
        width,
        height,
        len(series.bands),
        dtype,
        nodata,
        series.bands,
    )
    mask_grid = replace(grid, count=1, dtype="uint8", nodata=None, descriptions=("mask",))
    common = {
        "synthetic": "true",
        "generator": __name__,
        "seed": str(settings.seed),
        "unit": series.unit,
    }
    if series.unit == "reflectance":  # where each band lies, for models that use it
        common["wavelengths_nm"] = ",".join(str(WAVELENGTHS[BANDS.index(b)]) for b in series.bands)
    fine, coarse, fine_masks, coarse_masks = {}, {}, {}, {}
    for i, day in enumerate(series.dates):
        name = day.isoformat()
        tags = {**common, "date": name}
        fine[day] = out / f"fine_{name}.tif"
        write_raster(fine[day], series.fine[i], grid, scale, tags={**tags, "sensor": "fine"})
        coarse[day] = out / f"coarse_{name}.tif"
        factor = str(series.sensors.factor)
        write_raster(
            coarse[day],
            series.coarse[i],
            grid,
            scale,
            tags={**tags, "sensor": "coarse", "coarse_factor": factor},
        )
        if i in series.fine_clouds:
            fine_masks[day] = out / f"fine_mask_{name}.tif"
            write_raster(
                fine_masks[day],
                series.fine_clouds[i].flags,
                mask_grid,
                tags={**tags, "values": "0=clear,1=cloud,2=shadow"},
            )
            write_raster(
                out / "clear" / f"fine_{name}.tif",
                series.clear[i],
                grid,
                scale,
                tags={**tags, "sensor": "fine", "clouds": "removed"},
            )
        if i in series.coarse_masks:
            coarse_masks[day] = out / f"coarse_mask_{name}.tif"
            write_raster(
                coarse_masks[day],
                series.coarse_masks[i],
                mask_grid,
                tags={**tags, "values": "0=clear,1=cloud or shadow"},
            )
    event_map = np.zeros((height, width), np.uint8)
    for i, event in enumerate(series.events):
        r0, r1, c0, c1 = event.box
        event_map[r0:r1, c0:c1][event.fraction > 0.5] = i + 1
    truth_grid = replace(mask_grid, count=2, descriptions=("landcover", "event"))
    write_raster(
        out / "truth.tif",
        np.stack([series.world.landcover, event_map]),
        truth_grid,
        tags={**common, "classes": ",".join(f"{i}={c}" for i, c in enumerate(CLASSES))},
    )
    text = yaml.safe_dump(_record(series, settings), sort_keys=False, default_flow_style=None)
    atomic_write_text(out / "generator.yaml", "# SYNTHETIC pretraining scene\n" + text)
    return save_scene(
        out / "scene.yaml",
        fine,
        coarse,
        scale=scale,
        unit=series.unit,
        coarse_factor=series.sensors.factor,
        masks=fine_masks or None,
        coarse_options={"masks": coarse_masks} if coarse_masks else None,
    )


def make_pretraining_scene(
    folder: str | Path,
    *,
    seed: int,
    height: int = 256,
    width: int = 256,
    n_dates: int = 5,
    bands: int | tuple[str, ...] | None = None,
    unit: str = "reflectance",
    **options: Any,
) -> Path:
    """Write a SYNTHETIC pretraining scene into ``folder``; returns its ``scene.yaml``.

    ``bands``: how many Sentinel-2-like bands (a drawn subset; default 6) or their names
    (:data:`~est_stfm.datasets.sensors.BANDS`); ``unit``: ``reflectance``, ``ndvi`` or
    ``kelvin`` (one band). ``options`` are the other fields of :class:`PretrainingSettings`
    (``factor``, ``n_events``, ``event_kinds``, ``cloud_probability``,
    ``coarse_cloud_probability``, ``misregistration`` in coarse pixels, ``gain``, ``bias``,
    ``band_mix``, ``noise=(fine, coarse)``); each left out (or None) is drawn from the seed.

    Files: ``fine_DATE.tif`` and ``coarse_DATE.tif`` for every date (coarse resampled onto the
    fine grid; the scene file's ``coarse_factor`` says its pixel size), stored as
    :data:`ENCODINGS` says and tagged ``synthetic=true``; ``fine_mask_DATE.tif`` (0 clear,
    1 cloud, 2 shadow) and ``clear/fine_DATE.tif`` (the same image without clouds) for clouded
    fine dates; ``coarse_mask_DATE.tif`` (1 = cloudy coarse pixel) for clouded coarse dates;
    ``truth.tif`` (land cover, event id) and ``generator.yaml`` (everything drawn).
    """
    known = set(PretrainingSettings.__dataclass_fields__) - {"seed", "height", "width"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise EstStfmError(
            f"unknown pretraining scene option {unknown[0]!r}: use {', '.join(sorted(known))}"
        )
    if "event_kinds" in options:
        options["event_kinds"] = tuple(options["event_kinds"])
    settings = PretrainingSettings(
        seed=seed, height=height, width=width, n_dates=n_dates, bands=bands, unit=unit, **options
    )
    return write_series(pretraining_series(settings), folder, settings)


def pretraining_scenes(folder: str | Path, n: int, seed: int = 0) -> list[Path]:
    """Write ``n`` pretraining scenes with varied settings into ``folder/scene_0000`` ...; their
    ``scene.yaml`` paths. Each draws 128-256 px sides, 3-6 dates, a unit (reflectance 70% with
    1-13 bands, NDVI 15%, Kelvin 15%), a factor of :data:`FACTORS` and its own seed."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    paths = []
    for i in range(n):
        height, width = (int(v) * 8 for v in rng.integers(16, 33, 2))
        unit = str(rng.choice(UNITS, p=[0.7, 0.15, 0.15]))
        bands = int(rng.integers(1, len(BANDS) + 1)) if unit == "reflectance" else None
        factor, n_dates = int(rng.choice(FACTORS)), int(rng.integers(3, 7))
        paths.append(
            make_pretraining_scene(
                Path(folder) / f"scene_{i:04d}",
                seed=int(rng.integers(2**31 - 1)),
                height=height,
                width=width,
                n_dates=n_dates,
                bands=bands,
                unit=unit,
                factor=factor,
            )
        )
    return paths
