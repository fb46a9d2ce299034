"""Feed-forward parts of a transformer block: the multibranch MFNN and a plain FFN.

MFNN layout (``hidden = int(C * expansion)``)::

    x -> 1x1 conv (C -> 2h) --+-- dw 3x3 + ReLU -> [a3 | b3]   (h channels each)
                              +-- dw 5x5 + ReLU -> [a5 | b5]
    interleave(a3, a5) -> grouped 3x3 conv (2h -> h, groups=h) + ReLU --+
    interleave(b3, b5) -> grouped 5x5 conv (2h -> h, groups=h) + ReLU --+-- concat -> 1x1 conv -> C

With ``groups = h`` every group reads two input channels and writes one. The halves are
interleaved channel by channel (``a3[0], a5[0], a3[1], a5[1], ...``), so each group fuses the
same hidden channel seen through the 3x3 and the 5x5 receptive fields.

Fast path (the default), the same sums half by half: the first ``h`` hidden channels ("a") only
ever reach ``fuse3`` and the last ``h`` ("b") only ``fuse5``, so each half runs end to end on its
own: its rows of ``project_in``, its 3x3 and 5x5 depthwise kernels, then the fusing conv as two
depthwise convs (group ``g`` of ``fuse3`` adds a conv of ``a3[g]`` with kernel ``(g, 0)`` and one
of ``a5[g]`` with kernel ``(g, 1)``), and ``project_out`` as two 1x1 convs, summed. No chunk,
interleave or concat (each a copy in channels-last memory), and depthwise convs where the
two-input groups ran several times slower on CPUs. ``reference = True`` runs the plain layout
above, which the tests compare the fast path with.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FeedForwardKind = Literal["mfnn", "plain"]


def hidden_channels(dim: int, expansion: float) -> int:
    """Width of the hidden layer, at least one channel."""
    return max(1, int(dim * expansion))


def _interleave(a: Tensor, b: Tensor) -> Tensor:
    """(B, h, H, W) x 2 -> (B, 2h, H, W) with channels a0, b0, a1, b1, ..."""
    return torch.stack((a, b), dim=2).flatten(1, 2)


def _conv(x: Tensor, weight: Tensor, groups: int) -> Tensor:
    """Stride-1 conv with "same" padding (odd kernels)."""
    return F.conv2d(x, weight, padding=weight.shape[-1] // 2, groups=groups)


class MFNN(nn.Module):
    """Multibranch feed-forward network with 3x3 and 5x5 depthwise paths."""

    def __init__(self, dim: int, expansion: float = 2.66) -> None:
        super().__init__()
        hidden = hidden_channels(dim, expansion)
        self.project_in = nn.Conv2d(dim, 2 * hidden, 1, bias=False)
        self.dw3 = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=False)
        self.dw5 = nn.Conv2d(2 * hidden, 2 * hidden, 5, padding=2, groups=2 * hidden, bias=False)
        self.fuse3 = nn.Conv2d(2 * hidden, hidden, 3, padding=1, groups=hidden, bias=False)
        self.fuse5 = nn.Conv2d(2 * hidden, hidden, 5, padding=2, groups=hidden, bias=False)
        self.project_out = nn.Conv2d(2 * hidden, dim, 1, bias=False)
        self.act = nn.ReLU()
        self.reference = False

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        if self.reference:
            return self.forward_reference(x)
        h = self.fuse3.out_channels
        outs = []
        # half 0 ("a") feeds fuse3 (3x3), half 1 ("b") fuse5 (5x5); each half end to end
        for half, fuse in enumerate((self.fuse3, self.fuse5)):
            part = slice(half * h, (half + 1) * h)
            x_half = _conv(x, self.project_in.weight[part], 1)
            three = F.relu(_conv(x_half, self.dw3.weight[part], h), inplace=True)
            five = F.relu(_conv(x_half, self.dw5.weight[part], h), inplace=True)
            # a group of the fusing conv sums a conv of three[g] and one of five[g]
            fused = _conv(three, fuse.weight[:, :1], h).add_(_conv(five, fuse.weight[:, 1:], h))
            outs.append(F.relu(fused, inplace=True))
        out_w = self.project_out.weight
        return _conv(outs[0], out_w[:, :h], 1).add_(_conv(outs[1], out_w[:, h:], 1))

    def forward_reference(self, x: Tensor) -> Tensor:
        """The plain formulation: chunk, interleave, two grouped convs, concat."""
        x = self.project_in(x)
        a3, b3 = self.act(self.dw3(x)).chunk(2, dim=1)
        a5, b5 = self.act(self.dw5(x)).chunk(2, dim=1)
        first = self.act(self.fuse3(_interleave(a3, a5)))
        second = self.act(self.fuse5(_interleave(b3, b5)))
        return self.project_out(torch.cat((first, second), dim=1))


class PlainFFN(nn.Module):
    """Pointwise feed-forward: 1x1 conv, GELU, 1x1 conv."""

    def __init__(self, dim: int, expansion: float = 2.66) -> None:
        super().__init__()
        hidden = hidden_channels(dim, expansion)
        self.net = nn.Sequential(
            nn.Conv2d(dim, hidden, 1, bias=False),
            nn.GELU(),
            nn.Conv2d(hidden, dim, 1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return self.net(x)


def make_feedforward(kind: FeedForwardKind, dim: int, expansion: float) -> nn.Module:
    """Build the feed-forward network named by ``kind``."""
    if kind == "mfnn":
        return MFNN(dim, expansion)
    if kind == "plain":
        return PlainFFN(dim, expansion)
    raise ValueError(f"unknown feed-forward kind {kind!r}")
