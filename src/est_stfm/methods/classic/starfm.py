"""STARFM, the Spatial and Temporal Adaptive Reflectance Fusion Model (Gao et al. 2006).

Gao, F., Masek, J., Schwaller, M., Hall, F. (2006) "On the blending of the Landsat and MODIS
surface reflectance: predicting daily Landsat surface reflectance", IEEE TGRS 44(8), 2207-2218.

Two variants (``variant``; registered as ``starfm`` and ``starfm-fast``):

* ``"faithful"`` (default) follows the authors' reference code (StarFM v1.2.1, Feng Gao) where it
  details the paper: similar neighbours within ``2 std / 40`` (the code's sample
  ``NUM_SLICE_PURE_TEST``); the candidate filter keeps one whose spectral *or* temporal difference
  is within the centre's smallest (over the pairs) plus the uncertainty; the cost is ``C = S / u +
  1`` with one pair (the temporal difference is left out, as in the code) and ``(S / u + 1)(T / u
  + 1)`` with several (``u``: one integer unit of the scaled data, 1e-4 in reflectance), the
  weight ``1 / (C D)``, and 1 (the maximum) where ``C`` is below the combined uncertainty;
* ``"fast"`` is the reading of the paper this package shipped first: ``2 std / 4``, both filter
  conditions against the centre's largest differences, ``C = (S + eps)(T + eps)`` for any number
  of pairs, and the paper's rule that a centre with ``S = 0`` or ``T = 0`` keeps its own estimate.
  It is no faster: the name marks the earlier approximation.

The code has no zero-difference rule, so with ``C1 == C2`` the faithful variant averages ``F1``
over similar neighbours rather than copying it (equal where similar pixels share their value).

Remaining deviations from the reference code, and why:

* floats instead of scaled integers: the similarity threshold ``2 std / num_classes`` is not
  rounded to an integer, and neither is the prediction (no rounding error is added);
* a pixel without any candidate keeps ``F + C2 - C`` averaged over the valid pairs, where the
  code writes its fill value (a prediction is more useful than a hole);
* the window is square and odd, 31 pixels by default (starfm4py's): the code's is
  ``2 MAX_SEARCH_DISTANCE / resolution``, even, with 750 m (51 pixels at 30 m) in its sample
  parameters; 51 pixels was less accurate on 5 of the 7 shared real scenes
  (``benchmarks/classic_fidelity.py``), and the resolution is not always known;
* the uncertainties default to 0.002 (fine) and 0.005 (coarse) reflectance, in the data's unit
  (the code reads them from its parameter file);
* no range check of the prediction against the sensor's valid data range (unknown here);
* the code's look-up-table improvement and classification-map options (off by default there)
  are not implemented.

Our own, vectorised implementation: the loop runs over the offsets of the moving window, each step
handling a strip of rows of every band at once with array shifts, so the cost is ``window**2``
passes over the image; strips keep the working arrays in the processor's cache.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import uniform_filter

from est_stfm.errors import EstStfmError
from est_stfm.methods.base import PairwiseMethod
from est_stfm.methods.classic.common import (
    check_pairs,
    check_window,
    offsets,
    pad,
    shifted,
)

SIMILARITY = ("global", "local")
VARIANTS = ("faithful", "fast")
STRIP = 24
"""Rows per strip of the faithful kernel: its arrays stay in the cache, whatever the image size."""


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise EstStfmError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        need = ">= 0" if allow_zero else "> 0"
        raise EstStfmError(f"{name} must be a finite number {need}, got {value!r}")
    return float(value)


def similarity_thresholds(
    fine: np.ndarray, valid: np.ndarray, num_classes: int, window: int, mode: str
) -> np.ndarray:
    """``2 * std / num_classes`` of each band of ``fine`` over valid pixels: ``(bands, 1, 1)``
    for ``mode="global"`` (the whole image), ``(bands, H, W)`` for ``"local"`` (the std over
    the valid pixels of the ``window`` x ``window`` neighbourhood, clipped at the border)."""
    if mode == "global":
        values = fine[:, valid].astype(np.float64)
        std = values.std(axis=1) if values.shape[1] else np.zeros(fine.shape[0])
        return (2.0 * std / num_classes).astype(np.float32)[:, None, None]
    weight = valid.astype(np.float64)
    count = uniform_filter(weight, size=window, mode="constant")
    count = np.maximum(count, 1e-12)
    out = np.empty(fine.shape, dtype=np.float32)
    for b, band in enumerate(fine.astype(np.float64)):
        mean = uniform_filter(band * weight, size=window, mode="constant") / count
        square = uniform_filter(band * band * weight, size=window, mode="constant") / count
        out[b] = 2.0 * np.sqrt(np.maximum(square - mean * mean, 0.0)) / num_classes
    return out


def _own_estimates(local: list[np.ndarray], masks: list[np.ndarray]) -> np.ndarray:
    """``F + C2 - C`` averaged over the pairs valid at each pixel (over all where none is)."""
    counts = sum(m.astype(np.float32) for m in masks)
    summed = sum(lv * m for lv, m in zip(local, masks, strict=True))
    plain = sum(local) / np.float32(len(local))
    return np.where(counts > 0, summed / np.maximum(counts, 1), plain).astype(np.float32)


class Starfm(PairwiseMethod):
    """STARFM (Gao et al. 2006, IEEE TGRS 44(8)): one or two reference pairs, per band.

    For each fine pixel (the *centre*) and band, within a ``window`` x ``window`` neighbourhood
    (default 31, clipped at the image border), from each reference pair ``k``:

    * *spectrally similar* neighbours: ``|F_k(x) - F_k(centre)| < 2 sigma_k / num_classes``
      (``<=`` in the fast variant), ``sigma_k`` the standard deviation of the band of ``F_k``
      over the whole image (``similarity="global"``, the paper and its code) or over the window
      (``"local"``); ``num_classes`` defaults to 40, the code's sample ``NUM_SLICE_PURE_TEST``
      (fast: 4);
    * the candidate filter with ``S = |F_k - C_k|`` (spectral difference), ``T = |C2 - C_k|``
      (temporal difference), ``sigma_lm = sqrt(sigma_l**2 + sigma_m**2)`` and ``sigma_mm =
      sqrt(2) sigma_m`` (``sigma_l = fine_uncertainty``, 0.002, and ``sigma_m =
      coarse_uncertainty``, 0.005, in the data's unit): faithful, ``S(x) <= min_k S_k(centre) +
      sigma_lm`` *or* ``T(x) <= min_k T_k(centre) + sigma_mm``; fast (the paper's eqs. 15-16),
      ``S(x) <= max_k S_k(centre) + sigma_lm`` *and* ``T(x) <= max_k T_k(centre) + sigma_mm``;
    * weight ``1 / (C D)``, ``D = 1 + d / A`` (``d`` the distance in pixels, ``A =
      distance_scale``, default ``window / 2``): faithful, ``C = (S / u + 1)`` with one pair and
      ``(S / u + 1)(T / u + 1)`` with several (``u = weight_offset``, 1e-4), and weight 1 where
      ``C < sqrt(sigma_lm**2 + sigma_mm**2) / u``; fast, ``C = (S + eps)(T + eps)`` (``eps =
      weight_offset``) or with ``log_weights=True`` ``C = ln(S B + 2) ln(T B + 2)`` (``B =
      log_scale``, 1e4);
    * prediction: ``sum w (F_k + C2 - C_k)`` over the candidates of all pairs, the weights
      normalised to sum to 1.

    Fast variant only: a centre with ``S_k = 0`` or ``T_k = 0`` takes its own estimate ``F_k +
    C2 - C_k`` (``copy_on_zero``, default on). Either way ``C1 == C2`` gives back ``F1``.
    Pixels marked invalid (``valid`` of :meth:`predict_pairs`) are never candidates; a centre
    without candidates keeps ``F_k + C2 - C_k`` averaged over its valid pairs. Results near tile
    edges differ from a whole-image run only through the window, which the ``halo``
    (``window // 2``) covers, and the global standard deviation, which is per call.
    """

    name = "starfm"

    def __init__(
        self,
        window: int = 31,
        num_classes: int | None = None,
        fine_uncertainty: float = 0.002,
        coarse_uncertainty: float = 0.005,
        *,
        variant: str = "faithful",
        distance_scale: float | None = None,
        similarity: str = "global",
        weight_offset: float = 1e-4,
        log_weights: bool = False,
        log_scale: float = 1e4,
        copy_on_zero: bool = True,
    ) -> None:
        self.window = check_window(window)
        if num_classes is None:
            num_classes = 40 if variant == "faithful" else 4
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
            raise EstStfmError(f"num_classes must be an integer >= 1, got {num_classes!r}")
        if num_classes < 1:
            raise EstStfmError(f"num_classes must be an integer >= 1, got {num_classes}")
        if similarity not in SIMILARITY:
            raise EstStfmError(f"similarity {similarity!r}: use one of {', '.join(SIMILARITY)}")
        if variant not in VARIANTS:
            raise EstStfmError(f"STARFM variant {variant!r}: use one of {', '.join(VARIANTS)}")
        if variant == "faithful" and log_weights:
            raise EstStfmError("log_weights is an option of variant='fast' only")
        self.variant = variant
        self.name = "starfm" if variant == "faithful" else "starfm-fast"
        self.num_classes = int(num_classes)
        self.fine_uncertainty = _positive("fine_uncertainty", fine_uncertainty, allow_zero=True)
        self.coarse_uncertainty = _positive(
            "coarse_uncertainty", coarse_uncertainty, allow_zero=True
        )
        scale = self.window / 2 if distance_scale is None else distance_scale
        self.distance_scale = _positive("distance_scale", scale)
        self.similarity = similarity
        self.weight_offset = _positive("weight_offset", weight_offset, allow_zero=log_weights)
        self.log_weights = bool(log_weights)
        self.log_scale = _positive("log_scale", log_scale)
        self.copy_on_zero = bool(copy_on_zero)

    @property
    def halo(self) -> int:
        """Context in fine pixels needed around a tile: half the window."""
        return self.window // 2

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """F2 from one reference pair ``(c1, f1)`` and the coarse target ``c2``."""
        return self.predict_pairs([(c1, f1)], c2)

    def predict_pairs(
        self,
        pairs: Sequence[tuple[np.ndarray, np.ndarray]],
        c2: np.ndarray,
        valid: Sequence[np.ndarray | None] | None = None,
    ) -> np.ndarray:
        """F2 from one or more reference pairs ``[(c_ref, f_ref), ...]`` and ``c2``.

        ``valid``: optional ``(H, W)`` bool masks, one per pair (False: the pair's pixel is
        cloudy or nodata and is never used). Returns float32 ``(bands, H, W)``.
        """
        if len(pairs) == 0:
            raise EstStfmError("STARFM needs at least one reference pair (c_ref, f_ref)")
        coarse, fine, target, masks = check_pairs(pairs, c2, valid)
        if self.variant == "fast":
            return self._predict_fast(coarse, fine, target, masks)
        return self._predict_faithful(coarse, fine, target, masks)

    # --- the faithful variant (the reference code's rules) -------------------------------------

    def _weight_parts(
        self, s: np.ndarray, t: np.ndarray, m: np.ndarray, pairs: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(P, Q)`` with the candidate weight ``P + Q / D``: ``P`` is 1 where the difference
        product is below the combined uncertainty (the maximum weight), ``Q = 1 / C`` elsewhere;
        both 0 at invalid pixels."""
        u = self.weight_offset
        cost = s / np.float32(u) + 1
        if pairs > 1:
            cost *= t / np.float32(u) + 1
        sigma_lm2 = self.fine_uncertainty**2 + self.coarse_uncertainty**2
        combined = np.sqrt(sigma_lm2 + 2 * self.coarse_uncertainty**2) / u
        close = (cost < combined) & m
        return close.astype(np.float32), np.where(close | ~m, 0, 1 / cost).astype(np.float32)

    def _predict_faithful(
        self,
        coarse: list[np.ndarray],
        fine: list[np.ndarray],
        target: np.ndarray,
        masks: list[np.ndarray],
    ) -> np.ndarray:
        bands, h, w = target.shape
        r = self.halo
        sigma_lm = np.float32(np.hypot(self.fine_uncertainty, self.coarse_uncertainty))
        sigma_mm = np.float32(np.sqrt(2.0) * self.coarse_uncertainty)
        spectral = [np.abs(f - c) for c, f in zip(coarse, fine, strict=True)]
        temporal = [np.abs(target - c) for c in coarse]
        local = [f + (target - c) for c, f in zip(coarse, fine, strict=True)]
        # the centre's smallest differences over the pairs valid there (+inf: none)
        s_min = np.full((bands, h, w), np.inf, dtype=np.float32)
        t_min = np.full((bands, h, w), np.inf, dtype=np.float32)
        for s, t, m in zip(spectral, temporal, masks, strict=True):
            np.minimum(s_min, np.where(m, s, np.inf), out=s_min)
            np.minimum(t_min, np.where(m, t, np.inf), out=t_min)
        s_limit, t_limit = s_min + sigma_lm, t_min + sigma_mm

        sums = np.zeros((2, bands, h, w), dtype=np.float32)  # numerator, denominator
        scale = self.distance_scale
        steps = [(dy, dx, np.float32(1 / (1 + d / scale))) for dy, dx, d in offsets(r)]
        for f, s, t, lv, m in zip(fine, spectral, temporal, local, masks, strict=True):
            threshold = similarity_thresholds(f, m, self.num_classes, self.window, self.similarity)
            # a centre invalid in this pair takes no candidate from it (threshold -1 < |diff|)
            threshold = np.where(m, threshold, np.float32(-1.0)).astype(np.float32)
            near, far = self._weight_parts(s, t, m, len(fine))
            padded = pad(np.stack([f, s, t, near, far, lv]), r)  # outside the image: weight 0
            centre = np.stack([f, np.broadcast_to(threshold, f.shape), s_limit, t_limit])
            for y0 in range(0, h, STRIP):
                rows = slice(y0, min(h, y0 + STRIP))
                _strip_sums(padded, centre[:, :, rows], sums[:, :, rows], (r, y0), steps)
        numerator, denominator = sums
        own = _own_estimates(local, masks)
        safe = np.where(denominator > 0, denominator, 1)
        return np.where(denominator > 0, numerator / safe, own).astype(np.float32)

    # --- the fast variant (the paper's equations, as shipped before) ---------------------------

    def _inverse_cost(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``1 / (S T)`` part of the weight (the distance is applied per offset)."""
        if self.log_weights:
            b = np.float32(self.log_scale)
            cost = np.log(s * b + 2) * np.log(t * b + 2)
        else:
            eps = np.float32(self.weight_offset)
            cost = (s + eps) * (t + eps)
        return (1.0 / cost).astype(np.float32)

    def _predict_fast(
        self,
        coarse: list[np.ndarray],
        fine: list[np.ndarray],
        target: np.ndarray,
        masks: list[np.ndarray],
    ) -> np.ndarray:
        refs = list(zip(coarse, fine, strict=True))
        bands, h, w = target.shape
        r = self.halo
        sigma_lm = np.float32(np.hypot(self.fine_uncertainty, self.coarse_uncertainty))
        sigma_mm = np.float32(np.sqrt(2.0) * self.coarse_uncertainty)
        spectral = [np.abs(f - c) for c, f in refs]
        temporal = [np.abs(target - c) for c, _ in refs]
        local = [f + (target - c) for c, f in refs]
        # the centre's differences, maximised over the pairs valid there (-inf: none)
        s_max = np.full((bands, h, w), -np.inf, dtype=np.float32)
        t_max = np.full((bands, h, w), -np.inf, dtype=np.float32)
        for s, t, m in zip(spectral, temporal, masks, strict=True):
            np.maximum(s_max, np.where(m, s, -np.inf), out=s_max)
            np.maximum(t_max, np.where(m, t, -np.inf), out=t_max)
        s_limit, t_limit = s_max + sigma_lm, t_max + sigma_mm

        numerator = np.zeros((bands, h, w), dtype=np.float32)
        denominator = np.zeros((bands, h, w), dtype=np.float32)
        diff = np.empty((bands, h, w), dtype=np.float32)
        weight = np.empty((bands, h, w), dtype=np.float32)
        keep = np.empty((bands, h, w), dtype=bool)
        test = np.empty((bands, h, w), dtype=bool)
        for (_, f), s, t, lv, m in zip(refs, spectral, temporal, local, masks, strict=True):
            threshold = similarity_thresholds(f, m, self.num_classes, self.window, self.similarity)
            threshold = np.where(m, threshold, np.float32(-1.0)).astype(np.float32)
            inverse = self._inverse_cost(s, t) * m  # invalid pixels weigh 0
            f_pad, s_pad, t_pad = pad(f, r), pad(s, r), pad(t, r)
            lv_pad, inv_pad = pad(lv, r), pad(inverse, r)  # outside the image: weight 0
            for dy, dx, d in offsets(r):
                np.subtract(shifted(f_pad, r, dy, dx, (h, w)), f, out=diff)
                np.abs(diff, out=diff)
                np.less_equal(diff, threshold, out=keep)
                np.less_equal(shifted(s_pad, r, dy, dx, (h, w)), s_limit, out=test)
                keep &= test
                np.less_equal(shifted(t_pad, r, dy, dx, (h, w)), t_limit, out=test)
                keep &= test
                np.multiply(
                    shifted(inv_pad, r, dy, dx, (h, w)),
                    np.float32(1.0 / (1.0 + d / self.distance_scale)),
                    out=weight,
                )
                weight *= keep
                denominator += weight
                weight *= shifted(lv_pad, r, dy, dx, (h, w))
                numerator += weight

        # the pairs' own estimates at the centre: fallback, and the paper's zero-difference rule
        direct = _own_estimates(local, masks)
        out = np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), direct
        )
        if self.copy_on_zero:
            zero_count = np.zeros((bands, h, w), dtype=np.float32)
            zero_sum = np.zeros((bands, h, w), dtype=np.float32)
            for s, t, lv, m in zip(spectral, temporal, local, masks, strict=True):
                hit = ((s == 0) | (t == 0)) & m
                zero_count += hit
                zero_sum += lv * hit
            out = np.where(zero_count > 0, zero_sum / np.maximum(zero_count, 1), out)
        return out.astype(np.float32)


def _strip_sums(
    padded: np.ndarray,
    centre: np.ndarray,
    sums: np.ndarray,
    origin: tuple[int, int],
    steps: list[tuple[int, int, np.float32]],
) -> None:
    """Add one pair's weighted candidates to the sums of one strip of centre rows.

    ``padded``: the pair's ``(F, S, T, P, Q, L)`` stacked, ``(6, bands, H + 2r, W + 2r)``;
    ``centre``: the strip's ``(F, similarity threshold, S limit, T limit)``, ``(4, bands, n, W)``;
    ``sums``: a view of the strip's ``(numerator, denominator)``; ``origin``: ``(r, first row)``;
    ``steps``: the ``(dy, dx, 1 / D)`` of every window offset.
    """
    fc, threshold, s_limit, t_limit = centre
    numerator, denominator = sums
    r, y0 = origin
    n, w = fc.shape[1:]
    diff, weight = np.empty(fc.shape, np.float32), np.empty(fc.shape, np.float32)
    keep, test, other = (np.empty(fc.shape, bool) for _ in range(3))
    for dy, dx, inv_d in steps:
        f, s, t, near, far, lv = padded[:, :, r + y0 + dy : r + y0 + dy + n, r + dx : r + dx + w]
        np.subtract(f, fc, out=diff)
        np.abs(diff, out=diff)
        np.less(diff, threshold, out=keep)
        np.less_equal(s, s_limit, out=test)
        np.less_equal(t, t_limit, out=other)
        test |= other
        keep &= test
        np.multiply(far, inv_d, out=weight)
        weight += near
        weight *= keep
        denominator += weight
        weight *= lv
        numerator += weight
