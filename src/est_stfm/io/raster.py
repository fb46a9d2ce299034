"""Reading and writing rasters with rasterio, as float32 values plus a valid mask.

Inside est-stfm every image is a float32 array shaped ``(bands, H, W)`` in its physical unit
(reflectance, NDVI, Kelvin, ...), together with a boolean ``(H, W)`` mask of valid pixels. Files
store ``(value - offset) / scale`` in their own dtype (for example int16 with ``scale = 0.0001``);
:func:`read_raster` decodes (``value = stored * scale + offset``) and :func:`write_raster`
encodes. Any raster GDAL opens can be read: GeoTIFF, ENVI (``.hdr`` next to the raw file), and
the rest. Invalid pixels (a band equal to the file's nodata or to an extra nodata value, NaN or
infinite, or outside an optional valid range) are set to 0.0 in the arrays, so arithmetic on
them never produces NaN; the mask says which pixels to trust.

A raster without georeferencing (no CRS, or only an arbitrary local one) is accepted; est-stfm
warns about it once with :class:`GeoreferencingWarning` (rasterio's own warning is silenced).

User mistakes (a missing file, something that is not a raster, a window outside the image) raise
:class:`est_stfm.errors.EstStfmError` with a one-line message, never a rasterio traceback.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from est_stfm.errors import EstStfmError
from est_stfm.io.encoding import check_offset, check_scale, decode, nodata_values

BLOCK_SIZE = 256
"""Tile size of the GeoTIFFs written by :func:`write_raster`."""

WRITABLE_DTYPES = frozenset(
    ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]
)
"""Dtypes :func:`write_raster` can encode to."""

WindowLike: TypeAlias = Window | tuple[tuple[int, int], tuple[int, int]]
"""A rasterio ``Window`` or ``((row_start, row_stop), (col_start, col_stop))``."""


class GeoreferencingWarning(UserWarning):
    """An input has no usable georeferencing: it is used by pixel position only."""


@contextmanager
def quiet_georeferencing() -> Iterator[None]:
    """Silence rasterio's ``NotGeoreferencedWarning`` (est-stfm says it once, more clearly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        yield


@dataclass(frozen=True)
class Grid:
    """Where a raster lies and how it is stored: georeferencing, size, bands, dtype, nodata."""

    crs: CRS | None
    transform: Affine
    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None
    descriptions: tuple[str | None, ...]

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return (self.height, self.width)

    @property
    def size_text(self) -> str:
        """The size as ``WIDTHxHEIGHT`` (the GDAL convention), for messages."""
        return f"{self.width}x{self.height}"

    @property
    def crs_text(self) -> str:
        """The CRS as a short string (``EPSG:32655``) or ``no CRS``, for messages."""
        if self.crs is None:
            return "no CRS"
        epsg = self.crs.to_epsg()
        return f"EPSG:{epsg}" if epsg is not None else self.crs.to_string()

    @property
    def has_transform(self) -> bool:
        """True when the file has a geotransform (rasterio gives the identity when it has none)."""
        return tuple(self.transform)[:6] != tuple(Affine.identity())[:6]

    @property
    def georeferenced(self) -> bool:
        """True with a geotransform and a geographic or projected CRS (not a local one)."""
        crs = self.crs
        return (
            self.has_transform and crs is not None and bool(crs.is_projected or crs.is_geographic)
        )

    def same_size(self, other: Grid) -> bool:
        """True when both grids have the same width and height."""
        return (self.width, self.height) == (other.width, other.height)

    def same_crs(self, other: Grid) -> bool:
        """True when both grids have the same CRS (or both have none)."""
        if self.crs is None or other.crs is None:
            return self.crs is None and other.crs is None
        return bool(self.crs == other.crs)

    def same_transform(self, other: Grid, tol: float = 1e-4) -> bool:
        """True when every transform coefficient agrees within ``tol`` pixels."""
        pixel = max(abs(self.transform.a), abs(self.transform.e), 1e-12)
        mine, theirs = tuple(self.transform)[:6], tuple(other.transform)[:6]
        return all(abs(a - b) <= tol * pixel for a, b in zip(mine, theirs, strict=True))

    def same_grid(self, other: Grid, tol: float = 1e-4) -> bool:
        """True when size, CRS and transform (within ``tol`` of a pixel) are the same.

        Band count, dtype and nodata are not part of the grid.
        """
        return self.same_size(other) and self.same_crs(other) and self.same_transform(other, tol)

    def profile(self) -> dict[str, Any]:
        """A rasterio profile for writing a tiled, deflate-compressed GeoTIFF on this grid."""
        profile: dict[str, Any] = {
            "driver": "GTiff",
            "width": self.width,
            "height": self.height,
            "count": self.count,
            "dtype": self.dtype,
            "crs": self.crs,
            "transform": self.transform,
            "nodata": self.nodata,
            "tiled": True,
            "blockxsize": BLOCK_SIZE,
            "blockysize": BLOCK_SIZE,
            "compress": "deflate",
        }
        if np.issubdtype(np.dtype(self.dtype), np.integer):
            profile["predictor"] = 2
        return profile


