"""Fit-FC: regression model Fitting, spatial Filtering and residual Compensation.

Wang, Q., Atkinson, P.M. (2018) "Spatio-temporal fusion for daily Sentinel-2 images", Remote
Sensing of Environment 204, 31-42.

Our own, vectorised implementation of the paper's three steps; :class:`FitFc` lists the
conventions and where it departs from the paper. Every step is a moving-window operation on the
fine grid, so a tile with the method's ``halo`` gives the same values as a whole-image run.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import uniform_filter

from est_stfm.errors import EstStfmError
from est_stfm.methods.base import PairwiseMethod
from est_stfm.methods.classic.common import (
    as_image,
    check_factor,
    check_same_shape,
    check_window,
    offsets,
    pad,
    shifted,
)

TARGETS = ("change", "prediction")
CHUNK_VALUES = 1 << 23
"""The similar-pixel search holds at most about this many distances (32 MiB) at a time."""


def odd(size: int) -> int:
    """``size`` if odd, else ``size + 1``: a window that stays centred on its pixel."""
    return size if size % 2 else size + 1


def local_mean(array: np.ndarray, size: int) -> np.ndarray:
    """Mean over the in-image pixels of the ``size`` x ``size`` window around each pixel of the
    last two axes (the window is clipped at the border), in float64."""
    if size == 1:
        return array.astype(np.float64)
    axes = (array.ndim - 2, array.ndim - 1)
    data = uniform_filter(array.astype(np.float64), size=size, mode="constant", axes=axes)
    count = uniform_filter(np.ones(array.shape[-2:]), size=size, mode="constant")
    return data / count


def local_regression(
    c1: np.ndarray, c2: np.ndarray, size: int, ridge: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per band and pixel, the least-squares ``a, b`` of ``c2 = a c1 + b`` over the
    ``size`` x ``size`` window (clipped at the border), the slope shrunk towards 1 by ``ridge``:
    ``a = (cov + ridge) / (var + ridge)``, ``b = mean(c2) - a mean(c1)`` (a flat window: a = 1).
    Equal ``c1`` and ``c2`` give ``cov == var`` bit for bit, so ``a = 1, b = 0`` exactly."""
    m1, m2 = local_mean(c1, size), local_mean(c2, size)
    var = np.maximum(local_mean(c1 * c1.astype(np.float64), size) - m1 * m1, 0.0)
    cov = local_mean(c1 * c2.astype(np.float64), size) - m1 * m2
    denominator = var + ridge
    flat = denominator <= 0
    slope = np.where(flat, 1.0, (cov + ridge) / np.where(flat, 1.0, denominator))
    return slope, m2 - slope * m1


