"""The metric suite: one set of conventions, written down once.

Conventions (the README repeats them):

* Inputs are reflectance (the stored value times the scene's ``scale``), shaped ``(bands, H, W)``.
* Every metric is computed on the **whole image** (no cropping to tiles, no dropped border) and
  **over valid pixels only**: ``valid`` is an ``(H, W)`` boolean mask; invalid pixels are ignored.
* ``data_range`` is 1.0 (reflectance 0..1) unless given; it enters PSNR and SSIM.
* Each metric is reported per band and overall; "overall" is defined per metric below.

Formulas (``x`` prediction, ``y`` truth, ``n`` valid pixels of band ``b``):

* RMSE_b = sqrt(mean((x - y)^2)); overall RMSE pools all bands' squared errors.
* MAE_b = mean(|x - y|); overall pools all bands.
* bias_b = mean(x - y) (positive: the prediction is too bright); overall pools all bands.
* PSNR_b = 10 log10(data_range^2 / MSE_b) in dB; overall uses the pooled MSE.
* SSIM_b (Wang et al. 2004): Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03,
  population (not sample) covariances, symmetric padding at the border; local statistics are
  normalised convolutions over valid pixels, and the SSIM map is averaged over all valid pixels,
  border included. Overall = mean over bands. With every pixel valid, the map equals
  scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1, full=True)`` map.
* CC_b: Pearson correlation; overall = mean over bands.
* SAM: spectral angle arccos(<x, y> / (|x| |y|)) per pixel, in **degrees**, averaged over valid
  pixels where neither spectrum has zero norm (those are skipped, never NaN). Single-band images
  have no spectral angle: SAM is reported as NaN there.
* ERGAS = 100 * ratio * sqrt(mean_b(RMSE_b^2 / mean_b(y)^2)) with ``ratio`` = fine pixel size /
  coarse pixel size (30 / 500 = 0.06 for Landsat/MODIS, the default). Per-band ERGAS is
  100 * ratio * RMSE_b / mean_b(y).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from est_stfm.errors import EstStfmError

DEFAULT_ERGAS_RATIO = 30.0 / 500.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
METRIC_NAMES = ("RMSE", "MAE", "bias", "PSNR", "SSIM", "SAM", "ERGAS", "CC")


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


def _check(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    if pred.shape != truth.shape:
        raise EstStfmError(
            f"prediction shape {pred.shape} differs from truth shape {truth.shape}: "
            "compare images on the same grid with the same bands"
        )
    if pred.ndim != 3:
        raise EstStfmError(f"expected (bands, H, W) arrays, got shape {pred.shape}")
    if valid is None:
        valid = np.ones(pred.shape[1:], dtype=bool)
    valid = valid & np.isfinite(pred).all(0) & np.isfinite(truth).all(0)
    if not valid.any():
        raise EstStfmError("no valid pixel to evaluate: every pixel is nodata in one of the images")
    return valid


def _gaussian_kernel(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(r**2) / (2 * sigma**2))
    return k / k.sum()


def gaussian_filter(
    img: np.ndarray, size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA
) -> np.ndarray:
    """Separable Gaussian filter of a 2-D array with symmetric ("reflect" in scipy) padding."""
    k = _gaussian_kernel(size, sigma)
    pad = size // 2
    out = np.pad(img.astype(np.float64), pad, mode="symmetric")
    h, w = img.shape
    rows = sum(k[i] * out[i : i + h, :] for i in range(size))
    return sum(k[j] * rows[:, j : j + w] for j in range(size))


def ssim_map(
    x: np.ndarray, y: np.ndarray, valid: np.ndarray | None = None, data_range: float = 1.0
) -> np.ndarray:
    """Local SSIM of two 2-D images (see the module docstring for the convention)."""
    m = np.ones(x.shape, np.float64) if valid is None else valid.astype(np.float64)
    x = np.where(m > 0, x, 0.0).astype(np.float64)
    y = np.where(m > 0, y, 0.0).astype(np.float64)
    w = np.maximum(gaussian_filter(m), 1e-12)
    mx = gaussian_filter(x * m) / w
    my = gaussian_filter(y * m) / w
    vx = np.maximum(gaussian_filter(x * x * m) / w - mx**2, 0.0)
    vy = np.maximum(gaussian_filter(y * y * m) / w - my**2, 0.0)
    cxy = gaussian_filter(x * y * m) / w - mx * my
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


def spectral_angle(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> float:
    """Mean spectral angle in degrees over valid pixels with non-zero spectra (NaN for 1 band)."""
    if pred.shape[0] < 2:
        return float("nan")
    x = pred[:, valid].astype(np.float64)
    y = truth[:, valid].astype(np.float64)
    nx = np.linalg.norm(x, axis=0)
    ny = np.linalg.norm(y, axis=0)
    ok = (nx > 0) & (ny > 0)
    if not ok.any():
        return float("nan")
    cos = (x[:, ok] * y[:, ok]).sum(0) / (nx[ok] * ny[ok])
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).mean())


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def _psnr(mse: float, data_range: float) -> float:
    return float("inf") if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def evaluate_arrays(
    pred: np.ndarray,
    truth: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    data_range: float = 1.0,
    ergas_ratio: float = DEFAULT_ERGAS_RATIO,
) -> MetricReport:
    """Every metric of the suite, per band and overall, over valid pixels of whole images."""
    valid = _check(pred, truth, valid)
    bands = []
    sq_errors, abs_errors, errors, ergas_terms = [], [], [], []
    for b in range(pred.shape[0]):
        x = pred[b][valid].astype(np.float64)
        y = truth[b][valid].astype(np.float64)
        d = x - y
        mse = float((d * d).mean())
        mean_y = float(y.mean())
        ratio_term = mse / mean_y**2 if mean_y != 0 else float("nan")
        ergas_terms.append(ratio_term)
        sq_errors.append(mse)
        abs_errors.append(float(np.abs(d).mean()))
        errors.append(float(d.mean()))
        smap = ssim_map(pred[b], truth[b], valid, data_range)
        bands.append(
            {
                "RMSE": math.sqrt(mse),
                "MAE": abs_errors[-1],
                "bias": errors[-1],
                "PSNR": _psnr(mse, data_range),
                "SSIM": float(smap[valid].mean()),
                "SAM": float("nan"),
                "ERGAS": 100.0 * ergas_ratio * math.sqrt(ratio_term),
                "CC": _pearson(x, y),
            }
        )
    mse_all = float(np.mean(sq_errors))
    overall = {
        "RMSE": math.sqrt(mse_all),
        "MAE": float(np.mean(abs_errors)),
        "bias": float(np.mean(errors)),
        "PSNR": _psnr(mse_all, data_range),
        "SSIM": float(np.mean([b["SSIM"] for b in bands])),
        "SAM": spectral_angle(pred, truth, valid),
        "ERGAS": 100.0 * ergas_ratio * math.sqrt(float(np.mean(ergas_terms))),
        "CC": float(np.mean([b["CC"] for b in bands])),
    }
    return MetricReport(overall=overall, per_band=bands, valid_pixels=int(valid.sum()))
