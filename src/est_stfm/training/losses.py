"""Training losses: Charbonnier, SSIM and coarse-change consistency, on valid pixels only.

The torch SSIM uses the same convention as :mod:`est_stfm.evaluation.metrics` (Gaussian window 11,
sigma 1.5, K1 0.01, K2 0.03, population covariances, normalised over valid pixels) except at the
image border, where it pads by reflection ("reflect" in torch; the metric uses symmetric padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from est_stfm.evaluation.metrics import SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_WINDOW


def charbonnier(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, eps: float = 1e-3):
    """Mean of sqrt((pred - target)^2 + eps^2) over valid pixels; valid is (B, 1, H, W) float."""
    err = torch.sqrt((pred - target) ** 2 + eps**2) * valid
    return err.sum() / (valid.sum() * pred.shape[1]).clamp_min(1.0)


def _gauss_filter(x: torch.Tensor, size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA):
    r = torch.arange(size, dtype=x.dtype, device=x.device) - (size - 1) / 2
    k = torch.exp(-(r**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    pad = size // 2
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    x = F.pad(x, (pad, pad, pad, pad), mode=mode)
    x = F.conv2d(x, k.view(1, 1, 1, size).expand(c, 1, 1, size), groups=c)
    return F.conv2d(x, k.view(1, 1, size, 1).expand(c, 1, size, 1), groups=c)


def ssim(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, data_range: float = 1.0
) -> torch.Tensor:
    """Mean SSIM over valid pixels and bands (differentiable)."""
    m = valid.expand_as(pred)
    x, y = pred * m, target * m
    w = _gauss_filter(m).clamp_min(1e-6)
    mx, my = _gauss_filter(x) / w, _gauss_filter(y) / w
    vx = (_gauss_filter(x * x) / w - mx**2).clamp_min(0.0)
    vy = (_gauss_filter(y * y) / w - my**2).clamp_min(0.0)
    cxy = _gauss_filter(x * y) / w - mx * my
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return (smap * m).sum() / m.sum().clamp_min(1.0)


def fusion_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, ssim_weight: float = 1.0
) -> torch.Tensor:
    """Charbonnier (eps 1e-3) + ssim_weight * (1 - SSIM), on valid pixels (SPEC 2.6)."""
    loss = charbonnier(pred, target, valid)
    if ssim_weight:
        loss = loss + ssim_weight * (1.0 - ssim(pred, target, valid))
    return loss


def block_mean(x: torch.Tensor, valid: torch.Tensor, factor: float) -> tuple[torch.Tensor, ...]:
    """Means of ``x`` over valid pixels of ``k`` x ``k`` blocks (``k = round(factor)``, the last
    blocks may be partial) and the blocks' valid fraction."""
    k = max(1, int(round(factor)))
    total = F.avg_pool2d(x * valid, k, ceil_mode=True)
    frac = F.avg_pool2d(valid, k, ceil_mode=True)
    return total / frac.clamp_min(1e-6), frac


def coarse_consistency(
    pred: torch.Tensor,
    fine_ref: torch.Tensor,
    coarse_ref: torch.Tensor,
    coarse_target: torch.Tensor,
    valid: torch.Tensor,
    factor: float,
) -> torch.Tensor:
    """Charbonnier distance between the predicted fine change and the coarse change, both
    averaged over coarse-pixel-sized blocks: ``block(pred - F1)`` vs ``block(C2 - C1)``.

    This is the physical check that the prediction, degraded to the coarse scale, changes as
    the coarse images do. It uses no fine image of the target date, so it is also a valid
    test-time objective. It compares *changes*, not levels, so a constant offset or gain
    difference between the two sensors does not enter. Blocks of the same size are averaged
    from both sides, so they need not align with the coarse sensor's pixels. Blocks with less
    than half their pixels valid are ignored.
    """
    d_pred, frac = block_mean(pred - fine_ref, valid, factor)
    d_coarse, _ = block_mean(coarse_target - coarse_ref, valid, factor)
    weight = (frac >= 0.5).to(pred.dtype)
    err = torch.sqrt((d_pred - d_coarse) ** 2 + 1e-6) * weight
    return err.sum() / (weight.sum() * pred.shape[1]).clamp_min(1.0)