def open_error(path: Path, exc: Exception) -> EstStfmError:
    """The one-line error for a raster that cannot be opened: missing, a folder, or unreadable."""
    if not path.exists():
        return EstStfmError(f"raster not found: {path} (check the path)")
    if path.is_dir():
        return EstStfmError(f"{path} is a directory, not a raster: give the path of an image file")
    if "previous exception" in str(exc) and exc.__cause__ is not None:
        exc = exc.__cause__  # rasterio's "Read failed. See previous exception for details."
    reason = " ".join(str(exc).split())
    return EstStfmError(
        f"cannot read {path} as a raster ({reason}): give a GeoTIFF, an ENVI file with its .hdr "
        "or another GDAL-readable image"
    )


def read_grid(path: str | Path) -> Grid:
    """The :class:`Grid` of a raster file (opens the header only, reads no pixels)."""
    path = Path(path)
    try:
        with quiet_georeferencing(), rasterio.open(path) as ds:
            return Grid(
                crs=ds.crs,
                transform=ds.transform,
                width=ds.width,
                height=ds.height,
                count=ds.count,
                dtype=str(ds.dtypes[0]),
                nodata=None if ds.nodata is None else float(ds.nodata),
                descriptions=tuple(ds.descriptions),
            )
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise open_error(path, exc) from None


def as_window(window: WindowLike, width: int, height: int, path: str | Path) -> Window:
    """``window`` as an integer rasterio ``Window`` inside ``width`` x ``height``, or a one-line
    error naming ``path``."""
    if not isinstance(window, Window):
        try:
            (r0, r1), (c0, c1) = window
            window = Window.from_slices((int(r0), int(r1)), (int(c0), int(c1)))
        except (TypeError, ValueError):
            raise EstStfmError(
                f"window {window!r} for {path} must be a rasterio Window or "
                "((row_start, row_stop), (col_start, col_stop))"
            ) from None
    r0, c0 = window.row_off, window.col_off
    r1, c1 = r0 + window.height, c0 + window.width
    if not (0 <= r0 < r1 <= height and 0 <= c0 < c1 <= width):
        raise EstStfmError(
            f"window rows {r0}:{r1}, cols {c0}:{c1} is empty or outside {path} "
            f"({height} rows x {width} cols): choose a window inside the image"
        )
    return window


def _band_indexes(bands: Sequence[int] | None, count: int, path: Path) -> list[int]:
    if bands is None:
        return list(range(1, count + 1))
    out = [int(b) for b in bands]
    bad = [b for b in out if not 1 <= b <= count]
    if bad or not out:
        raise EstStfmError(
            f"band {bad[0] if bad else '(none)'} of {path} does not exist: it has {count} bands "
            "(bands are numbered from 1)"
        )
    return out


