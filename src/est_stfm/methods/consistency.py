"""The radiometric-consistency step: make any method's prediction agree with the coarse target.

A prediction ``P`` of the fine image at the target date should change, seen through the coarse
sensor, as the coarse images ``C1 -> C2`` did. :func:`make_consistent` measures where it does
not and moves the difference back onto the fine pixels:

1. *view* (:func:`masked_blocks`): what the coarse sensor records of a fine image, over valid
   pixels only: a Gaussian point-spread blur of ``sigma`` fine pixels and the mean over each
   ``s`` x ``s`` block (``s``: the coarse factor rounded), the operator of
   :func:`est_stfm.datasets.degrade.blur_and_block_average`; optionally followed by the
   bilinear resampling onto the fine grid and the block mean again (``resampled``), as a
   coarse image given on the fine grid has been through;
2. *radiometry* (:func:`fit_radiometry`): per band, the least-squares line ``C = gain *
   view(F) + offset`` between the block means of the coarse reference image(s) and the view
   of the fine one(s). The view (``sigma`` among :data:`PSF_SIGMAS`, resampled or not) is the
   one that fits best: a wrong width would bias the gain;
3. *residual* (:func:`coarse_residual`): ``D = (C2 - C1) / gain - (P - F1)``: the calibrated
   coarse change minus the predicted change (``anchor``, the default: what the two sensors
   disagree on at both dates, such as misregistration or footprint, is not taken for an error
   of ``P``, and the offset cancels; without it ``D = (C2 - offset) / gain - P``). ``R`` is
   the view of ``D`` on the coarse grid, resampled bilinearly onto the fine grid. Both
   changes go through the same view, as the training loss
   :func:`est_stfm.training.losses.coarse_consistency` compares them: ``F1 + (C2 - C1)`` is
   left alone up to the gain, and the coarse change is never sharpened;
4. *distribution* (:func:`distribute`): as FSDAF's residual distribution (Zhu et al. 2016):
   the homogeneity index ``HI`` (share of the ``s`` x ``s`` window in the pixel's own k-means
   class of ``F1``) weighs ``CW = |D| HI [sign D = sign R] + |R| (1 - HI)``, and ``P + R CW /
   mean(CW)`` (``mean`` over the ``s`` x ``s`` window) is the result.

:class:`Consistent` wraps any :class:`~est_stfm.methods.base.Method` with the step; the
registry gives it as ``<method>+consistency``. Measured on the real scenes
(``benchmarks/consistency_gain.py``): on each scene's latest date it lowered RMSE by 6-10 %
on average per method (7 scenes); over every date (15 cases) it helped about as often as it
hurt, since where the coarse change itself is wrong (16-day NDVI composites, a 3 x 3-pixel
scene) it moves a good prediction towards it: mean +0.4 to +3.7 %. With ``fit_gain=False``
it is nearly neutral (naive-change is left alone by construction). Opt in per scene.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter1d, uniform_filter

from est_stfm.datasets.degrade import block_average, upsample_bilinear
from est_stfm.methods.base import TWO_PAIR_WINDOW, Method, Pair, pair_weights
from est_stfm.methods.classic.common import as_image, check_factor, check_pairs
from est_stfm.methods.classic.fsdaf import homogeneity
from est_stfm.methods.classic.unmixing import kmeans

SUFFIX = "+consistency"
"""A method name ending in this is the method followed by the consistency step."""
GAIN_RANGE = (0.5, 2.0)
"""The fitted coarse / fine gain is clipped to this range (a poor fit must not blow up C2)."""
PSF_SIGMAS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0, 1.5)
"""Point-spread widths tried by :func:`fit_radiometry`, in coarse pixels (sigma of a Gaussian)."""
MIN_COVER = 0.5
"""Coarse pixels with less than this share of valid fine pixels get no residual."""


def block_size(factor: float) -> int:
    """The coarse pixel as a whole number of fine pixels: ``factor`` rounded, at least 1."""
    return max(1, int(round(factor)))


@lru_cache(maxsize=64)
def view_matrix(n: int, s: int, sigma: float, resampled: bool = False) -> np.ndarray:
    """``(ceil(n / s), n)``: the view along an axis of ``n`` fine pixels as a matrix (so
    ``M_rows @ image @ M_cols.T`` is the 2-D view): the operator of
    :func:`~est_stfm.datasets.degrade.blur_and_block_average` (the same Gaussian, truncated at
    ``ceil(3 sigma)`` with mirrored edges, then :func:`~est_stfm.datasets.degrade.block_average`)
    applied to unit impulses; ``resampled``: then also
    :func:`~est_stfm.datasets.degrade.upsample_bilinear` and the block mean again (a coarse
    image resampled bilinearly onto the fine grid, then block-averaged)."""
    impulses = np.eye(n, dtype=np.float32)
    if sigma > 0:
        radius = max(1, math.ceil(3.0 * sigma))
        impulses = gaussian_filter1d(impulses, sigma, axis=1, mode="reflect", radius=radius)
    blocks = block_average(impulses[:, :, None], s)  # (n, ceil(n / s), 1): one row per impulse
    if resampled:
        blocks = block_average(upsample_bilinear(blocks, (n, 1), s), s)
    return np.ascontiguousarray(blocks[..., 0].T)


def masked_blocks(
    image: np.ndarray, weight: np.ndarray, s: int, sigma: float = 0.0, resampled: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(means, cover)`` on the coarse grid: the view of ``image`` (:func:`view_matrix`) over
    the pixels where ``weight`` is True, and the share of valid pixels behind each value (means
    are 0 where it is 0). ``sigma`` 0 and not ``resampled``: the plain ``s`` x ``s`` block
    means."""
    h, w = weight.shape
    rows = view_matrix(h, s, float(sigma), resampled)
    cols = view_matrix(w, s, float(sigma), resampled).T
    mask = weight.astype(np.float32)
    cover = rows @ mask @ cols
    means = rows @ (image * mask) @ cols / np.maximum(cover, 1e-6)
    return means, cover


