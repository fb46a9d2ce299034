"""Channel self-attention (Restormer-style) with a Top-K sparse variant.

Attention is computed across channels rather than pixels: each head holds ``c = C / heads``
channels, each a vector of ``H*W`` values, so the attention map is ``c x c`` and the cost is
linear in the number of pixels.

Top-K sparse attention keeps, in every row of the ``c x c`` map, only the ``k`` largest scores
(the rest are set to ``-inf`` before the softmax). Several branches with different ``k`` run in
parallel and are mixed by learnable scalar weights. Because every branch output is
``softmax_i(A) @ v``, the module mixes the probability maps first and does a single matmul:
``(sum_i w_i softmax_i(A)) @ v``. All branch masks come from one sort of each row and the ranks
it gives (an argsort of the order), so ties are broken the same way in every branch.

:func:`topk_attention_reference` is the plain, branch-by-branch formulation used by the tests to
check the efficient one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

AttentionMode = Literal["topk", "dense"]
DEFAULT_RATIOS: tuple[float, ...] = (1 / 2, 2 / 3, 3 / 4, 4 / 5)

# The published design initialises each of its four branch weights to 0.2.
_PUBLISHED_WEIGHT = 0.2


def topk_sizes(channels_per_head: int, ratios: Sequence[float]) -> list[int]:
    """Number of kept entries per row for each ratio: ``max(1, floor(c * r))``.

    A tiny epsilon protects against products such as ``0.57 * 100 = 56.99999999999999``.
    """
    return [max(1, int(channels_per_head * r + 1e-9)) for r in ratios]


def initial_mix_weights(n_ratios: int) -> list[float]:
    """Initial branch weights: 0.2 each for the published four branches, else ``1/n``."""
    value = _PUBLISHED_WEIGHT if n_ratios == 4 else 1.0 / n_ratios
    return [value] * n_ratios


def topk_probabilities(scores: Tensor, ks: Sequence[int], weights: Tensor) -> Tensor:
    """Mixed Top-K softmax ``sum_i w_i softmax(mask_i(scores))`` over the last dimension.

    ``ranks[..., j]`` is the position of entry ``j`` in its row sorted in descending order
    (ties broken by index, stably), so ``ranks < k`` selects exactly ``k`` entries per row.
    """
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    ranks = torch.argsort(order, dim=-1)
    probs = torch.zeros_like(scores)
    for i, k in enumerate(ks):
        masked = scores.masked_fill(ranks >= k, float("-inf"))
        probs = probs + weights[i] * torch.softmax(masked, dim=-1)
    return probs


def topk_attention_reference(
    q: Tensor, k: Tensor, v: Tensor, temperature: Tensor, ratios: Sequence[float], weights: Tensor
) -> Tensor:
    """Obviously-correct Top-K channel attention, one branch at a time.

    ``q, k, v``: (B, heads, c, N) with q and k already L2-normalised along N;
    ``temperature``: (heads, 1, 1); ``weights``: one scalar per ratio. Returns (B, heads, c, N).
    """
    scores = (q @ k.transpose(-2, -1)) * temperature
    out = torch.zeros_like(v)
    for i, kk in enumerate(topk_sizes(q.shape[-2], ratios)):
        values, indices = torch.topk(scores, kk, dim=-1)
        masked = torch.full_like(scores, float("-inf")).scatter(-1, indices, values)
        out = out + weights[i] * (torch.softmax(masked, dim=-1) @ v)
    return out


class ChannelAttention(nn.Module):
    """Multi-head channel self-attention, Top-K sparse (``mode="topk"``) or dense."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mode: AttentionMode = "topk",
        ratios: Sequence[float] = DEFAULT_RATIOS,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        if mode not in ("topk", "dense"):
            raise ValueError(f"unknown attention mode {mode!r}")
        self.heads = heads
        self.mode = mode
        self.ratios = tuple(float(r) for r in ratios)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=False)
        self.qkv_dw = nn.Conv2d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim, bias=False)
        self.proj = nn.Conv2d(dim, dim, 1, bias=False)
        if mode == "topk":
            if not self.ratios:
                raise ValueError("topk attention needs at least one ratio")
            self.ks = topk_sizes(dim // heads, self.ratios)
            self.mix = nn.Parameter(torch.tensor(initial_mix_weights(len(self.ratios))))
        else:
            self.ks = []
            self.register_parameter("mix", None)

    def project_qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q, k, v as (B, heads, c, H*W), with q and k L2-normalised along H*W."""
        b, ch, h, w = x.shape
        q, k, v = self.qkv_dw(self.qkv(x)).chunk(3, dim=1)
        q, k, v = (t.reshape(b, self.heads, ch // self.heads, h * w) for t in (q, k, v))
        return F.normalize(q, dim=-1), F.normalize(k, dim=-1), v

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Attention core on (B, heads, c, N) tensors; returns (B, heads, c, N)."""
        scores = (q @ k.transpose(-2, -1)) * self.temperature
        if self.mode == "dense":
            probs = torch.softmax(scores, dim=-1)
        else:
            probs = topk_probabilities(scores, self.ks, self.mix)
        return probs @ v

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        b, ch, h, w = x.shape
        out = self.attend(*self.project_qkv(x))
        return self.proj(out.reshape(b, ch, h, w))
