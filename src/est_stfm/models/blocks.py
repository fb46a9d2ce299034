"""Building blocks: channel LayerNorm, the TSN transformer block, down- and upsampling, the
valid mask's pyramid, and the switch to the plain reference forward paths.

Valid masks: a TSN block passes its ``valid`` mask (B, 1, H, W) to the channel attention, which
keeps invalid pixels out of its statistics. The LayerNorm needs nothing: its statistics are
those of one pixel's channels, so a pixel's normalisation never reads another pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from est_stfm.models.attention import (
    DEFAULT_RATIOS,
    AttentionMode,
    ChannelAttention,
    TopKRule,
)
from est_stfm.models.feedforward import FeedForwardKind, make_feedforward


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of every pixel of a (B, C, H, W) tensor, with affine."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        """Normalise along C."""
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class TSNBlock(nn.Module):
    """Transformer block: ``x + Attn(LN(x))`` then ``x + FFN(LN(x))``."""

    def __init__(
        self,
        dim: int,
        heads: int,
        attention: AttentionMode = "topk",
        ratios: Sequence[float] = DEFAULT_RATIOS,
        feedforward: FeedForwardKind = "mfnn",
        expansion: float = 2.66,
        *,
        k_rule: TopKRule = "distinct",
    ) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(dim)
        self.attn = ChannelAttention(dim, heads, mode=attention, ratios=ratios, k_rule=k_rule)
        self.norm2 = LayerNorm2d(dim)
        self.ffn = make_feedforward(feedforward, dim, expansion)

    def forward(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W); ``valid`` (B, 1, H, W) or None: every pixel valid."""
        x = x + self.attn(self.norm1(x), valid)
        return x + self.ffn(self.norm2(x))


class Downsample(nn.Module):
    """Halve the resolution, double the channels: 3x3 conv C -> C/2, pixel-unshuffle(2)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"Downsample needs an even channel count, got {dim}")
        self.conv = nn.Conv2d(dim, dim // 2, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, 2C, H/2, W/2)."""
        return F.pixel_unshuffle(self.conv(x), 2)


class Upsample(nn.Module):
    """Double the resolution, halve the channels: 3x3 conv C -> 2C, pixel-shuffle(2)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"Upsample needs an even channel count, got {dim}")
        self.conv = nn.Conv2d(dim, 2 * dim, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C/2, 2H, 2W)."""
        return F.pixel_shuffle(self.conv(x), 2)


def downsample_mask(valid: Tensor) -> Tensor:
    """The valid mask one level down: a pixel is valid where all four it covers are."""
    return -F.max_pool2d(-valid, 2)


def use_reference(module: nn.Module, on: bool = True) -> nn.Module:
    """Switch every part of ``module`` that has a fast and a plain forward path to the plain
    reference (``on=True``) or back to the fast one; returns ``module``. The weights are the same
    either way, and so are the outputs up to float rounding."""
    for part in module.modules():
        if hasattr(part, "reference"):
            part.reference = on
    return module