@dataclass(frozen=True)
class Radiometry:
    """The coarse sensor relative to the fine one: ``C = gain * view(F) + offset`` per band
    (``(bands, 1, 1)`` arrays); ``view`` is :func:`masked_blocks` with ``sigma`` (fine pixels)
    and ``resampled``."""

    sigma: float
    resampled: bool
    gain: np.ndarray
    offset: np.ndarray

    def view(self, image: np.ndarray, weight: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
        """``(means, cover)`` of ``image`` through this view (:func:`masked_blocks`)."""
        return masked_blocks(image, weight, s, self.sigma, self.resampled)


def _line(
    xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], fit_gain: bool = True
) -> tuple[np.ndarray, np.ndarray, float]:
    """Per band least-squares ``(gain, offset, mean correlation)`` of ``y = gain x + offset``
    from ``(bands, n)`` samples of one or more dates: the gain and correlation from the
    samples centred on each date's means (dates may differ by an offset), the offset from all
    samples. The gain is clipped to :data:`GAIN_RANGE`; ``fit_gain`` False, no spread in ``x``
    or under 3 samples: gain 1."""
    dx = np.concatenate([x - x.mean(1, keepdims=True) for x in xs if x.shape[1]], axis=1)
    dy = np.concatenate([y - y.mean(1, keepdims=True) for y in ys if y.shape[1]], axis=1)
    x, y = np.concatenate(xs, axis=1), np.concatenate(ys, axis=1)
    bands, n = x.shape
    gain, corr = np.ones(bands), np.zeros(bands)
    var, vy = (dx * dx).mean(1), (dy * dy).mean(1)
    for b in range(bands):
        if n >= 3 and var[b] > 1e-12:
            if fit_gain:
                gain[b] = np.clip((dx[b] * dy[b]).mean() / var[b], *GAIN_RANGE)
            if vy[b] > 1e-12:
                corr[b] = (dx[b] * dy[b]).mean() / np.sqrt(var[b] * vy[b])
    offset = y.mean(1) - gain * x.mean(1) if n else np.zeros(bands)
    return gain, offset, float(corr.mean())


