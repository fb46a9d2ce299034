"""Writing GeoTIFFs: a whole image at once, or streamed block by block (tiled prediction), both
atomically (a temporary name renamed into place) and in the grid's encoding."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
import rasterio.shutil
from rasterio.windows import Window

from est_stfm.errors import EstStfmError
from est_stfm.io.atomic import atomic_target
from est_stfm.io.encoding import check_offset, check_scale, default_nodata, encode, representable
from est_stfm.io.raster import WRITABLE_DTYPES, Grid, quiet_georeferencing


def write_metadata(
    ds: rasterio.io.DatasetWriter,
    descriptions: Sequence[str | None] | None,
    scale: float,
    offset: float = 0.0,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Band descriptions, band scales/offsets and the ``reflectance_scale``/``reflectance_offset``
    tags of a file being written (shared by whole-image and streamed writes)."""
    for i, text in enumerate(descriptions or (), start=1):
        if text:
            ds.set_band_description(i, str(text))
    ds.scales = (scale,) * ds.count
    extra = {k: str(v) for k, v in (tags or {}).items()}
    if offset != 0.0:
        ds.offsets = (offset,) * ds.count
        extra["reflectance_offset"] = repr(offset)
    ds.update_tags(reflectance_scale=repr(scale), **extra)


def write_raster(
    path: str | Path,
    reflectance: np.ndarray,
    grid: Grid,
    scale: float = 1.0,
    valid: np.ndarray | None = None,
    descriptions: Sequence[str | None] | None = None,
    dtype: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    offset: float = 0.0,
) -> None:
    """Write reflectance ``(bands, H, W)`` (or ``(H, W)``) as a GeoTIFF on ``grid``, atomically.

    Values are stored as ``(reflectance - offset) / scale`` in ``dtype`` (default: the grid's),
    rounded and
    clipped to the range of integer dtypes. Pixels not ``valid``, or not finite, get the grid's
    nodata, or -9999 (signed), the maximum (unsigned) or NaN (float) when the grid has none; a
    valid pixel that would encode to nodata is moved one unit towards zero. The band count may
    differ from ``grid.count``; the grid's descriptions are kept when the band count matches.
    Band scales and offsets and the ``reflectance_scale`` tag record ``scale`` and ``offset``;
    ``tags`` adds more tags. A grid without georeferencing is written without one.
    The file is written under a temporary name in the same directory and renamed into place, so
    an existing file is either replaced whole or left untouched.
    """
    path = Path(path)
    scale = check_scale(scale)
    offset = check_offset(offset)
    data = np.asarray(reflectance)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.shape[1:] != grid.shape or data.shape[0] < 1:
        raise EstStfmError(
            f"cannot write {path}: the image is shaped {tuple(np.shape(reflectance))} but the grid "
            f"needs (bands, {grid.height}, {grid.width}): pass a (bands, rows, cols) array"
        )
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
        raise EstStfmError(
            f"cannot write {path}: reflectance must be real numbers, not {data.dtype}"
        )
    bands = data.shape[0]
    invalid = ~np.all(np.isfinite(data), axis=0)
    if valid is not None:
        mask = np.asarray(valid)
        if mask.shape != grid.shape:
            raise EstStfmError(
                f"cannot write {path}: the valid mask is shaped {mask.shape} but the image is "
                f"{grid.shape} (rows, cols)"
            )
        invalid |= ~mask.astype(bool)
    try:
        out_dtype = np.dtype(dtype or grid.dtype)
    except TypeError:
        out_dtype = None
    if out_dtype is None or out_dtype.name not in WRITABLE_DTYPES:
        raise EstStfmError(
            f"cannot write {path}: unsupported dtype {dtype or grid.dtype!r} "
            f"(use one of {', '.join(sorted(WRITABLE_DTYPES))})"
        )
    nodata = grid.nodata
    if nodata is not None and not representable(nodata, out_dtype):
        nodata = default_nodata(out_dtype)
    if nodata is None and invalid.any():
        nodata = default_nodata(out_dtype)
    if descriptions is None:
        descriptions = grid.descriptions if len(grid.descriptions) == bands else None
    elif len(descriptions) != bands:
        raise EstStfmError(
            f"cannot write {path}: {len(descriptions)} band descriptions for {bands} bands"
        )
    encoded = encode(data, invalid, scale, out_dtype, nodata, offset)

    profile = grid.profile()
    profile.update(count=bands, dtype=out_dtype.name, nodata=nodata)
    if not np.issubdtype(out_dtype, np.integer):
        profile.pop("predictor", None)
    try:
        with (
            quiet_georeferencing(),
            atomic_target(path) as tmp,
            rasterio.open(tmp, "w", **profile) as ds,
        ):
            ds.write(encoded)
            write_metadata(ds, descriptions, scale, offset, tags)
    except (rasterio.errors.RasterioError, OSError) as exc:
        reason = " ".join(str(getattr(exc, "strerror", None) or exc).split())
        raise EstStfmError(
            f"cannot write {path} ({reason}): check that the directory is writable and the path "
            "is not a directory"
        ) from None


