"""Compare a prediction file with a truth file: read both as reflectance, check grids, score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from est_stfm.data import read_grid, read_raster
from est_stfm.errors import EstStfmError
from est_stfm.evaluation.metrics import DEFAULT_ERGAS_RATIO, MetricReport, evaluate_arrays


def file_scale(path: str | Path, default: float | None) -> float:
    """The reflectance scale of a file: its band scale metadata when set (not 1), else ``default``
    (else 1). est-stfm writes the scale into every file it predicts."""
    with rasterio.open(path) as ds:
        scales = {float(s) for s in ds.scales}
    if len(scales) == 1 and scales != {1.0}:
        return scales.pop()
    return 1.0 if default is None else default


def read_reflectance(path: str | Path, scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(reflectance, valid) of a raster, scaled by :func:`file_scale`."""
    read_grid(path)  # one-line errors for a missing or unreadable file
    return read_raster(path, scale=file_scale(path, scale))


def evaluate_files(
    pred_path: str | Path,
    truth_path: str | Path,
    *,
    scale: float | None = None,
    ergas_ratio: float = DEFAULT_ERGAS_RATIO,
) -> MetricReport:
    """Every metric of a prediction against the truth, over pixels valid in both."""
    gp, gt = read_grid(pred_path), read_grid(truth_path)
    if (gp.width, gp.height, gp.count) != (gt.width, gt.height, gt.count):
        raise EstStfmError(
            f"{pred_path} is {gp.count}x{gp.height}x{gp.width} but {truth_path} is "
            f"{gt.count}x{gt.height}x{gt.width} (bands x rows x cols): compare images of one grid"
        )
    if not gp.same_grid(gt):
        raise EstStfmError(
            f"{pred_path} and {truth_path} have the same size but a different transform or CRS: "
            "resample one onto the other's grid first"
        )
    pred, pv = read_reflectance(pred_path, scale)
    truth, tv = read_reflectance(truth_path, scale)
    return evaluate_arrays(pred, truth, pv & tv, ergas_ratio=ergas_ratio)
