"""Compare a prediction file with a truth file: read both as values in their unit, check grids,
score.

Which scale a file is read with (value = stored x scale + offset), the one rule:

1. a file that states its encoding wins: band scale or offset metadata other than 1 and 0, or the
   ``reflectance_scale`` tag that est-stfm writes into every prediction (scale 1 included);
2. else the ``scale`` given (``--scale``);
3. else scale 1, but only while every valid value stays within +-:data:`UNSCALED_LIMIT`: reflectance
   (0-1), NDVI (-1..1), Kelvin (~300), Celsius and 8-bit counts all do, while reflectance stored
   as integers (x 10000, the Landsat / MODIS convention, or x 1000) does not, so a larger value is
   a one-line error asking for ``--scale`` instead of metrics in the wrong unit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from est_stfm.errors import EstStfmError
from est_stfm.evaluation.metrics import DEFAULT_ERGAS_RATIO, MetricReport, evaluate_arrays
from est_stfm.io import read_grid, read_raster
from est_stfm.io.raster import quiet_georeferencing

SCALE_TAG = "reflectance_scale"
"""The tag est-stfm writes into every file it makes, beside the band scales (even when 1)."""

UNSCALED_LIMIT = 500.0
"""The largest magnitude a file without scale metadata may hold to be read at scale 1."""


def stated_encoding(path: str | Path) -> tuple[float, float] | None:
    """``(scale, offset)`` the file states in its metadata (rule 1 above), or None."""
    with quiet_georeferencing(), rasterio.open(path) as ds:
        scales = sorted({float(s) for s in ds.scales})
        offsets = sorted({float(o) for o in ds.offsets})
        tagged = SCALE_TAG in ds.tags()
    if len(scales) > 1 or len(offsets) > 1:
        listed = ", ".join(f"{v:g}" for v in scales), ", ".join(f"{v:g}" for v in offsets)
        raise EstStfmError(
            f"{path} has band scales {listed[0]} and offsets {listed[1]}: est-stfm reads one "
            "scale and offset per file; rewrite it with one of each"
        )
    if not tagged and scales == [1.0] and offsets == [0.0]:
        return None
    return scales[0], offsets[0]


def file_encoding(
    path: str | Path, scale: float | None = None, offset: float | None = None
) -> tuple[float, float]:
    """``(scale, offset)`` of a file: what its metadata states, else the given values, else 1
    and 0 (rules 1 and 2 of the module docstring)."""
    stated = stated_encoding(path)
    if stated is not None:
        return stated
    return (1.0 if scale is None else scale), (0.0 if offset is None else offset)


def check_unscaled(path: str | Path, values: np.ndarray) -> None:
    """Rule 3: a one-line error when values read at scale 1 (invalid pixels 0) reach beyond
    :data:`UNSCALED_LIMIT`."""
    if values.size == 0:
        return
    high, low = float(values.max()), float(values.min())
    extreme = high if high >= -low else low
    if abs(extreme) <= UNSCALED_LIMIT:
        return
    kind = "integers" if np.issubdtype(np.dtype(read_grid(path).dtype), np.integer) else "values"
    bound = "up to" if extreme > 0 else "down to"
    raise EstStfmError(
        f"{path} stores {kind} {bound} {extreme:g} and has no scale metadata: give --scale "
        "(e.g. --scale 0.0001 for reflectance x 10000; --scale 1 compares the stored values)"
    )


def read_reflectance(
    path: str | Path, scale: float | None = None, offset: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(values, valid) of a raster, decoded with the scale of the module docstring's rule."""
    read_grid(path)  # one-line errors for a missing or unreadable file
    stated = stated_encoding(path)
    if stated is not None:
        return read_raster(path, stated[0], offset=stated[1])
    values, valid = read_raster(
        path, 1.0 if scale is None else scale, offset=0.0 if offset is None else offset
    )
    if scale is None:
        check_unscaled(path, values)
    return values, valid


def _check_grids(path_a: str | Path, path_b: str | Path, bands: bool = True) -> None:
    """One-line errors unless both rasters share size, transform and CRS (and band count)."""
    ga, gb = read_grid(path_a), read_grid(path_b)
    if (ga.width, ga.height) != (gb.width, gb.height) or (bands and ga.count != gb.count):
        raise EstStfmError(
            f"{path_a} is {ga.count}x{ga.height}x{ga.width} but {path_b} is "
            f"{gb.count}x{gb.height}x{gb.width} (bands x rows x cols): compare images of one grid"
        )
    if not ga.same_grid(gb):
        raise EstStfmError(
            f"{path_a} and {path_b} have the same size but a different transform or CRS: "
            "resample one onto the other's grid first"
        )


def read_mask(path: str | Path) -> np.ndarray:
    """A single-band mask raster as an ``(H, W)`` bool array: non-zero = valid; the file's nodata,
    NaN and inf pixels are invalid."""
    grid = read_grid(path)
    if grid.count != 1:
        raise EstStfmError(
            f"mask {path} has {grid.count} bands: a mask is one band where non-zero = valid"
        )
    values, ok = read_raster(path)
    return ok & (values[0] != 0)


def load_pair(
    pred_path: str | Path,
    truth_path: str | Path,
    *,
    scale: float | None = None,
    mask: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(prediction, truth, valid)`` as reflectance on one grid.

    ``valid`` is True where neither file is nodata (or NaN / inf) and, with ``mask`` (a
    single-band raster on the same grid), where the mask is non-zero. Raises
    :class:`EstStfmError` with one line for files of different grids.
    """
    _check_grids(pred_path, truth_path)
    if mask is not None:
        _check_grids(mask, truth_path, bands=False)
    pred, pv = read_reflectance(pred_path, scale)
    truth, tv = read_reflectance(truth_path, scale)
    valid = pv & tv
    if mask is not None:
        valid &= read_mask(mask)
    return pred, truth, valid


def evaluate_files(
    pred_path: str | Path,
    truth_path: str | Path,
    *,
    scale: float | None = None,
    ergas_ratio: float = DEFAULT_ERGAS_RATIO,
    mask: str | Path | None = None,
) -> MetricReport:
    """Every metric of a prediction against the truth, over pixels valid in both (and in
    ``mask``, a single-band raster where non-zero = valid)."""
    pred, truth, valid = load_pair(pred_path, truth_path, scale=scale, mask=mask)
    return evaluate_arrays(pred, truth, valid, ergas_ratio=ergas_ratio)


def band_names(path: str | Path) -> list[str]:
    """Each band's description in the file, or ``band i`` (1-based) where it has none."""
    return [d or f"band {i + 1}" for i, d in enumerate(read_grid(path).descriptions)]