class StreamedGeoTiff:
    """A GeoTIFF on ``grid`` written block of rows by block of rows, in the grid's encoding.

    Reflectance is stored as ``value / scale`` in the grid's dtype (as
    :func:`est_stfm.data.write_raster` does); invalid pixels get the grid's nodata (or the
    dtype's default nodata). Use :func:`streamed_geotiff` to open one.
    """

    def __init__(
        self, ds: rasterio.io.DatasetWriter, grid: Grid, scale: float, offset: float, nodata: float
    ):
        self.ds, self.grid, self.scale, self.offset, self.nodata = ds, grid, scale, offset, nodata
        self.dtype = np.dtype(ds.dtypes[0])

    def write(self, row0: int, col0: int, image: np.ndarray, valid: np.ndarray) -> None:
        """Write reflectance ``(bands, h, w)`` and its valid mask at ``(row0, col0)``."""
        invalid = ~valid | ~np.all(np.isfinite(image), axis=0)
        encoded = encode(image, invalid, self.scale, self.dtype, self.nodata, self.offset)
        self.ds.write(encoded, window=Window(col0, row0, image.shape[2], image.shape[1]))


@contextmanager
def streamed_geotiff(
    path: str | Path,
    grid: Grid,
    scale: float,
    bands: int,
    *,
    offset: float = 0.0,
    cog: bool = False,
    tags: dict[str, str] | None = None,
) -> Iterator[StreamedGeoTiff]:
    """Open a tiled GeoTIFF for streamed writes; on success it is renamed into ``path`` (as a
    Cloud-Optimized GeoTIFF with overviews when ``cog``); on failure ``path`` is untouched."""
    dtype = np.dtype(grid.dtype)
    nodata = grid.nodata
    if nodata is None or not representable(nodata, dtype):
        nodata = default_nodata(dtype)
    profile = grid.profile()
    profile.update(count=bands, nodata=nodata, BIGTIFF="IF_SAFER")
    if not np.issubdtype(dtype, np.integer):
        profile.pop("predictor", None)
    descriptions = grid.descriptions if len(grid.descriptions) == bands else (None,) * bands
    with atomic_target(path) as tmp, quiet_georeferencing():
        plain = tmp.with_suffix(".plain.tif") if cog else tmp
        try:
            with rasterio.open(plain, "w", **profile) as ds:
                write_metadata(ds, descriptions, scale, offset, tags)
                yield StreamedGeoTiff(ds, grid, scale, offset, nodata)
            if cog:
                rasterio.shutil.copy(
                    plain, tmp, driver="COG", compress="DEFLATE", overview_resampling="average"
                )
        finally:
            if cog:
                plain.unlink(missing_ok=True)
