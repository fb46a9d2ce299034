"""Fusion in the ecosystem's terms: xarray DataArrays in, a lazy dask-backed DataArray out.

:func:`fuse_xarray` takes the fine and the coarse series as rioxarray opens them (dims ``time``,
``band``, ``y``, ``x``; values in their unit with NaN for an invalid pixel, as
``rioxarray.open_rasterio(path, mask_and_scale=True)`` gives them) and returns the fine
prediction at every coarse date, dates with a fine image included (as a held-out date is
predicted), with the coarse series' coordinates. Nothing is computed until asked: each date
is a ``dask.array.map_overlap`` over blocks of ``y`` x ``x`` with the method's halo of context,
so whatever dask scheduler is active runs it, a ``dask.distributed`` cluster included, with no
other change. Each date is fused from the reference pair(s)
:func:`~est_stfm.inference.references.choose_references` would pick among the dates that have
both a fine and a coarse image (never the date itself), with the arithmetic of
:func:`~est_stfm.inference.predict.fuse`. Needs the ``cube`` extra.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import numpy as np

from est_stfm.errors import EstStfmError
from est_stfm.inference.predict import fuse_arrays
from est_stfm.inference.references import DEFAULT_PAIRS, PAIRS, pair_dates
from est_stfm.inference.tiles import DEFAULT_HALO
from est_stfm.io.cube import need_module
from est_stfm.methods import Method, resolve_method
from est_stfm.methods.classic import CLASSIC_METHODS, classic_method

DIMS = ("time", "band", "y", "x")
DEFAULT_CHUNK = 512


def _fuse_block(c2: np.ndarray, *refs: np.ndarray, method: Method) -> np.ndarray:
    """One block: ``c2`` and each reference's ``fine, coarse`` (bands, h, w), NaN = invalid."""

    def read(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        valid = np.isfinite(values).all(axis=0)
        return np.where(valid, values, 0.0).astype(np.float32), valid

    pairs = [(read(refs[i]), read(refs[i + 1])) for i in range(0, len(refs), 2)]
    image, valid = fuse_arrays(method, read(c2), pairs)
    image[:, ~valid] = np.nan
    return image


def _method(method: str | Method, coarse_factor: float | None) -> Method:
    if not isinstance(method, str):
        return method
    if method in CLASSIC_METHODS:
        return classic_method(method, coarse_factor=coarse_factor)
    return resolve_method(method)


def _dates(array: Any, what: str) -> list[dt.date]:
    times = np.asarray(array["time"].values).astype("datetime64[D]")
    days = [t.astype(dt.date) for t in times]
    if len(set(days)) != len(days):
        raise EstStfmError(f"{what} has two images on one day: give one image per date")
    return days


def _checked(array: Any, what: str) -> Any:
    """``array`` with dims in :data:`DIMS` order as float32 (its nodata as NaN)."""
    xr = need_module("xarray")
    if not isinstance(array, xr.DataArray) or set(array.dims) != set(DIMS):
        dims = getattr(array, "dims", type(array).__name__)
        raise EstStfmError(
            f"{what} must be an xarray.DataArray with dims time, band, y, x (got {dims}): open "
            "each date with rioxarray.open_rasterio(path, mask_and_scale=True), concat on time"
        )
    array = array.transpose(*DIMS)
    nodata = array.attrs.get("_FillValue")
    values = array.astype(np.float32)
    if nodata is not None and np.isfinite(nodata):
        values = values.where(array != nodata)
    return values


def _same_grid(fine: Any, coarse: Any) -> None:
    for dim in ("band", "y", "x"):
        a, b = fine[dim].values, coarse[dim].values
        if a.shape != b.shape or not np.allclose(a, b):
            raise EstStfmError(
                f"fine and coarse differ along {dim} ({a.size} vs {b.size} values): put the "
                "coarse series on the fine grid first, e.g. coarse.rio.reproject_match(fine)"
            )


def fuse_xarray(
    fine: Any,
    coarse: Any,
    method: str | Method = "naive-change",
    *,
    pairs: str = DEFAULT_PAIRS,
    halo: int | None = None,
    chunks: int = DEFAULT_CHUNK,
    coarse_factor: float | None = None,
) -> Any:
    """The fine image at every date of ``coarse``, lazily (see the module docstring).

    ``fine``, ``coarse``: DataArrays ``(time, band, y, x)`` on the same grid. ``method``: a name
    ``est-stfm predict --model`` accepts or a :class:`~est_stfm.methods.Method`; FSDAF and Fit-FC
    need ``coarse_factor`` (coarse pixel size in fine pixels). ``pairs`` as in ``predict``.
    ``halo``: context around each block, default the method's halo and at least
    :data:`~est_stfm.inference.tiles.DEFAULT_HALO` (which covers the two-pair blending window).
    ``chunks``: block size in pixels when the inputs are not dask arrays (else the coarse
    series' own ``y``/``x`` chunks). Returns a float32 DataArray with ``coarse``'s coordinates
    and a ``references`` coordinate along ``time``; NaN where no prediction is valid.
    """
    da = need_module("dask.array")
    xr = need_module("xarray")
    if pairs not in PAIRS:
        raise EstStfmError(f"pairs {pairs!r}: use 1, 2 or auto")
    fine, coarse = _checked(fine, "fine"), _checked(coarse, "coarse")
    _same_grid(fine, coarse)
    fuser = _method(method, coarse_factor)
    bands = coarse.sizes["band"]
    if fuser.bands is not None and fuser.bands != bands:
        raise EstStfmError(
            f"the model was trained on {fuser.bands} bands but the arrays have {bands}: "
            "fit a model on these bands"
        )
    depth = max(DEFAULT_HALO, fuser.halo) if halo is None else halo
    fine_days, coarse_days = _dates(fine, "fine"), _dates(coarse, "coarse")
    candidates = sorted(set(fine_days) & set(coarse_days))
    if coarse.chunks is not None:
        ys, xs = coarse.chunks[2], coarse.chunks[3]
    else:
        ys, xs = chunks, chunks
    layout = {0: -1, 1: ys, 2: xs}

    def block_source(array: Any, days: list[dt.date], day: dt.date) -> Any:
        return da.asarray(array.data[days.index(day)]).rechunk(layout)

    func = partial(_fuse_block, method=fuser)
    out, refs_text = [], []
    for day in coarse_days:
        refs = pair_dates(day, [d for d in candidates if d != day], pairs)
        inputs = [block_source(coarse, coarse_days, day)]
        for ref in refs:
            inputs += [block_source(fine, fine_days, ref), block_source(coarse, coarse_days, ref)]
        out.append(
            da.map_overlap(
                func,
                *inputs,
                depth={0: 0, 1: min(depth, coarse.sizes["y"]), 2: min(depth, coarse.sizes["x"])},
                boundary="none",
                dtype=np.float32,
                meta=np.empty((0, 0, 0), np.float32),
            )
        )
        refs_text.append(" ".join(r.isoformat() for r in refs))
    result = xr.DataArray(
        da.stack(out),
        dims=DIMS,
        coords=coarse.coords,
        attrs={"method": fuser.name},
        name="fused",
    )
    if "long_name" in coarse.attrs:
        result.attrs["long_name"] = coarse.attrs["long_name"]  # the band names
    return result.assign_coords(references=("time", refs_text))
