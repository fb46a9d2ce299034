"""Reading an image that lies on another grid onto the fine grid, window by window.

A coarse image may keep its own pixel size, extent and even CRS. :func:`placement` works out how
it lies on the fine grid (or that it already is the fine grid, when nothing needs resampling), and
:func:`read_placed` reads any window of the fine grid from it through rasterio's ``WarpedVRT``: a
virtual, on-the-fly warp, so no resampled copy of the whole image is ever made.

How a source is related to the target grid:

* Same size, CRS and transform: read as it is (no resampling).
* Both in the same coordinate system (the same CRS, both without one, or the same local
  "Arbitrary" system of ENVI files) with geotransforms: pixel positions follow from the two
  transforms; the warp is a pure affine resampling.
* Both in real (geographic or projected) CRSs that differ: reprojected by GDAL.
* Otherwise (one of them has no geotransform, or one is local and the other real): the source is
  assumed to cover exactly the target's extent, and a :class:`GeoreferencingWarning` says so.

Pixels of the target that the source does not cover are invalid.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

from est_stfm.errors import EstStfmError
from est_stfm.io.raster import (
    GeoreferencingWarning,
    Grid,
    WindowLike,
    as_window,
    decode,
    open_error,
    quiet_georeferencing,
)

RESAMPLING = {
    "bilinear": Resampling.bilinear,
    "nearest": Resampling.nearest,
    "cubic": Resampling.cubic,
    "average": Resampling.average,
}
"""The resampling methods a scene may ask for, by name."""

_PIXELS = CRS.from_epsg(3857)
"""A stand-in CRS for warps inside one coordinate system: the same on both sides, so GDAL only
resamples (it never reprojects between two identical CRSs)."""

_FLIP = Affine(1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
"""Target pixel (col, row) -> (x, -y): a north-up frame in target pixel units."""


@dataclass(frozen=True)
class Placement:
    """Where a source raster lies relative to a target grid, as WarpedVRT arguments."""

    src_crs: CRS
    src_transform: Affine
    dst_crs: CRS
    dst_transform: Affine
    assumed: bool = False
    """True when the extent was assumed (the two files cannot be related by coordinates)."""


def _same_system(a: Grid, b: Grid) -> bool:
    """Both grids have geotransforms in one coordinate system (same CRS, or both none)."""
    return a.has_transform and b.has_transform and a.same_crs(b)


def _pixel_placement(src_to_dst_pixels: Affine, assumed: bool) -> Placement:
    return Placement(_PIXELS, _FLIP @ src_to_dst_pixels, _PIXELS, _FLIP, assumed)


def placement(source: Grid, target: Grid) -> Placement | None:
    """How ``source`` lies on ``target``; None when it already is on ``target``'s grid.

    Raises :class:`EstStfmError` (without a file name: callers add it) when ``source`` does not
    overlap ``target``.
    """
    if source.same_grid(target):
        return None
    if _same_system(source, target):
        to_pixels = ~target.transform @ source.transform
        place = _pixel_placement(to_pixels, assumed=False)
    elif source.georeferenced and target.georeferenced:
        place = Placement(source.crs, source.transform, target.crs, target.transform)
    else:
        to_pixels = Affine.scale(target.width / source.width, target.height / source.height)
        place = _pixel_placement(to_pixels, assumed=True)
    if place.src_crs == _PIXELS:
        to_pixels = _FLIP @ place.src_transform
        if source.same_size(target) and _is_identity(to_pixels):
            return None  # pixel for pixel: no resampling
    _check_overlap(source, target, place)
    return place


def _is_identity(t: Affine, tol: float = 1e-6) -> bool:
    return all(
        abs(a - b) <= tol for a, b in zip(tuple(t)[:6], tuple(Affine.identity())[:6], strict=True)
    )


def _footprint(source: Grid, target: Grid, place: Placement) -> tuple[float, float, float, float]:
    """The source's extent in target pixels: (col_min, row_min, col_max, row_max)."""
    w, h = source.width, source.height
    corners = [place.src_transform @ (c, r) for c in (0, w) for r in (0, h)]
    if place.src_crs != place.dst_crs:
        xs, ys = [x for x, _ in corners], [y for _, y in corners]
        try:
            left, bottom, right, top = transform_bounds(
                place.src_crs, place.dst_crs, min(xs), min(ys), max(xs), max(ys), densify_pts=21
            )
        except (rasterio.errors.RasterioError, ValueError):
            return (math.nan,) * 4
        corners = [(x, y) for x in (left, right) for y in (bottom, top)]
    pixels = [~place.dst_transform @ xy for xy in corners]
    cols, rows = [c for c, _ in pixels], [r for _, r in pixels]
    return min(cols), min(rows), max(cols), max(rows)