def fit_radiometry(
    pairs: Sequence[Pair],
    valid: Sequence[np.ndarray],
    factor: float,
    views: Sequence[tuple[float, bool]] | None = None,
    fit_gain: bool = True,
) -> Radiometry:
    """The :class:`Radiometry` that fits the reference pair(s) best, on their well-covered
    coarse pixels: per band least squares of the block means of ``C`` on the view of ``F``
    (with several pairs, one gain and each date centred on its own means: a date's offset does
    not count as gain), for each ``(sigma, resampled)`` of ``views`` (None: every
    :data:`PSF_SIGMAS` times ``factor``, with and without resampling), keeping the view of
    highest mean correlation. ``fit_gain`` False: gain 1, only the offset is fitted."""
    s = block_size(factor)
    if views is None:
        views = [(k * factor, r) for r in (False, True) for k in PSF_SIGMAS]
    ys, keeps = [], []
    for (c, _), m in zip(pairs, valid, strict=True):
        y, cover = masked_blocks(c, m, s)
        keeps.append(cover >= MIN_COVER)
        ys.append(y[:, keeps[-1]].astype(np.float64))
    best: tuple[float, Radiometry] | None = None
    for sigma, resampled in views:
        xs = [
            masked_blocks(f, m, s, sigma, resampled)[0][:, keep].astype(np.float64)
            for (_, f), m, keep in zip(pairs, valid, keeps, strict=True)
        ]
        gain, offset, corr = _line(xs, ys, fit_gain)
        if best is None or corr > best[0]:
            as_band = (-1, 1, 1)
            gain, offset = gain.astype(np.float32), offset.astype(np.float32)
            fit = Radiometry(
                float(sigma), resampled, gain.reshape(as_band), offset.reshape(as_band)
            )
            best = (corr, fit)
    assert best is not None
    return best[1]