def _check_int(name: str, value: int, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise EstStfmError(f"Fit-FC {name} must be an integer >= {least}, got {value!r}")
    return int(value)


class FitFc(PairwiseMethod):
    """Fit-FC (Wang & Atkinson 2018, Remote Sensing of Environment 204): one reference pair.

    ``factor`` is the coarse pixel size in fine pixels (e.g. 16 for 480 m / 30 m), rounded to an
    integer ``s`` (at least 1). Every step runs on the coarse images *as resampled onto the
    fine grid*, with windows measured in fine pixels (no coarse-block grid, so nothing depends
    on where a tile starts):

    1. regression model fitting (RM): per band and fine pixel, the least-squares line
       ``C2 = a C1 + b`` over the ``regression_window`` x ``regression_window`` neighbourhood
       (default ``3 s``, made odd: the paper's 3 x 3 coarse pixels), clipped at the border;
       the slope is shrunk towards 1 by ``ridge`` (default 1e-8 reflectance squared, a std of
       1e-4: ``a = (cov + ridge) / (var + ridge)``), which settles windows where ``C1`` is
       nearly flat (the paper fits plain least squares; ``ridge=0`` does, with ``a = 1`` where
       ``C1`` is exactly flat).
       ``F_RM = a F1 + b``;
    2. spatial filtering (SF): for each pixel, the ``similar`` (default 20) pixels of the
       ``window`` x ``window`` neighbourhood (default ``s`` made odd, about one coarse pixel;
       clipped at the border) nearest to it in ``F1`` by squared spectral distance over all
       bands (the pixel itself included; every pixel tied with the ``similar``-th is kept),
       weighted ``1 / (1 + d / (window / 2))`` normalised, ``d`` the distance in pixels;
       with ``target="change"`` (default) the filter averages the RM change ``F_RM - F1``,
       added back to ``F1``; ``target="prediction"`` averages ``F_RM`` itself, as the paper
       does, which also smooths ``F1``'s own detail where nothing changed;
    3. residual compensation (RC): the RM residual ``R = C2 - (a C1 + b)`` on the fine grid,
       smoothed by an ``s`` x ``s`` mean (made odd), is added. On a nearest-neighbour resampled
       coarse image that mean is a bilinear interpolation of the coarse residuals (the paper:
       bicubic interpolation of the residuals of the coarse pixels).

    ``C1 == C2`` gives back ``F1`` exactly (with ``target="change"``); a global linear change
    ``C2 = a C1 + b`` gives ``a F1 + b`` up to the ridge's shrinkage and the filter's averaging
    over similar pixels that differ. ``halo`` (``regression_window // 2`` plus the larger of
    the filter's and the residual mean's half-widths) gives a tile all the context it uses.
    """

    name = "fit-fc"

    def __init__(
        self,
        factor: float,
        similar: int = 20,
        *,
        window: int | None = None,
        regression_window: int | None = None,
        ridge: float = 1e-8,
        target: str = "change",
    ) -> None:
        check_factor("Fit-FC", factor)
        if target not in TARGETS:
            raise EstStfmError(f"Fit-FC target {target!r}: use one of {', '.join(TARGETS)}")
        if isinstance(ridge, bool) or not isinstance(ridge, (int, float, np.floating)):
            raise EstStfmError(f"Fit-FC ridge must be a number >= 0, got {ridge!r}")
        if not math.isfinite(ridge) or ridge < 0:
            raise EstStfmError(f"Fit-FC ridge must be a finite number >= 0, got {ridge!r}")
        self.factor = float(factor)
        self.block = max(1, int(round(self.factor)))
        self.similar = _check_int("similar", similar, 1)
        self.window = check_window(odd(self.block) if window is None else window)
        self.regression_window = check_window(
            odd(3 * self.block) if regression_window is None else regression_window
        )
        self.residual_window = odd(self.block)
        self.ridge = float(ridge)
        self.target = target

    @property
    def halo(self) -> int:
        """Context in fine pixels needed around a tile: the regression window, then the wider
        of the similar-pixel filter and the residual mean."""
        return self.regression_window // 2 + max(self.window, self.residual_window) // 2

    # --- the steps ---------------------------------------------------------------------------

    def fit(self, c1: np.ndarray, c2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Step 1: the float64 ``(bands, H, W)`` slope and intercept of ``C2`` on ``C1``."""
        return local_regression(c1, c2, self.regression_window, self.ridge)

    def similar_filter(self, f1: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Step 2: the weighted mean of ``values`` ``(bands, H, W)`` over each pixel's
        ``similar`` nearest pixels in ``F1`` within the window."""
        bands, h, w = f1.shape
        r = self.window // 2
        moves = list(offsets(r))
        inverse = [np.float32(1.0 / (1.0 + d / (self.window / 2))) for _, _, d in moves]
        f_pad = pad(f1, r)
        v_pad = pad(values.astype(np.float32), r)
        inside = pad(np.ones((h, w), dtype=bool), r, value=False)
        out = np.empty((bands, h, w), dtype=np.float32)
        rows = max(1, CHUNK_VALUES // (len(moves) * w))
        for top in range(0, h, rows):
            n = min(rows, h - top)
            # the chunk's rows of the padded arrays, with the filter's margin above and below
            fp, vp, ip = (a[..., top : top + n + 2 * r, :] for a in (f_pad, v_pad, inside))
            centre = f1[:, top : top + n]
            dist = np.empty((len(moves), n, w), dtype=np.float32)
            for k, (dy, dx, _) in enumerate(moves):
                diff = shifted(fp, r, dy, dx, (n, w)) - centre
                np.einsum("bij,bij->ij", diff, diff, out=dist[k])
                dist[k][~shifted(ip, r, dy, dx, (n, w))] = np.inf
            kth = min(self.similar, len(moves)) - 1
            limit = np.partition(dist, kth, axis=0)[kth]
            numerator = np.zeros((bands, n, w), dtype=np.float32)
            denominator = np.zeros((n, w), dtype=np.float32)
            for k, (dy, dx, _) in enumerate(moves):
                weight = (dist[k] <= limit) * inverse[k]  # out of the image: inf, never kept
                denominator += weight
                numerator += weight * shifted(vp, r, dy, dx, (n, w))
            out[:, top : top + n] = numerator / denominator  # the centre is always kept
        return out

    def residual(
        self, c1: np.ndarray, c2: np.ndarray, slope: np.ndarray, intercept: np.ndarray
    ) -> np.ndarray:
        """Step 3: the RM residual ``C2 - (a C1 + b)``, smoothed to the fine scale."""
        raw = c2 - (slope * c1 + intercept)
        return local_mean(raw, self.residual_window)

    # --- the method ----------------------------------------------------------------------------

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """F2 (float32 ``(bands, H, W)``) from the reference pair ``(c1, f1)`` and ``c2``."""
        c1, f1, c2 = as_image("c1", c1), as_image("f1", f1), as_image("c2", c2)
        check_same_shape({"c1": c1, "f1": f1, "c2": c2})
        slope, intercept = self.fit(c1, c2)
        f_rm = slope * f1 + intercept
        if self.target == "change":
            f_sf = f1 + self.similar_filter(f1, f_rm - f1)
        else:
            f_sf = self.similar_filter(f1, f_rm)
        return (f_sf + self.residual(c1, c2, slope, intercept)).astype(np.float32)