def _check_overlap(source: Grid, target: Grid, place: Placement) -> None:
    c0, r0, c1, r1 = _footprint(source, target, place)
    values = (c0, r0, c1, r1)
    if not all(math.isfinite(v) for v in values) or not (
        c0 < target.width and c1 > 0 and r0 < target.height and r1 > 0
    ):
        raise EstStfmError(
            f"does not overlap the fine grid ({target.size_text} px in {target.crs_text})"
        )


def warn_assumed(what: str, target_name: str) -> None:
    """Say that ``what`` was placed on the fine grid by assuming the same extent."""
    warnings.warn(
        f"{what} cannot be placed by coordinates (no georeferencing, or none shared with the "
        f"fine grid of {target_name}): assumed to cover exactly the fine grid's extent",
        GeoreferencingWarning,
        stacklevel=3,
    )


_GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "uint64": "UInt64",
    "int64": "Int64",
    "float32": "Float32",
    "float64": "Float64",
}


def _bands_vrt(
    path: Path, width: int, height: int, dtypes: Sequence[str], bands: Sequence[int]
) -> str:
    """A VRT (XML) exposing only ``bands`` of ``path``: the warper then resamples only those."""
    parts = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">']
    for i, band in enumerate(bands, start=1):
        kind = _GDAL_TYPES[dtypes[band - 1]]
        parts.append(
            f'<VRTRasterBand dataType="{kind}" band="{i}"><SimpleSource>'
            f'<SourceFilename relativeToVRT="0">{escape(str(path.resolve()))}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand></SimpleSource></VRTRasterBand>"
        )
    parts.append("</VRTDataset>")
    return "".join(parts)


def read_placed(
    path: str | Path,
    target: Grid,
    place: Placement,
    window: WindowLike | None = None,
    *,
    resampling: str = "bilinear",
    scale: float = 1.0,
    offset: float = 0.0,
    bands: Sequence[int] | None = None,
    nodata: Sequence[float] = (),
    valid_range: tuple[float, float] | None = None,
    raw: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``window`` of the ``target`` grid from the file at ``path`` lying at ``place``.

    Returns ``(values, valid)`` as :func:`est_stfm.data.read_raster` does, resampled with
    ``resampling``; pixels the file does not cover are invalid. The file's nodata (or the single
    value in ``nodata``) is left out of the interpolation. With ``raw`` the float32 resampled
    stored values are returned as they are (NaN where not covered), and ``valid`` is only
    coverage.
    """
    path = Path(path)
    win = None if window is None else as_window(window, target.width, target.height, path)
    method = RESAMPLING[resampling]
    try:
        with quiet_georeferencing(), rasterio.open(path) as whole:
            everything = list(range(1, whole.count + 1))
            indexes = everything if bands is None else [int(b) for b in bands]
            declared = [v for v in ([whole.nodata] + list(nodata)) if v is not None]
            if len({float(v) for v in declared if not math.isnan(v)}) > 1:
                raise EstStfmError(
                    f"{path} is resampled onto the fine grid, which handles one nodata value, "
                    f"but it has several ({', '.join(f'{v:g}' for v in declared)}): keep one"
                )
            numbers = [float(v) for v in declared if not math.isnan(v)]
            src_nodata = numbers[0] if numbers else (math.nan if declared else None)
            if indexes != everything:  # warp only the bands asked for
                xml = _bands_vrt(path, whole.width, whole.height, whole.dtypes, indexes)
                src, indexes = rasterio.open(xml), list(range(1, len(indexes) + 1))
            else:
                src = whole
            with (
                src,
                WarpedVRT(
                    src,
                    src_crs=place.src_crs,
                    src_transform=place.src_transform,
                    crs=place.dst_crs,
                    transform=place.dst_transform,
                    width=target.width,
                    height=target.height,
                    resampling=method,
                    src_nodata=src_nodata,
                    nodata=math.nan,
                    dtype="float32",
                ) as vrt,
            ):
                stored = vrt.read(indexes, window=win)
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise open_error(path, exc) from None
    if raw:
        return stored, np.all(np.isfinite(stored), axis=0)
    return decode(stored, scale, offset, (), valid_range)