def read_raster(
    path: str | Path,
    scale: float = 1.0,
    window: WindowLike | None = None,
    *,
    offset: float = 0.0,
    bands: Sequence[int] | None = None,
    nodata: Sequence[float] = (),
    valid_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a raster as ``(values, valid)``.

    ``values`` is float32 ``(bands, H, W)``, ``stored * scale + offset``; ``valid`` is bool
    ``(H, W)``, False where any band equals the file's nodata or one of the extra ``nodata``
    values (stored units), is NaN or infinite (also after scaling), or lies outside
    ``valid_range`` (decoded units). Invalid pixels are 0.0 in ``values``. The file's own
    band-scale metadata is not applied: pass ``scale`` explicitly. ``window`` restricts the read
    to a block of the image; ``bands`` (numbered from 1) to some of its bands.
    """
    path = Path(path)
    scale = check_scale(scale)
    offset = check_offset(offset)
    try:
        with quiet_georeferencing(), rasterio.open(path) as ds:
            win = None if window is None else as_window(window, ds.width, ds.height, path)
            indexes = _band_indexes(bands, ds.count, path)
            raw = ds.read(indexes, window=win)
            file_nodata = ds.nodata
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise open_error(path, exc) from None
    return decode(raw, scale, offset, nodata_values(file_nodata, nodata), valid_range)


def read_band(path: str | Path, band: int = 1, window: WindowLike | None = None) -> np.ndarray:
    """The stored values of one band ``(H, W)``, as they are (no nodata, no scaling): for masks."""
    path = Path(path)
    try:
        with quiet_georeferencing(), rasterio.open(path) as ds:
            win = None if window is None else as_window(window, ds.width, ds.height, path)
            _band_indexes([band], ds.count, path)
            return ds.read(band, window=win)
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise open_error(path, exc) from None


def _sample_windows(width: int, height: int, count: int, size: int) -> list[Window]:
    """Up to ``count`` x ``count`` windows of ``size`` pixels spread evenly over the image."""
    if width <= count * size and height <= count * size:
        return [Window(0, 0, width, height)]

    def starts(n: int) -> list[int]:
        if n <= size:
            return [0]
        return sorted({round(i * (n - size) / max(count - 1, 1)) for i in range(count)})

    w, h = min(size, width), min(size, height)
    return [Window(c, r, w, h) for r in starts(height) for c in starts(width)]


def sample_values(
    path: str | Path,
    *,
    bands: Sequence[int] | None = None,
    nodata: Sequence[float] = (),
    scale: float = 1.0,
    offset: float = 0.0,
    count: int = 4,
    size: int = 32,
) -> np.ndarray:
    """Decoded values of the valid pixels in a few small windows spread over the image.

    A cheap look at a file (at most ``count`` x ``count`` windows of ``size`` pixels): 1-D
    float64, every band of every valid sampled pixel.
    """
    path = Path(path)
    try:
        with quiet_georeferencing(), rasterio.open(path) as ds:
            indexes = _band_indexes(bands, ds.count, path)
            found = [
                ds.read(indexes, window=w)
                for w in _sample_windows(ds.width, ds.height, count, size)
            ]
            file_nodata = ds.nodata
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise open_error(path, exc) from None
    out = []
    for raw in found:
        values, valid = decode(raw, scale, offset, nodata_values(file_nodata, nodata))
        out.append(values[:, valid].astype(np.float64).ravel())
    return np.concatenate(out) if out else np.zeros(0)


def has_valid_pixel(
    path: str | Path,
    *,
    bands: Sequence[int] | None = None,
    nodata: Sequence[float] = (),
    rows_per_read: int = 256,
) -> bool:
    """True as soon as one pixel of the file is valid (not nodata, NaN or infinite).

    Reads blocks of rows until it finds one, so a file that is entirely invalid is read once.
    """
    path = Path(path)
    try:
        with quiet_georeferencing(), rasterio.open(path) as ds:
            indexes = _band_indexes(bands, ds.count, path)
            values = nodata_values(ds.nodata, nodata)
            for row in range(0, ds.height, rows_per_read):
                window = Window(0, row, ds.width, min(rows_per_read, ds.height - row))
                if decode(ds.read(indexes, window=window), nodata=values)[1].any():
                    return True
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise open_error(path, exc) from None
    return False
