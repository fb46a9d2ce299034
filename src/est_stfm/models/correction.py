"""What every fusion network here shares: checked inputs, padding, a zero-initialised head and
the base prediction its output corrects.

``residual`` (every model config has it): ``"change"`` adds the head's output to
F1 + (C2 - C1), ``"reference"`` to F1, ``"none"`` to nothing. With the head initialised to zero,
an untrained ``"change"`` model is exactly the naive-change baseline.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

Residual = Literal["change", "reference", "none"]


def check_inputs(coarse_ref: Tensor, fine_ref: Tensor, coarse_target: Tensor) -> None:
    """Raise ``ValueError`` unless the three inputs share one shape."""
    if not (coarse_ref.shape == fine_ref.shape == coarse_target.shape):
        raise ValueError(
            "inputs must share one shape, got "
            f"{tuple(coarse_ref.shape)}, {tuple(fine_ref.shape)}, {tuple(coarse_target.shape)}"
        )


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Pad bottom/right to a multiple of ``multiple``: reflect if possible, else replicate."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def zero_head(channels: int, bands: int) -> nn.Conv2d:
    """The 3x3 output conv, weights and bias zero: the model starts at its base."""
    head = nn.Conv2d(channels, bands, 3, padding=1)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def add_base(
    residual: Residual, pred: Tensor, coarse_ref: Tensor, fine_ref: Tensor, coarse_target: Tensor
) -> Tensor:
    """The head's output ``pred`` on top of the base that ``residual`` names."""
    if residual == "change":
        return fine_ref + (coarse_target - coarse_ref) + pred
    if residual == "reference":
        return fine_ref + pred
    return pred
