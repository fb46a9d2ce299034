"""STARFM, the Spatial and Temporal Adaptive Reflectance Fusion Model (Gao et al. 2006).

Gao, F., Masek, J., Schwaller, M., Hall, F. (2006) "On the blending of the Landsat and MODIS
surface reflectance: predicting daily Landsat surface reflectance", IEEE TGRS 44(8), 2207-2218.

Our own, vectorised implementation: the loop runs over the offsets of the moving window (961 for
31 x 31), each step handling every pixel and band at once with array shifts, so the cost is
``window**2`` passes over the image instead of a Python loop over pixels.
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


class Starfm(PairwiseMethod):
    """STARFM (Gao et al. 2006, IEEE TGRS 44(8)): one or two reference pairs, per band.

    For each fine pixel (the *centre*) and band, within a ``window`` x ``window`` neighbourhood
    (default 31, clipped at the image border), from each reference pair ``k``:

    * *spectrally similar* neighbours: ``|F_k(x) - F_k(centre)| <= 2 * sigma_k / num_classes``,
      ``sigma_k`` the standard deviation of the band of ``F_k`` over the whole image
      (``similarity="global"``, the paper) or over the window (``"local"``); default
      ``num_classes=4``;
    * the paper's candidate filter (its eqs. 15-16): ``S_k(x) <= max_k S_k(centre) + sigma_lm``
      and ``T_k(x) <= max_k T_k(centre) + sigma_mm``, where ``S = |F_k - C_k|`` (spectral
      difference), ``T = |C2 - C_k|`` (temporal difference), ``sigma_lm = sqrt(sigma_l**2 +
      sigma_m**2)``, ``sigma_mm = sqrt(2) * sigma_m``, ``sigma_l = fine_uncertainty`` (0.002) and
      ``sigma_m = coarse_uncertainty`` (0.005), in the data's unit (reflectance);
    * weight ``1 / C`` with ``C = (S + eps) (T + eps) D`` (the paper's ``S T D``; ``eps =
      weight_offset``, default 1e-4, one unit of reflectance x 1e4 as in the authors' code, keeps
      zero differences finite), or with ``log_weights=True`` ``C = ln(S B + 2) ln(T B + 2) D``
      (``B = log_scale``, default 1e4; ``+2`` rather than the paper's ``+1`` keeps ``C > 0``);
      ``D = 1 + d / A``, ``d`` the distance in pixels, ``A = distance_scale`` (default
      ``window / 2``);
    * prediction: ``sum w (F_k + C2 - C_k)`` over the candidates of all pairs, the weights
      normalised to sum to 1 (two pairs pool their candidates, as in the paper).

    As in the paper, when the centre has ``S_k = 0`` or ``T_k = 0`` (the coarse pixel is
    pure, or did not change) its own estimate ``F_k + C2 - C_k`` is taken directly
    (``copy_on_zero``, default on; the mean over the pairs where it holds). So ``C1 == C2``
    gives back ``F1`` exactly. Pixels marked invalid (``valid`` of :meth:`predict_pairs`) are
    never candidates; a centre invalid in every pair keeps ``F_k + C2 - C_k`` averaged over the
    pairs. Results near tile edges differ from a whole-image run only through the window, which
    the ``halo`` (``window // 2``) covers, and the global standard deviation, which is per call.
    """

    name = "starfm"

    def __init__(
        self,
        window: int = 31,
        num_classes: int = 4,
        fine_uncertainty: float = 0.002,
        coarse_uncertainty: float = 0.005,
        *,
        distance_scale: float | None = None,
        similarity: str = "global",
        weight_offset: float = 1e-4,
        log_weights: bool = False,
        log_scale: float = 1e4,
        copy_on_zero: bool = True,
    ) -> None:
        self.window = check_window(window)
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
            raise EstStfmError(f"num_classes must be an integer >= 1, got {num_classes!r}")
        if num_classes < 1:
            raise EstStfmError(f"num_classes must be an integer >= 1, got {num_classes}")
        if similarity not in SIMILARITY:
            raise EstStfmError(f"similarity {similarity!r}: use one of {', '.join(SIMILARITY)}")
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

    def _inverse_cost(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``1 / (S T)`` part of the weight (the distance is applied per offset)."""
        if self.log_weights:
            b = np.float32(self.log_scale)
            cost = np.log(s * b + 2) * np.log(t * b + 2)
        else:
            eps = np.float32(self.weight_offset)
            cost = (s + eps) * (t + eps)
        return (1.0 / cost).astype(np.float32)

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
            # a centre invalid in this pair takes no candidate from it (threshold -1 < |diff|)
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
        counts = np.zeros((bands, h, w), dtype=np.float32)
        direct = np.zeros((bands, h, w), dtype=np.float32)
        for lv, m in zip(local, masks, strict=True):
            counts += m
            direct += lv * m
        plain = sum(local) / np.float32(len(local))
        direct = np.where(counts > 0, direct / np.maximum(counts, 1), plain)
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
