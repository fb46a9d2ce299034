"""Running any fusion network on top of a base prediction, whatever its kind.

Two kinds of networks exist: fixed-band ones (``est-stfm``, the deep baselines) return a
correction of the naive base F1 + C2 - C1, and a base other than that is added afterwards as a
*shift* (base minus F1 + C2 - C1); band-agnostic ones (``est-stfm-any``,
:mod:`est_stfm.models.agnostic`, ``config.bands is None``) see the base and the valid mask as
inputs and return base plus their correction. :func:`fused` hides the difference.
"""

from __future__ import annotations

from torch import Tensor, nn


def band_agnostic(model: nn.Module) -> bool:
    """True for a network whose weights serve any band count (it takes the base as an input)."""
    inner = getattr(model, "module", model)  # DistributedDataParallel wraps the model
    config = getattr(inner, "config", None)
    return config is not None and getattr(config, "bands", 0) is None


def fused(
    model: nn.Module,
    c1: Tensor,
    f1: Tensor,
    c2: Tensor,
    shift: Tensor | None = None,
    valid: Tensor | None = None,
) -> Tensor:
    """The network's prediction (float32) on top of the base F1 + C2 - C1 + ``shift``;
    ``valid`` (B, 1, H, W) marks trusted pixels (used by band-agnostic networks only)."""
    if band_agnostic(model):
        base = f1 + c2 - c1 if shift is None else f1 + c2 - c1 + shift
        return model(c1, f1, c2, base=base, valid=valid).float()
    out = model(c1, f1, c2).float()
    return out if shift is None else out + shift
