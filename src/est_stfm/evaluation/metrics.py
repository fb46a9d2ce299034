"""The metric suite: one set of conventions, written down once.

Conventions (the README repeats them):

* Inputs are reflectance (the stored value times the scene's ``scale``), shaped ``(bands, H, W)``.
* Every metric is computed on the **whole image** (no cropping to tiles, no dropped border) and
  **over valid pixels only**: ``valid`` is an ``(H, W)`` boolean mask; invalid pixels are ignored
  (whatever they hold, NaN and inf included, changes nothing). Pixels that are not finite in
  either image are invalid too.
* ``data_range`` is 1.0 (reflectance 0..1) unless given; it enters PSNR and SSIM.
* Each metric is reported per band and overall; "overall" is defined per metric below.
* Images of any size are processed in **row blocks** of ``chunk_rows`` rows (default: about
  :data:`~est_stfm.evaluation.chunks.CHUNK_PIXELS` pixels per block), so the working memory
  beyond the inputs is bounded by the block size (about ten float64 planes of one block, 1 MB
  each by default). Windowed metrics read a halo of extra rows around each block (5 for SSIM, 7
  below the block for UIQI). Every per-pixel value is computed from exactly the same numbers
  whatever the block size, and every sum is a correctly rounded sum (:func:`math.fsum`) of
  per-row sums, so the result is **bit-for-bit the same for any** ``chunk_rows``.

Formulas (``x`` prediction, ``y`` truth, ``n`` valid pixels of band ``b``; all in float64):

* RMSE_b = sqrt(mean((x - y)^2)) in reflectance units; overall RMSE pools all bands' squared
  errors.
* MAE_b = mean(|x - y|); overall pools all bands.
* bias_b = mean(x - y) (positive: the prediction is too bright); overall pools all bands.
* PSNR_b = 10 log10(data_range^2 / MSE_b) in dB (inf for a perfect band); overall uses the pooled
  MSE.
* SSIM_b (Wang et al. 2004): Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03,
  population (not sample) covariances, symmetric padding at the border; local statistics are
  normalised convolutions over valid pixels, and the SSIM map is averaged over all valid pixels,
  border included. Overall = mean over bands. With every pixel valid, the map equals
  scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1, full=True)`` map.
* CC_b: Pearson correlation (two-pass: centred on the band means); NaN for a constant band;
  overall = mean over bands.
* UIQI_b (Wang & Bovik 2002, the universal image quality index Q): for every 8x8 window with
  uniform weights,
  Q = 4 s_xy m_x m_y / ((s_x^2 + s_y^2)(m_x^2 + m_y^2))
  = [2 s_xy / (s_x^2 + s_y^2)] * [2 m_x m_y / (m_x^2 + m_y^2)]
  (the normalisation of the (co)variances, N or N - 1, cancels). Windows slide one pixel at a
  time and lie fully inside the image (no padding, as in the authors' reference code: an
  H x W band has (H - 7) x (W - 7) windows; border pixels belong to fewer windows). Only windows
  whose 64 pixels are **all valid** count; UIQI_b is the mean of Q over them, NaN when there is
  none (a band smaller than 8x8, or a mask with no fully valid 8x8 block). Degenerate windows:
  each factor whose denominator is zero is 1, so two constant windows give Q = 1 when equal and
  2ab / (a^2 + b^2) for constants a != b; a constant window against a varying one gives Q = 0.
  A window counts as constant when all its values are equal (tested exactly, so rounding never
  invents a tiny variance). Q lies in [-1, 1]. Overall = mean over bands.
* SAM: spectral angle arccos(<x, y> / (|x| |y|)) per pixel, in **degrees**, averaged over valid
  pixels where neither spectrum has zero norm (those are skipped, never NaN). Single-band images
  have no spectral angle: SAM is reported as NaN there.
* ERGAS = 100 * ratio * sqrt(mean_b(RMSE_b^2 / mean_b(y)^2)) with ``ratio`` = fine pixel size /
  coarse pixel size (30 / 500 = 0.06 for Landsat/MODIS, the default). Per-band ERGAS is
  100 * ratio * RMSE_b / mean_b(y). Unitless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import correlate1d

from est_stfm.evaluation.chunks import RowSums, check_pair, masked64, row_blocks

DEFAULT_ERGAS_RATIO = 30.0 / 500.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
UIQI_WINDOW = 8
METRIC_NAMES = ("RMSE", "MAE", "bias", "PSNR", "SSIM", "SAM", "ERGAS", "CC", "UIQI")


@dataclass
class MetricReport:
    """Per-band and overall values of every metric (names as in :data:`METRIC_NAMES`)."""

    overall: dict[str, float]
    per_band: list[dict[str, float]] = field(default_factory=list)
    valid_pixels: int = 0

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {
            "overall": self.overall,
            "per_band": self.per_band,
            "valid_pixels": self.valid_pixels,
        }


def _sym_index(start: int, stop: int, n: int) -> np.ndarray:
    """Indices ``start..stop-1`` folded into ``0..n-1`` by symmetric reflection (``d c b a | a b
    c d``), repeated as often as needed: numpy's ``pad(mode="symmetric")``."""
    i = np.arange(start, stop) % (2 * n)
    return np.where(i < n, i, 2 * n - 1 - i)


