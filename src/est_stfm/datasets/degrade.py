"""The fine -> coarse operator: point-spread blur, block averaging, and resampling back.

One implementation for everything that simulates a coarse sensor from a fine image: the synthetic
scenes (:mod:`est_stfm.datasets.synthetic`) and the benchmark's simulated coarse images
(``benchmarks/prepare_data.py``). Every function works on the last two axes, so ``(H, W)`` and
``(bands, H, W)`` arrays both work. Only numpy is used (no scipy).

Grid convention: coarse pixel ``j`` covers fine pixels ``j * factor`` to ``(j + 1) * factor - 1``,
counted from the top-left corner; the last coarse pixel of an axis may cover fewer (a partial
block), so a fine axis of ``n`` pixels has ``ceil(n / factor)`` coarse pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised 1-D Gaussian truncated at three sigma (at least one pixel each side)."""
    radius = max(1, math.ceil(3.0 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _convolve_axis(a: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """Convolve along ``axis`` with a symmetric kernel, mirroring the edges."""
    radius = len(kernel) // 2
    n = a.shape[axis]
    pad = [(0, 0)] * a.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(a, pad, mode="symmetric")
    out = np.zeros_like(a)
    for i, weight in enumerate(kernel):
        out += weight * np.take(padded, np.arange(i, i + n), axis=axis)
    return out


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A separable Gaussian blur over the last two axes (mirrored edges); ``sigma`` in pixels."""
    out = np.asarray(image, dtype=np.result_type(image, np.float32))
    if sigma <= 0:
        return out.copy()
    kernel = _gaussian_kernel(sigma)
    return _convolve_axis(_convolve_axis(out, kernel, -2), kernel, -1)


def _block_counts(n: int, factor: int) -> np.ndarray:
    """Fine pixels in each coarse block along an axis of ``n`` pixels."""
    stops = np.minimum(np.arange(1, math.ceil(n / factor) + 1) * factor, n)
    return stops - np.arange(len(stops)) * factor


def block_average(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor x factor`` blocks of the last two axes; partial edge blocks are averaged
    over the pixels they have. Output size is ``ceil(H / factor) x ceil(W / factor)``."""
    a = np.asarray(image)
    h, w = a.shape[-2:]
    hc, wc = math.ceil(h / factor), math.ceil(w / factor)
    pad = [(0, 0)] * (a.ndim - 2) + [(0, hc * factor - h), (0, wc * factor - w)]
    padded = np.pad(a, pad)
    sums = padded.reshape(*a.shape[:-2], hc, factor, wc, factor).sum(axis=(-3, -1))
    counts = np.outer(_block_counts(h, factor), _block_counts(w, factor))
    return (sums / counts).astype(np.result_type(a, np.float32))


def blur_and_block_average(
    fine: np.ndarray, factor: int, psf_sigma: float | None = None
) -> np.ndarray:
    """The pure fine -> coarse operator: Gaussian PSF blur, then ``factor`` block averaging.

    Returns the coarse-grid array ``(..., ceil(H / factor), ceil(W / factor))``. ``psf_sigma`` is
    in fine pixels; ``None`` means ``factor / 4`` (together with the box of the block average, a
    sensor footprint of about 1.2 coarse pixels). No gain, bias or noise: use it as a physical
    consistency operator.
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    sigma = factor / 4.0 if psf_sigma is None else float(psf_sigma)
    return block_average(gaussian_blur(fine, sigma), factor)


def upsample_nearest(coarse: np.ndarray, shape: tuple[int, int], factor: int) -> np.ndarray:
    """Each coarse pixel repeated over the fine pixels it covers, cropped to ``shape``: the
    blocky coarse image on the fine grid (no new values)."""
    out = np.repeat(np.repeat(np.asarray(coarse), factor, axis=-2), factor, axis=-1)
    return out[..., : shape[0], : shape[1]]


def upsample_bilinear(coarse: np.ndarray, shape: tuple[int, int], factor: int) -> np.ndarray:
    """Bilinear resampling of a coarse grid (from :func:`block_average`) back onto the fine grid.

    Each coarse pixel's value sits at the centre of the fine pixels it covers (partial edge blocks
    included); fine pixels between centres are interpolated, those beyond the outer centres take
    the edge value. For whole blocks that is pixel-centre alignment: fine pixel ``i`` lies at
    ``(i + 0.5) / factor - 0.5`` coarse pixels. Computed in the input's float type.
    """
    a = np.asarray(coarse)
    out = a
    for axis, n in ((-2, shape[0]), (-1, shape[1])):
        nc = a.shape[axis]
        starts = np.arange(nc) * factor
        stops = np.minimum(starts + factor, n)
        centres = (starts + stops - 1) / 2.0
        pos = np.interp(np.arange(n, dtype=np.float64), centres, np.arange(nc, dtype=np.float64))
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, nc - 1)
        frac = (pos - i0).astype(out.dtype)
        shape_w = [1] * out.ndim
        shape_w[axis] = n
        frac = frac.reshape(shape_w)
        out = np.take(out, i0, axis=axis) * (1 - frac) + np.take(out, i1, axis=axis) * frac
    return out


def degrade_to_coarse(
    fine: np.ndarray,
    factor: int = 16,
    psf_sigma: float | None = None,
    rng: np.random.Generator | int | None = None,
    gain: float | Sequence[float] | np.ndarray | None = None,
    bias: float | Sequence[float] | np.ndarray | None = None,
    noise: float = 0.003,
) -> np.ndarray:
    """A MODIS-like image of ``fine`` ``(bands, H, W)``, resampled back onto the fine grid.

    :func:`blur_and_block_average`, then ``gain * x + bias`` per band (``None``: drawn from ``rng``,
    gain in [0.96, 1.04], bias in [-0.008, 0.008]), Gaussian noise of std ``noise`` per coarse
    pixel, then :func:`upsample_bilinear` to ``(bands, H, W)``. ``rng`` is a generator or a seed
    (``None``: seed 0, so the result is deterministic).
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng or 0)
    a = np.asarray(fine, dtype=np.float32)
    bands = a.shape[0] if a.ndim >= 3 else 1
    per_band = (bands, 1, 1) if a.ndim >= 3 else (1, 1)
    g = rng.uniform(0.96, 1.04, bands) if gain is None else np.broadcast_to(gain, (bands,))
    b = rng.uniform(-0.008, 0.008, bands) if bias is None else np.broadcast_to(bias, (bands,))
    coarse = blur_and_block_average(a, factor, psf_sigma)
    coarse = coarse * np.asarray(g, np.float32).reshape(per_band)
    coarse = coarse + np.asarray(b, np.float32).reshape(per_band)
    if noise > 0:
        coarse = coarse + rng.normal(0.0, noise, coarse.shape).astype(np.float32)
    return upsample_bilinear(coarse, a.shape[-2:], factor).astype(np.float32)
