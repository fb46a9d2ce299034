"""A series of images on one grid written as one data cube (zarr or netCDF) that
``xarray.open_dataset`` and rioxarray open.

The cube holds one variable (default ``reflectance``), float32 ``(time, band, y, x)`` with NaN
where a pixel is invalid. ``x``/``y`` are the pixel centres, ``band`` counts from 1 (band names
in the ``long_name`` attribute), ``time`` is the date; per date the coordinates ``source`` (e.g.
``fused`` or ``fine``) and ``references`` (the reference dates, or empty) say where the image
came from. The CRS and the geotransform are stored as rioxarray writes them (a ``spatial_ref``
coordinate with ``crs_wkt`` and ``GeoTransform``), so ``ds.rio.crs`` and ``ds.rio.transform()``
give them back. The images are read block by block (``chunk`` pixels square) through dask, so
memory does not grow with the scene. Needs the ``cube`` extra (``pip install 'est-stfm[cube]'``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import secrets
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from rasterio.windows import Window

from est_stfm.errors import EstStfmError
from est_stfm.io.atomic import atomic_target, check_output_file, check_output_folder
from est_stfm.io.raster import Grid

CUBE_SUFFIXES = (".zarr", ".nc")
CUBE_CHUNK = 512
NETCDF_ENGINES = ("h5netcdf", "netCDF4")
"""Python modules that write netCDF for xarray, in order of preference."""

ReadWindow = Callable[[Window], tuple[np.ndarray, np.ndarray]]
"""``read(window) -> (values (bands, h, w), valid (h, w))``, as a scene's readers are."""


@dataclass(frozen=True)
class Layer:
    """One date of a cube: how to read it, where it came from and from which reference dates."""

    date: dt.date
    read: ReadWindow
    source: str = "fused"
    references: tuple[dt.date, ...] = ()


def need_module(name: str, extra: str = "cube") -> ModuleType:
    """Import ``name``; a one-line install hint naming the extra when it is missing."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise EstStfmError(
            f"this needs the Python package {name}: pip install 'est-stfm[{extra}]'"
        ) from None


def netcdf_engine() -> str:
    """The netCDF engine xarray will write with (``h5netcdf`` or ``netcdf4``), or a hint."""
    for module in NETCDF_ENGINES:
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return module.lower()
    raise EstStfmError("netCDF cubes need h5netcdf or netCDF4: pip install 'est-stfm[cube]'")


def check_cube_path(path: str | Path) -> Path:
    """``path`` as a cube to write (``.zarr`` folder or ``.nc`` file), checked before any work,
    with the packages it needs installed; a one-line error otherwise."""
    path = Path(path)
    if path.suffix.lower() not in CUBE_SUFFIXES:
        raise EstStfmError(f"--cube {path}: name it *.zarr (a zarr folder) or *.nc (netCDF)")
    for name in ("xarray", "rioxarray", "dask.array"):
        need_module(name)
    if path.suffix.lower() == ".zarr":
        need_module("zarr")
        return check_output_folder(path, "--cube")
    netcdf_engine()
    return check_output_file(path)


def pixel_centres(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` coordinates of the pixel centres of a north-up ``grid``."""
    t = grid.transform
    if t.b != 0 or t.d != 0:
        raise EstStfmError(
            f"the grid's transform {tuple(t)[:6]} is rotated: xarray's x/y coordinates need a "
            "north-up grid (warp the images first, e.g. gdalwarp)"
        )
    x = t.c + (np.arange(grid.width) + 0.5) * t.a
    y = t.f + (np.arange(grid.height) + 0.5) * t.e
    return x, y


def _block_reader(read: ReadWindow) -> Callable[..., np.ndarray]:
    def block(block_info: dict | None = None) -> np.ndarray:
        assert block_info is not None  # dask passes it
        _, (r0, r1), (c0, c1) = block_info[None]["array-location"]
        values, valid = read(Window(c0, r0, c1 - c0, r1 - r0))
        out = np.array(values, dtype=np.float32)
        out[:, ~valid] = np.nan
        return out

    return block