def _gaussian_kernel(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(r**2) / (2 * sigma**2))
    return k / k.sum()


def gaussian_filter(
    img: np.ndarray, size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA
) -> np.ndarray:
    """Separable Gaussian filter of a 2-D array with symmetric ("reflect" in scipy) padding."""
    k = _gaussian_kernel(size, sigma)
    r = size // 2
    h, w = img.shape
    padded = np.asarray(img, np.float64)[np.ix_(_sym_index(-r, h + r, h), _sym_index(-r, w + r, w))]
    out = correlate1d(padded, k, axis=0, mode="constant")[r : r + h]
    return correlate1d(out, k, axis=1, mode="constant")[:, r : r + w]


def _ssim_rows(
    x: np.ndarray, y: np.ndarray, valid: np.ndarray, r0: int, r1: int, data_range: float
) -> np.ndarray:
    """Rows ``r0:r1`` of the SSIM map of two 2-D images (module docstring convention)."""
    h, w = x.shape
    r = SSIM_WINDOW // 2
    idx = np.ix_(_sym_index(r0 - r, r1 + r, h), _sym_index(-r, w + r, w))
    v = valid[idx]
    xb = masked64(x[idx], v)
    yb = masked64(y[idx], v)
    planes = np.stack([v.astype(np.float64), xb, yb, xb * xb, yb * yb, xb * yb])
    k = _gaussian_kernel()
    planes = correlate1d(planes, k, axis=1, mode="constant")[:, r : r + r1 - r0]
    planes = correlate1d(planes, k, axis=2, mode="constant")[:, :, r : r + w]
    wsum = np.maximum(planes[0], 1e-12)
    mx = planes[1] / wsum
    my = planes[2] / wsum
    vx = np.maximum(planes[3] / wsum - mx**2, 0.0)
    vy = np.maximum(planes[4] / wsum - my**2, 0.0)
    cxy = planes[5] / wsum - mx * my
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


def ssim_map(
    x: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray | None = None,
    data_range: float = 1.0,
    *,
    chunk_rows: int | None = None,
) -> np.ndarray:
    """Local SSIM of two 2-D images, shaped like them (see the module docstring)."""
    valid = np.ones(x.shape, bool) if valid is None else np.asarray(valid, bool)
    blocks = row_blocks(*x.shape, chunk_rows)
    return np.concatenate([_ssim_rows(x, y, valid, r0, r1, data_range) for r0, r1 in blocks])


def _box_sums(planes: np.ndarray, n: int) -> np.ndarray:
    """Sums over every n x n window lying inside the last two axes ("valid" mode)."""
    kernel = np.ones(n | 1)  # odd length, centred: output i sums inputs i - n//2 .. i - n//2 + n-1
    kernel[n:] = 0.0
    h, w = planes.shape[-2:]
    c = n // 2
    out = correlate1d(planes, kernel, axis=-2, mode="constant")[..., c : c + h - n + 1, :]
    return correlate1d(out, kernel, axis=-1, mode="constant")[..., c : c + w - n + 1]


