"""ESTARFM, the Enhanced STARFM (Zhu et al. 2010): two reference pairs, either side of the date.

Zhu, X., Chen, J., Gao, F., Chen, X., Masek, J. G. (2010) "An enhanced spatial and temporal
adaptive reflectance fusion model for complex heterogeneous regions", Remote Sensing of
Environment 114(11), 2610-2623.

Our own, vectorised implementation: as in :mod:`est_stfm.methods.classic.starfm`, the loop runs
over the offsets of the moving window, each step handling every pixel and band at once with
array shifts, so the cost is ``window**2`` passes over the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import uniform_filter
from scipy.special import fdtrc

from est_stfm.errors import EstStfmError
from est_stfm.methods.base import PairwiseMethod
from est_stfm.methods.classic.common import (
    check_pairs,
    check_window,
    offsets,
    pad,
    shifted,
)
from est_stfm.methods.classic.starfm import SIMILARITY, similarity_thresholds

FLAT = 1e-7
"""Reflectance samples whose standard deviation is below this are flat: no correlation (R = 0),
no regression (V = 1)."""

NEEDS_TWO_PAIRS = (
    "ESTARFM needs two reference pairs, one before and one after the target date: "
    "use --pairs 2 (or starfm / fsdaf for one pair)"
)


def _number(name: str, value: float, low: float, high: float = np.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise EstStfmError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or not low < value <= high:
        raise EstStfmError(f"{name} must be a finite number in ({low:g}, {high:g}], got {value!r}")
    return float(value)


def spectral_correlation(
    fine: Sequence[np.ndarray], coarse: Sequence[np.ndarray], masks: Sequence[np.ndarray]
) -> np.ndarray:
    """``R`` of every pixel, ``(H, W)``: the correlation of its fine with its coarse reflectance,
    the samples being every band of every pair valid there (the paper's ``R_i``, bands x dates);
    0 where either side is flat or no pair is valid."""
    w = np.stack([np.broadcast_to(m, f.shape) for f, m in zip(fine, masks, strict=True)])
    f = np.stack(fine).astype(np.float64) * w
    c = np.stack(coarse).astype(np.float64) * w
    n = np.maximum(w.sum(axis=(0, 1)), 1.0)
    df = (f - f.sum(axis=(0, 1)) / n) * w
    dc = (c - c.sum(axis=(0, 1)) / n) * w
    var_f, var_c = (df * df).sum(axis=(0, 1)) / n, (dc * dc).sum(axis=(0, 1)) / n
    cov = (df * dc).sum(axis=(0, 1)) / n
    defined = (var_f > FLAT**2) & (var_c > FLAT**2)
    r = np.where(defined, cov / np.sqrt(np.where(defined, var_f * var_c, 1.0)), 0.0)
    return np.clip(r, -1.0, 1.0)


class Estarfm(PairwiseMethod):
    """ESTARFM (Zhu et al. 2010, RSE 114): fuses exactly two reference pairs, per band.

    For each fine pixel (the *centre*), within a ``window`` x ``window`` neighbourhood (default
    31 like our STARFM; the authors' code uses 51; clipped at the image border):

    * *similar pixels*: ``|F_k(x) - F_k(centre)| <= 2 sigma_k / num_classes`` in every band and
      both fine references ``F_0, F_1`` (``sigma_k`` the band's standard deviation over the
      whole image, ``similarity="global"``, the paper, or over the window, ``"local"``);
      ``num_classes`` default 4;
    * weights ``W_i = (1 / D_i) / sum_j (1 / D_j)``, ``D_i = (1 - R_i + correlation_offset) d_i``,
      ``R_i`` the correlation of pixel ``i``'s fine and coarse reflectances over bands and both
      dates (:func:`spectral_correlation`), ``d_i = 1 + dist / (window / 2)``; the offset
      (default 1e-4, not in the paper) keeps a perfectly correlated pixel's weight finite;
    * conversion coefficient ``V``: the slope of the least-squares line of the similar pixels'
      fine against coarse values at both dates, one per band; as in the authors' code, ``V = 1``
      unless there are at least ``min_similar`` (6) similar pixels, the slope is significant
      (F-test p-value <= ``significance``, 0.05) and ``0 < V <= max_slope`` (5);
    * each pair's prediction ``F_k(t_p) = F_k + V sum_i W_i (C_p(x_i) - C_k(x_i))`` and the
      result ``T_0 F_0(t_p) + T_1 F_1(t_p)``, ``T_k = (1 / |S_k - S_p|) / sum_j (1 / |S_j - S_p|)``,
      ``S`` the band's sum of coarse reflectance over the window's pixels valid in both pairs
      (equal weights when both differences are 0).

    Masks (``valid`` of :meth:`predict_pairs`): a similar pixel must be valid in both pairs.
    Where the centre is valid in one pair only, that pair's prediction is the result, with
    similar pixels tested and required valid in that pair alone and ``V = 1``; where it is valid
    in neither, ``F_k + C_p - C_k`` averaged over the pairs. One pair is an error, never a
    fallback: ESTARFM's regression and correlation need both dates. A tile agrees with a
    whole-image run given the ``halo`` (``window // 2``) except through the global standard
    deviation, which is per call (``similarity="local"`` is tile-exact).
    """

    name = "estarfm"

    def __init__(
        self,
        window: int = 31,
        num_classes: int = 4,
        *,
        similarity: str = "global",
        min_similar: int = 6,
        significance: float = 0.05,
        max_slope: float = 5.0,
        correlation_offset: float = 1e-4,
    ) -> None:
        self.window = check_window(window)
        for key, value in (("num_classes", num_classes), ("min_similar", min_similar)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise EstStfmError(f"{key} must be an integer >= 1, got {value!r}")
        if similarity not in SIMILARITY:
            raise EstStfmError(f"similarity {similarity!r}: use one of {', '.join(SIMILARITY)}")
        self.num_classes = int(num_classes)
        self.similarity = similarity
        self.min_similar = int(min_similar)
        self.significance = _number("significance", significance, 0.0, 1.0)
        self.max_slope = _number("max_slope", max_slope, 0.0)
        self.correlation_offset = _number("correlation_offset", correlation_offset, 0.0)

    @property
    def halo(self) -> int:
        """Context in fine pixels needed around a tile: half the window."""
        return self.window // 2

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """Always an error: one pair is not enough for ESTARFM."""
        raise EstStfmError(NEEDS_TWO_PAIRS)

    def _inputs(
        self,
        pairs: Sequence[tuple[np.ndarray, np.ndarray]],
        c2: np.ndarray,
        valid: Sequence[np.ndarray | None] | None,
    ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, list[np.ndarray]]:
        """Checked float32 images ``(c_refs, f_refs, target)`` and bool masks."""
        if len(pairs) != 2:
            raise EstStfmError(f"{NEEDS_TWO_PAIRS}; got {len(pairs)} pair(s)")
        return check_pairs(pairs, c2, valid)

    def _regression(self, sums: dict[str, np.ndarray], count: np.ndarray) -> np.ndarray:
        """``V`` per band from the centred sums of the similar pixels' samples (2 per pixel)."""
        n = np.maximum(2.0 * count.astype(np.float64), 1.0)
        sx, sy = sums["x"].astype(np.float64), sums["y"].astype(np.float64)
        sxx = sums["xx"] - sx * sx / n
        sxy = sums["xy"] - sx * sy / n
        syy = sums["yy"] - sy * sy / n
        posed = (count >= self.min_similar) & (sxx > n * FLAT**2)
        slope = np.where(posed, sxy / np.where(posed, sxx, 1.0), 1.0)
        residual = np.maximum(syy - slope * sxy, 0.0)
        explained = np.maximum(slope * sxy, 0.0) * np.maximum(n - 2.0, 1.0)
        stat = np.where(residual > 0, explained / np.where(residual > 0, residual, 1.0), np.inf)
        p_value = fdtrc(1.0, np.maximum(n - 2.0, 1.0), stat)
        keep = posed & (p_value <= self.significance) & (slope > 0) & (slope <= self.max_slope)
        return np.where(keep, slope, 1.0)

    def predict_pairs(
        self,
        pairs: Sequence[tuple[np.ndarray, np.ndarray]],
        c2: np.ndarray,
        valid: Sequence[np.ndarray | None] | None = None,
    ) -> np.ndarray:
        """The fine image at the date of ``c2`` from two pairs ``[(c_0, f_0), (c_1, f_1)]``.

        ``valid``: optional ``(H, W)`` bool masks, one per pair (False: the pair's pixel is
        cloudy or nodata). Returns float32 ``(bands, H, W)``.
        """
        coarse, fine, target, masks = self._inputs(pairs, c2, valid)
        bands, h, w = target.shape
        r, shape = self.halo, (h, w)
        both = masks[0] & masks[1]
        inverse = 1.0 / (1.0 - spectral_correlation(fine, coarse, masks) + self.correlation_offset)
        inverse_pad = pad(inverse.astype(np.float32), r)
        thresholds = [
            similarity_thresholds(f, m, self.num_classes, self.window, self.similarity)
            for f, m in zip(fine, masks, strict=True)
        ]
        fine_pad = [pad(f, r) for f in fine]
        coarse_pad = [pad(c, r) for c in coarse]
        change_pad = [pad(target - c, r) for c in coarse]
        valid_pad = [pad(m, r, False) for m in masks]
        free = [~m for m in masks]  # a centre invalid in pair k does not test pair k
        base_x, base_y = coarse[0], fine[0]  # centring keeps float32 sums accurate

        weight_sum = np.zeros(shape, dtype=np.float32)
        count = np.zeros(shape, dtype=np.float32)
        change = [np.zeros((bands, h, w), dtype=np.float32) for _ in range(2)]
        sums = {
            key: np.zeros((bands, h, w), dtype=np.float32) for key in ("x", "y", "xx", "xy", "yy")
        }
        diff = np.empty((bands, h, w), dtype=np.float32)
        close = np.empty((bands, h, w), dtype=bool)
        dx = np.empty((bands, h, w), dtype=np.float32)
        dy = np.empty((bands, h, w), dtype=np.float32)
        masked = np.empty((bands, h, w), dtype=np.float32)
        for dy_, dx_, dist in offsets(r):
            similar = np.ones(shape, dtype=bool)
            for k in range(2):
                np.subtract(shifted(fine_pad[k], r, dy_, dx_, shape), fine[k], out=diff)
                np.abs(diff, out=diff)
                np.less_equal(diff, thresholds[k], out=close)
                test = np.logical_and.reduce(close, axis=0)
                test &= shifted(valid_pad[k], r, dy_, dx_, shape)
                test |= free[k]
                similar &= test
            chosen = similar.astype(np.float32)
            count += chosen
            weight = shifted(inverse_pad, r, dy_, dx_, shape) * chosen
            weight *= np.float32(1.0 / (1.0 + dist / (self.window / 2)))
            weight_sum += weight
            for k in range(2):
                np.multiply(shifted(change_pad[k], r, dy_, dx_, shape), weight, out=masked)
                change[k] += masked
                np.subtract(shifted(coarse_pad[k], r, dy_, dx_, shape), base_x, out=dx)
                np.subtract(shifted(fine_pad[k], r, dy_, dx_, shape), base_y, out=dy)
                np.multiply(dx, chosen, out=masked)
                sums["x"] += masked
                sums["xx"] += masked * dx
                sums["xy"] += masked * dy
                np.multiply(dy, chosen, out=masked)
                sums["y"] += masked
                sums["yy"] += masked * dy

        slope = np.where(both, self._regression(sums, count), 1.0)
        total = np.maximum(weight_sum, np.float32(1e-30))
        preds = [f + slope * (dc / total) for f, dc in zip(fine, change, strict=True)]
        t0 = self._temporal_weight(coarse, target, both)
        blended = t0 * preds[0] + (1.0 - t0) * preds[1]
        plain = sum(f + target - c for c, f in zip(coarse, fine, strict=True)) / 2.0
        out = np.where(masks[1], preds[1], plain)
        out = np.where(masks[0], preds[0], out)
        out = np.where(both, blended, out)
        return out.astype(np.float32)

    def _temporal_weight(
        self, coarse: Sequence[np.ndarray], target: np.ndarray, both: np.ndarray
    ) -> np.ndarray:
        """``T_0`` per band and pixel (``T_1 = 1 - T_0``): the inverse of each pair's change of
        the window's summed coarse reflectance, over pixels valid in both pairs, normalised."""
        size = (1, self.window, self.window)
        mask = both.astype(np.float64)

        def window_sum(image: np.ndarray) -> np.ndarray:
            return uniform_filter(image.astype(np.float64) * mask, size=size, mode="constant")

        s_p = window_sum(target)
        d0, d1 = (np.abs(window_sum(c) - s_p) for c in coarse)
        total = d0 + d1
        return np.where(total > 0, d1 / np.where(total > 0, total, 1.0), 0.5)