def lazy_image(read: ReadWindow, grid: Grid, chunk: int = CUBE_CHUNK) -> Any:
    """A dask array ``(bands, H, W)`` float32 read by ``read`` in ``chunk``-square blocks, NaN
    where invalid."""
    da = need_module("dask.array")

    def sizes(n: int) -> tuple[int, ...]:
        return tuple(min(chunk, n - s) for s in range(0, n, chunk))

    return da.map_blocks(
        _block_reader(read),
        chunks=((grid.count,), sizes(grid.height), sizes(grid.width)),
        dtype=np.float32,
        meta=np.empty((0, 0, 0), np.float32),
    )


def cube_dataset(
    grid: Grid,
    layers: Sequence[Layer],
    *,
    name: str = "reflectance",
    attrs: Mapping[str, Any] | None = None,
    chunk: int = CUBE_CHUNK,
) -> Any:
    """The lazy ``xarray.Dataset`` of the cube (nothing is read until it is computed)."""
    xr = need_module("xarray")
    da = need_module("dask.array")
    need_module("rioxarray")  # registers the .rio accessor
    if not layers:
        raise EstStfmError("a cube needs at least one date")
    x, y = pixel_centres(grid)
    data = da.stack([lazy_image(layer.read, grid, chunk) for layer in layers])
    names = [d or f"band {i}" for i, d in enumerate(grid.descriptions, start=1)]
    array = xr.DataArray(
        data,
        dims=("time", "band", "y", "x"),
        coords={
            "time": np.array([np.datetime64(layer.date, "ns") for layer in layers]),
            "band": np.arange(1, grid.count + 1),
            "y": y,
            "x": x,
            "source": ("time", [layer.source for layer in layers]),
            "references": (
                "time",
                [" ".join(d.isoformat() for d in layer.references) for layer in layers],
            ),
        },
        attrs={"long_name": names, **dict(attrs or {})},
    )
    ds = array.to_dataset(name=name)
    if grid.crs is not None:
        ds = ds.rio.write_crs(grid.crs.to_wkt())
    ds = ds.rio.write_transform(grid.transform)
    # list the grid mapping among the coordinates too, so a plain open_dataset (without
    # decode_coords="all") keeps it as a coordinate and ds.rio.crs finds it
    ds[name].encoding["coordinates"] = "source references spatial_ref"
    return ds


def write_cube(
    path: str | Path,
    grid: Grid,
    layers: Sequence[Layer],
    *,
    name: str = "reflectance",
    attrs: Mapping[str, Any] | None = None,
    chunk: int = CUBE_CHUNK,
) -> Path:
    """Write ``layers`` (sorted by date by the caller) as a cube at ``path`` (``*.zarr`` or
    ``*.nc``, chosen by the suffix), block by block. The cube is written under a temporary name
    and moved into place when complete; an existing cube at ``path`` is replaced."""
    path = check_cube_path(path)
    ds = cube_dataset(grid, layers, name=name, attrs=attrs, chunk=chunk)
    bands, height, width = grid.count, grid.height, grid.width
    chunks = (1, bands, min(chunk, height), min(chunk, width))
    dask = need_module("dask")
    with dask.config.set(scheduler="threads"):
        if path.suffix.lower() == ".nc":
            ds[name].encoding.update(zlib=True, complevel=4, chunksizes=chunks)
            with atomic_target(path) as tmp:
                ds.to_netcdf(tmp, engine=netcdf_engine())
            return path
        _write_zarr(ds, path)
    return path


def _write_zarr(ds: Any, path: Path) -> None:
    """Write a zarr folder under a temporary name, then swap it in for ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    old = path.parent / f".{path.name}.{secrets.token_hex(6)}.old"
    try:
        ds.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
