"""Compare a prediction file with a truth file: read both as reflectance, check grids, score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from est_stfm.errors import EstStfmError
from est_stfm.evaluation.metrics import DEFAULT_ERGAS_RATIO, MetricReport, evaluate_arrays
from est_stfm.io import read_grid, read_raster


def file_encoding(
    path: str | Path, scale: float | None = None, offset: float | None = None
) -> tuple[float, float]:
    """``(scale, offset)`` of a file: reflectance = stored * scale + offset. The file's band scale
    and offset metadata win when set (est-stfm writes both into every prediction); otherwise the
    given values, else 1 and 0."""
    with rasterio.open(path) as ds:
        scales = {float(s) for s in ds.scales}
        offsets = {float(o) for o in ds.offsets}
    if len(scales) == 1 and scales != {1.0}:
        scale = scales.pop()
    if len(offsets) == 1 and offsets != {0.0}:
        offset = offsets.pop()
    return (1.0 if scale is None else scale), (0.0 if offset is None else offset)


def read_reflectance(
    path: str | Path, scale: float | None = None, offset: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(reflectance, valid) of a raster, decoded with :func:`file_encoding`."""
    read_grid(path)  # one-line errors for a missing or unreadable file
    scale, offset = file_encoding(path, scale, offset)
    return read_raster(path, scale=scale, offset=offset)


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