def _flat_windows(img: np.ndarray, var: np.ndarray, mean_sq: np.ndarray, n: int) -> np.ndarray:
    """True for the n x n windows of ``img`` whose values are all equal, tested exactly.

    Only windows whose computed variance ``var`` is below 1e-12 of their mean square are
    candidates (a constant window's rounding error is far below that; any other window's variance
    far above), and only candidates are compared value by value.
    """
    flat = np.zeros(var.shape, dtype=bool)
    cand = np.flatnonzero(var <= 1e-12 * mean_sq)
    if cand.size == 0:
        return flat
    windows = np.lib.stride_tricks.sliding_window_view(img, (n, n))
    rows, cols = np.unravel_index(cand, var.shape)
    for i in range(0, cand.size, 1 << 16):
        part = windows[rows[i : i + (1 << 16)], cols[i : i + (1 << 16)]].reshape(-1, n * n)
        flat.flat[cand[i : i + (1 << 16)]] = (part == part[:, :1]).all(1)
    return flat


def _uiqi_rows(x: np.ndarray, y: np.ndarray, valid: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """Q of the windows whose top row is in ``r0:r1`` (NaN where a window is not fully valid);
    shaped ``(rows, W - 7)``, fewer rows near the bottom of the image."""
    n = UIQI_WINDOW
    h, w = x.shape
    stop = min(r1, h - n + 1)
    if stop <= r0 or w < n:
        return np.empty((max(stop - r0, 0), max(w - n + 1, 0)))
    rows = slice(r0, stop + n - 1)
    v = valid[rows]
    xb = masked64(x[rows], v)
    yb = masked64(y[rows], v)
    planes = np.stack([v.astype(np.float64), xb, yb, xb * xb, yb * yb, xb * yb])
    s = _box_sums(planes, n)
    area = float(n * n)
    mx, my = s[1] / area, s[2] / area
    vx = s[3] / area - mx * mx
    vy = s[4] / area - my * my
    flat_x = _flat_windows(xb, vx, s[3] / area, n)
    flat_y = _flat_windows(yb, vy, s[4] / area, n)
    vx = np.where(flat_x, 0.0, np.maximum(vx, 0.0))
    vy = np.where(flat_y, 0.0, np.maximum(vy, 0.0))
    cxy = np.where(flat_x | flat_y, 0.0, s[5] / area - mx * my)
    den_s, den_m = vx + vy, mx * mx + my * my
    f_s = np.divide(2 * cxy, den_s, out=np.ones_like(den_s), where=den_s > 0)
    f_m = np.divide(2 * mx * my, den_m, out=np.ones_like(den_m), where=den_m > 0)
    return np.where(s[0] == area, f_s * f_m, np.nan)


def uiqi_map(
    x: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    chunk_rows: int | None = None,
) -> np.ndarray:
    """Q of every 8x8 window of two 2-D images, shaped ``(H - 7, W - 7)`` and indexed by the
    window's top-left pixel; NaN where a window holds an invalid pixel (module docstring)."""
    valid = np.ones(x.shape, bool) if valid is None else np.asarray(valid, bool)
    blocks = row_blocks(*x.shape, chunk_rows)
    w = max(x.shape[1] - UIQI_WINDOW + 1, 0)
    parts = [_uiqi_rows(x, y, valid, r0, r1) for r0, r1 in blocks]
    return np.concatenate([np.empty((0, w)), *parts])


def _sam_sums(
    pred: np.ndarray, truth: np.ndarray, valid: np.ndarray, r0: int, r1: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row sums of spectral angles (degrees) and counts of pixels that have one."""
    v = valid[r0:r1]
    dot = np.zeros(v.shape)
    nx2 = np.zeros(v.shape)
    ny2 = np.zeros(v.shape)
    for b in range(pred.shape[0]):
        xb = masked64(pred[b, r0:r1], v)
        yb = masked64(truth[b, r0:r1], v)
        dot += xb * yb
        nx2 += xb * xb
        ny2 += yb * yb
    ok = v & (nx2 > 0) & (ny2 > 0)
    cos = np.divide(dot, np.sqrt(nx2) * np.sqrt(ny2), out=np.zeros_like(dot), where=ok)
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return np.where(ok, angle, 0.0).sum(1), ok.sum(1)


def spectral_angle(
    pred: np.ndarray, truth: np.ndarray, valid: np.ndarray, *, chunk_rows: int | None = None
) -> float:
    """Mean spectral angle in degrees over valid pixels with non-zero spectra (NaN for 1 band)."""
    if pred.shape[0] < 2:
        return float("nan")
    sums = RowSums()
    for r0, r1 in row_blocks(*pred.shape[1:], chunk_rows):
        angle, count = _sam_sums(pred, truth, valid, r0, r1)
        sums.add("angle", angle)
        sums.add("count", count)
    count = sums.total("count")
    return sums.total("angle") / count if count > 0 else float("nan")


def _band_sums(
    x: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    blocks: list[tuple[int, int]],
    data_range: float,
) -> tuple[RowSums, float, float]:
    """Every sum the per-band metrics need, in two passes over row blocks (means, then the
    rest); returns the sums and the band means of ``x`` and ``y``."""
    sums = RowSums()
    n = 0
    for r0, r1 in blocks:
        v = valid[r0:r1]
        sums.add("x", masked64(x[r0:r1], v).sum(1))
        sums.add("y", masked64(y[r0:r1], v).sum(1))
        n += int(v.sum())
    mean_x, mean_y = sums.total("x") / n, sums.total("y") / n
    for r0, r1 in blocks:
        v = valid[r0:r1]
        xb = masked64(x[r0:r1], v)
        yb = masked64(y[r0:r1], v)
        d = xb - yb
        sums.add("d", d.sum(1))
        sums.add("abs", np.abs(d).sum(1))
        sums.add("sq", (d * d).sum(1))
        xc = np.where(v, xb - mean_x, 0.0)
        yc = np.where(v, yb - mean_y, 0.0)
        sums.add("xx", (xc * xc).sum(1))
        sums.add("yy", (yc * yc).sum(1))
        sums.add("xy", (xc * yc).sum(1))
        sums.add("ssim", np.where(v, _ssim_rows(x, y, valid, r0, r1, data_range), 0.0).sum(1))
        q = _uiqi_rows(x, y, valid, r0, r1)
        full = ~np.isnan(q)
        sums.add("q", np.where(full, q, 0.0).sum(1))
        sums.add("windows", full.sum(1))
    return sums, mean_x, mean_y


def _psnr(mse: float, data_range: float) -> float:
    return float("inf") if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def evaluate_arrays(
    pred: np.ndarray,
    truth: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    data_range: float = 1.0,
    ergas_ratio: float = DEFAULT_ERGAS_RATIO,
    chunk_rows: int | None = None,
) -> MetricReport:
    """Every metric of the suite, per band and overall, over valid pixels of whole images.

    ``pred`` and ``truth`` are ``(bands, H, W)`` reflectance; ``data_range`` enters PSNR and
    SSIM; ``ergas_ratio`` is fine / coarse pixel size; ``chunk_rows`` (rows per block) bounds the
    working memory and never changes the result. Formulas and units: the module docstring.
    """
    valid = check_pair(pred, truth, valid, chunk_rows)
    blocks = row_blocks(*pred.shape[1:], chunk_rows)
    n = int(valid.sum())
    bands, sq_errors, ergas_terms = [], [], []
    for b in range(pred.shape[0]):
        s, _, mean_y = _band_sums(pred[b], truth[b], valid, blocks, data_range)
        mse = s.total("sq") / n
        ratio_term = mse / mean_y**2 if mean_y != 0 else float("nan")
        den = math.sqrt(s.total("xx") * s.total("yy"))
        windows = s.total("windows")
        sq_errors.append(mse)
        ergas_terms.append(ratio_term)
        bands.append(
            {
                "RMSE": math.sqrt(mse),
                "MAE": s.total("abs") / n,
                "bias": s.total("d") / n,
                "PSNR": _psnr(mse, data_range),
                "SSIM": s.total("ssim") / n,
                "SAM": float("nan"),
                "ERGAS": 100.0 * ergas_ratio * math.sqrt(ratio_term),
                "CC": s.total("xy") / den if den > 0 else float("nan"),
                "UIQI": s.total("q") / windows if windows > 0 else float("nan"),
            }
        )
    mse_all = float(np.mean(sq_errors))

    def band_mean(name: str) -> float:
        return float(np.mean([band[name] for band in bands]))

    overall = {
        "RMSE": math.sqrt(mse_all),
        "MAE": band_mean("MAE"),
        "bias": band_mean("bias"),
        "PSNR": _psnr(mse_all, data_range),
        "SSIM": band_mean("SSIM"),
        "SAM": spectral_angle(pred, truth, valid, chunk_rows=chunk_rows),
        "ERGAS": 100.0 * ergas_ratio * math.sqrt(float(np.mean(ergas_terms))),
        "CC": band_mean("CC"),
        "UIQI": band_mean("UIQI"),
    }
    return MetricReport(overall=overall, per_band=bands, valid_pixels=n)