def coarse_residual(
    pred: np.ndarray,
    pairs: Sequence[Pair],
    c2: np.ndarray,
    valid: Sequence[np.ndarray],
    factor: float,
    anchor: bool = True,
    radiometry: Radiometry | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(R, D)``, both ``(bands, H, W)``: ``D = calibrated(C2) - P`` on the fine grid (with
    ``anchor``, minus the reference pair's ``calibrated(C1) - F1``: ``(C2 - C1) / gain - (P -
    F1)``; with several pairs their mean weighted as the classic methods weigh pairs
    (:func:`~est_stfm.methods.base.pair_weights`) over the pairs valid at a pixel; 0 where
    none is) and ``R``, the view of ``D`` on the coarse grid resampled bilinearly onto the
    fine grid, 0 on coarse pixels under :data:`MIN_COVER` valid. ``radiometry``: None fits it
    on ``pairs``."""
    rad = radiometry or fit_radiometry(pairs, valid, factor)
    s = block_size(factor)
    if anchor:
        weights = [np.asarray(m, np.float32) for m in valid]
        if len(pairs) > 1:  # the per-pixel pair weights of the classic two-pair methods
            near = pair_weights(c2, [c for c, _ in pairs], TWO_PAIR_WINDOW)
            weights = [w * m for w, m in zip(near, weights, strict=True)]
        total = np.zeros(pred.shape, np.float32)
        count = np.zeros(pred.shape[-2:], np.float32)
        for (c, f), w in zip(pairs, weights, strict=True):
            total += ((c2 - c) / rad.gain - (pred - f)) * w
            count += w
        inside = count > 0
        diff = total / np.where(inside, count, 1.0)
    else:
        inside = np.logical_or.reduce(valid)
        diff = np.where(inside, (c2 - rad.offset) / rad.gain - pred, 0.0)
    blocks, cover = rad.view(diff, inside, s)
    blocks = np.where(cover >= MIN_COVER, blocks, 0.0).astype(np.float32)
    return upsample_bilinear(blocks, pred.shape[-2:], s), diff.astype(np.float32)


def class_homogeneity(fine: np.ndarray, valid: np.ndarray, size: int, classes: int) -> np.ndarray:
    """``(H, W)`` FSDAF's homogeneity index of ``fine``: the share of the ``size`` x ``size``
    window in the pixel's own k-means class (fitted on the valid pixels; invalid pixels are a
    class of their own)."""
    labels = np.full(valid.shape, classes, np.int64)
    if valid.any():
        pixels = fine[:, valid].T
        labels[valid], _ = kmeans(pixels, min(classes, len(pixels)), seed=0, restarts=2)
    return homogeneity(labels, classes + 1, size).astype(np.float32)


def distribute(residual: np.ndarray, error: np.ndarray, hi: np.ndarray, size: int) -> np.ndarray:
    """FSDAF's weighting of the residual ``R`` over fine pixels: ``R CW / mean(CW)`` with ``CW
    = |E| HI [sign E = sign R] + |R| (1 - HI) + 1e-6`` (``E``: ``error``, ``HI``: ``hi``, the
    mean over the ``size`` x ``size`` window)."""
    agree = np.sign(error) == np.sign(residual)
    weight = np.abs(error) * agree * hi + np.abs(residual) * (1.0 - hi) + 1e-6
    mean = uniform_filter(weight, size=(1,) * (weight.ndim - 2) + (size, size), mode="reflect")
    return (residual * (weight / mean)).astype(np.float32)


def make_consistent(
    pred: np.ndarray,
    pairs: Sequence[Pair],
    c2: np.ndarray,
    valid: Sequence[np.ndarray],
    factor: float,
    *,
    anchor: bool = True,
    fit_gain: bool = True,
    num_classes: int = 5,
) -> np.ndarray:
    """``pred`` plus its distributed coarse residual (the module docstring's steps); pixels no
    pair is valid at are left unchanged."""
    pred = as_image("prediction", pred)
    coarse, fine, c2, masks = check_pairs(pairs, c2, valid)
    pairs = list(zip(coarse, fine, strict=True))
    rad = fit_radiometry(pairs, masks, factor, fit_gain=fit_gain)
    residual, diff = coarse_residual(pred, pairs, c2, masks, factor, anchor, rad)
    s = block_size(factor)
    best = int(np.argmax([m.sum() for m in masks]))
    hi = class_homogeneity(fine[best], masks[best], s, num_classes)
    out = pred + distribute(residual, diff, hi, s)
    return np.where(np.logical_or.reduce(masks), out, pred).astype(np.float32)


class Consistent:
    """``base`` followed by the consistency step (:func:`make_consistent`), named
    ``<base>+consistency``; ``anchor``, ``fit_gain`` and ``num_classes`` as there.

    ``factor``: the coarse pixel size in fine pixels (a scene's ``coarse_factor``), rounded to
    the block size ``s``. The PSF, gain and offset are fitted anew on every call and the blocks
    start at the corner of what is given, so a tiled run differs slightly from a whole-image
    one; ``halo`` is the base method's plus the reach of the widest PSF tried and of two
    blocks (the bilinear neighbours and the distribution window).
    """

    def __init__(
        self,
        base: Method,
        factor: float,
        *,
        anchor: bool = True,
        fit_gain: bool = True,
        num_classes: int = 5,
    ) -> None:
        self.base = base
        self.factor = check_factor("the consistency step", factor)
        self.anchor, self.fit_gain = bool(anchor), bool(fit_gain)
        self.num_classes = int(num_classes)
        self.name = f"{base.name}{SUFFIX}"
        reach = math.ceil(3 * max(PSF_SIGMAS) * self.factor) + 2 * block_size(self.factor)
        self.halo = int(base.halo) + reach
        self.bands = base.bands

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """The base method's prediction from one pair, made consistent with ``c2``."""
        pred = self.base.predict(c1, f1, c2)
        mask = np.ones(np.shape(c2)[-2:], dtype=bool)
        return self._correct(pred, [(c1, f1)], c2, [mask])

    def predict_pairs(
        self, pairs: Sequence[Pair], c2: np.ndarray, valid: Sequence[np.ndarray]
    ) -> np.ndarray:
        """The base method's prediction from ``pairs``, made consistent with ``c2``."""
        pred = self.base.predict_pairs(pairs, c2, valid)
        return self._correct(pred, pairs, c2, valid)

    def _correct(
        self, pred: np.ndarray, pairs: Sequence[Pair], c2: np.ndarray, valid: Sequence[np.ndarray]
    ) -> np.ndarray:
        return make_consistent(
            pred,
            pairs,
            c2,
            valid,
            self.factor,
            anchor=self.anchor,
            fit_gain=self.fit_gain,
            num_classes=self.num_classes,
        )
