"""Small rasters and scene files written for the scene tests, and the one-line error check."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS

from est_stfm.errors import EstStfmError
from est_stfm.scene import load_scene

D1, D2, D3 = dt.date(2001, 5, 24), dt.date(2001, 7, 11), dt.date(2001, 8, 12)


def write_tif(
    path: Path,
    *,
    width: int = 20,
    height: int = 16,
    count: int = 3,
    epsg: int = 32655,
    origin: tuple[float, float] = (500_000.0, 4_800_000.0),
    value: int = 1000,
) -> Path:
    """A small int16 GeoTIFF written with rasterio directly (independent of write_raster)."""
    data = np.full((count, height, width), value, dtype=np.int16)
    data[:, 0, 0] = -9999
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype="int16",
        crs=CRS.from_epsg(epsg),
        transform=Affine(30.0, 0.0, origin[0], 0.0, -30.0, origin[1]),
        nodata=-9999,
    ) as ds:
        ds.write(data)
    return path


SCENE_TEXT = """\
scale: 0.0001
fine:   {2001-05-24: tm0524.tif, 2001-08-12: tm0812.tif}
coarse: {2001-05-24: m0524.tif, 2001-07-11: m0711.tif, 2001-08-12: m0812.tif}
"""


def write_scene(folder: Path) -> Path:
    """A valid scene in ``folder``: its five images and ``scene.yaml`` (SCENE_TEXT); ``folder``."""
    for name in ("tm0524.tif", "tm0812.tif", "m0524.tif", "m0711.tif", "m0812.tif"):
        write_tif(folder / name)
    (folder / "scene.yaml").write_text(SCENE_TEXT)
    return folder


def load_error(path: Path) -> str:
    with pytest.raises(EstStfmError) as exc:
        load_scene(path)
    message = str(exc.value)
    assert "\n" not in message, message
    return message


def write_array(
    path: Path,
    data: np.ndarray,
    *,
    transform: Affine | None = None,
    epsg: int | None = 32655,
    nodata: float | None = None,
) -> Path:
    """Any (bands, H, W) array as a GeoTIFF (identity transform and no CRS when epsg is None)."""
    if transform is None:
        transform = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 4_800_000.0)
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": str(data.dtype),
        "crs": None if epsg is None else CRS.from_epsg(epsg),
        "transform": transform if epsg is not None else Affine.identity(),
        "nodata": nodata,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(data)
    return path


def coarse_grid_scene(scene_dir: Path, extra: str = "", epsg: int = 32655) -> Path:
    """Fine 20x16 at 30 m; coarse 5x4 at 120 m covering the same extent, values a ramp."""
    ramp = (1000 + 100 * np.arange(20, dtype=np.int16)).reshape(1, 4, 5).repeat(3, axis=0)
    transform = Affine(120.0, 0.0, 500_000.0, 0.0, -120.0, 4_800_000.0)
    write_array(scene_dir / "m0711.tif", ramp, transform=transform, epsg=epsg)
    (scene_dir / "scene.yaml").write_text(SCENE_TEXT + extra)
    return scene_dir / "scene.yaml"
