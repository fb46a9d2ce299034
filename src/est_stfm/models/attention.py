"""Channel self-attention (Restormer-style) with a Top-K sparse variant and an optional valid mask.

Attention is computed across channels rather than pixels: each head holds ``c = C / heads``
channels, each a vector of ``H*W`` values, so the attention map is ``c x c`` and the cost is
linear in the number of pixels.

Top-K sparse attention keeps, in every row of the ``c x c`` map, only the ``k`` largest scores
(the rest are set to ``-inf`` before the softmax). Several branches with different ``k`` run in
parallel and are mixed by learnable scalar weights. Because every branch output is
``softmax_i(A) @ v``, the module mixes the probability maps first and does a single matmul:
``(sum_i w_i softmax_i(A)) @ v``. One ``topk`` of each row serves every branch (branch ``i``
keeps the first ``k_i`` of the sorted entries), so the kept sets are nested and ties are broken
the same way in every branch.

Fast path (the default): the Gram matrix ``q k^T`` is taken from the un-normalised q and k and
divided by the outer product of their L2 norms (no normalised copies of q and k), and the output
projection is folded into the attention map (``out = v @ (W_proj @ P)^T``, one matmul per image),
all in the pixels-by-channels layout that a channels-last tensor already has, so nothing is
copied between layouts. ``reference = True`` runs the plain formulation instead (normalise,
``attend``, 1x1 projection): the code the tests compare the fast path with.

Valid mask: ``forward(x, valid)`` with ``valid`` (B, 1, H, W) in {0, 1} keeps the pixels marked 0
out of the attention's statistics (the Gram matrix and the L2 norms of q and k). The mask is
first eroded by one pixel, because the 3x3 depthwise conv of the q/k projection mixes each pixel
with its neighbours: the statistics then read only pixels whose q and k are computed from valid
inputs alone, so the attention map is exactly invariant to whatever the invalid pixels hold (as
long as an image keeps at least one such pixel: see :func:`statistics_mask`). The output at a
pixel is still ``P @ v`` at that pixel, and v (like every conv) sees neighbours.

:func:`topk_attention_reference` is the plain, branch-by-branch formulation used by the tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

AttentionMode = Literal["topk", "dense"]
TopKRule = Literal["floor", "distinct"]
DEFAULT_RATIOS: tuple[float, ...] = (1 / 2, 2 / 3, 3 / 4, 4 / 5)

# The published design initialises each of its four branch weights to 0.2.
_PUBLISHED_WEIGHT = 0.2
_EPS = 1e-12  # F.normalize's default: norms are clamped to at least this


def topk_sizes(
    channels_per_head: int, ratios: Sequence[float], rule: TopKRule = "distinct"
) -> list[int]:
    """Number of kept entries per row for each ratio.

    ``"floor"``: ``max(1, floor(c * r))`` (the rule of weights saved before ``topk_rule``
    existed; with c = 16 the ratios 1/2, 2/3, 3/4, 4/5 give 8, 10, 12, 12, two equal branches).
    ``"distinct"``: ``ceil(c * r)`` capped at ``c``, then, from the largest ratio down, each
    ``k`` lowered if needed to one below the next larger one (never below 1): distinct ``k`` for
    distinct ratios whenever ``c`` >= the number of ratios (c = 16: 8, 11, 12, 13; c = 8:
    4, 5, 6, 7). A tiny epsilon protects against products such as ``0.57 * 100 = 56.99999...``.
    """
    c = channels_per_head
    if rule == "floor":
        return [max(1, int(c * r + 1e-9)) for r in ratios]
    if rule != "distinct":
        raise ValueError(f"unknown top-k rule {rule!r}")
    ks = [min(c, max(1, math.ceil(c * r - 1e-9))) for r in ratios]
    order = sorted(range(len(ks)), key=lambda i: ratios[i])
    for lower, upper in zip(reversed(order[:-1]), reversed(order[1:]), strict=True):
        if ratios[lower] < ratios[upper]:
            ks[lower] = max(1, min(ks[lower], ks[upper] - 1))
    return ks


def initial_mix_weights(n_ratios: int) -> list[float]:
    """Initial branch weights: 0.2 each for the published four branches, else ``1/n``."""
    value = _PUBLISHED_WEIGHT if n_ratios == 4 else 1.0 / n_ratios
    return [value] * n_ratios


def topk_probabilities(scores: Tensor, ks: Sequence[int], weights: Tensor) -> Tensor:
    """Mixed Top-K softmax ``sum_i w_i softmax(mask_i(scores))`` over the last dimension.

    One ``topk`` of ``max(ks)`` entries per row, sorted: branch ``i`` is the softmax of the
    first ``k_i`` of them, i.e. ``e_j / S_{k_i}`` with ``e_j = exp(s_j - s_max)`` and ``S_k``
    the sum of the first ``k`` ``e``. Entry ``j`` thus gets ``e_j * sum_{i: j < k_i} w_i /
    S_{k_i}``, scattered back to its column.
    """
    kmax = max(ks)
    values, indices = torch.topk(scores, kmax, dim=-1)
    e = torch.exp(values - values[..., :1])
    sums = e.cumsum(-1)
    position = torch.arange(kmax, device=scores.device)
    coef = sum((position < k) * (weights[i] / sums[..., k - 1 : k]) for i, k in enumerate(ks))
    return torch.zeros_like(scores).scatter(-1, indices, e * coef)


def topk_attention_reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    temperature: Tensor,
    ratios: Sequence[float],
    weights: Tensor,
    rule: TopKRule = "distinct",
) -> Tensor:
    """Obviously-correct Top-K channel attention, one branch at a time.

    ``q, k, v``: (B, heads, c, N) with q and k already L2-normalised along N;
    ``temperature``: (heads, 1, 1); ``weights``: one scalar per ratio. Returns (B, heads, c, N).
    """
    scores = (q @ k.transpose(-2, -1)) * temperature
    out = torch.zeros_like(v)
    for i, kk in enumerate(topk_sizes(q.shape[-2], ratios, rule)):
        values, indices = torch.topk(scores, kk, dim=-1)
        masked = torch.full_like(scores, float("-inf")).scatter(-1, indices, values)
        out = out + weights[i] * (torch.softmax(masked, dim=-1) @ v)
    return out


def statistics_mask(valid: Tensor) -> Tensor:
    """The pixels (B, 1, H, W) whose 3x3 neighbourhood (within the image) is all valid; in an
    image where none is, its valid pixels, and where none is valid, all of them (a map of a small
    image's coarsest level, or of an image without data, still reads something)."""
    valid = valid.to(torch.float32)
    keep = -F.max_pool2d(-valid, 3, stride=1, padding=1)
    keep = torch.where(keep.sum((2, 3), keepdim=True) > 0, keep, valid)
    return torch.where(keep.sum((2, 3), keepdim=True) > 0, keep, torch.ones_like(keep))


class ChannelAttention(nn.Module):
    """Multi-head channel self-attention, Top-K sparse (``mode="topk"``) or dense."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mode: AttentionMode = "topk",
        ratios: Sequence[float] = DEFAULT_RATIOS,
        *,
        k_rule: TopKRule = "distinct",
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        if mode not in ("topk", "dense"):
            raise ValueError(f"unknown attention mode {mode!r}")
        self.heads = heads
        self.mode = mode
        self.ratios = tuple(float(r) for r in ratios)
        self.reference = False
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=False)
        self.qkv_dw = nn.Conv2d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim, bias=False)
        self.proj = nn.Conv2d(dim, dim, 1, bias=False)
        if mode == "topk":
            if not self.ratios:
                raise ValueError("topk attention needs at least one ratio")
            self.ks = topk_sizes(dim // heads, self.ratios, k_rule)
            self.mix = nn.Parameter(torch.tensor(initial_mix_weights(len(self.ratios))))
        else:
            self.ks = []
            self.register_parameter("mix", None)

    def project_qkv(self, x: Tensor, valid: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """q, k, v as (B, heads, c, H*W), with q and k L2-normalised along H*W (over the pixels
        of :func:`statistics_mask` only, and zero elsewhere, when ``valid`` is given)."""
        b, ch, h, w = x.shape
        q, k, v = self.qkv_dw(self.qkv(x)).chunk(3, dim=1)
        if valid is not None:
            keep = statistics_mask(valid)
            q, k = q * keep, k * keep
        q, k, v = (t.reshape(b, self.heads, ch // self.heads, h * w) for t in (q, k, v))
        return F.normalize(q, dim=-1), F.normalize(k, dim=-1), v

    def probabilities(self, scores: Tensor) -> Tensor:
        """The attention map from the (B, heads, c, c) scores: softmax, or the Top-K mixture."""
        if self.mode == "dense":
            return torch.softmax(scores, dim=-1)
        return topk_probabilities(scores, self.ks, self.mix)

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Attention core on (B, heads, c, N) tensors; returns (B, heads, c, N)."""
        return self.probabilities((q @ k.transpose(-2, -1)) * self.temperature) @ v

    def forward(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W); ``valid`` (B, 1, H, W): see the module docstring."""
        if self.reference:
            b, ch, h, w = x.shape
            out = self.attend(*self.project_qkv(x, valid))
            return self.proj(out.reshape(b, ch, h, w))
        return self._fast(x, valid)

    def _fast(self, x: Tensor, valid: Tensor | None) -> Tensor:
        b, ch, h, w = x.shape
        heads, c = self.heads, ch // self.heads
        # (B, N, 3C): a view of a channels-last tensor, a copy of any other
        pixels = self.qkv_dw(self.qkv(x)).permute(0, 2, 3, 1).reshape(b, h * w, 3 * ch)
        q, k, v = pixels.split(ch, dim=-1)
        if valid is not None:
            keep = statistics_mask(valid).reshape(b, h * w, 1)
            q, k = q * keep, k * keep
        gram = q.transpose(1, 2) @ k  # (B, C, C); the heads' blocks lie on its diagonal
        if heads > 1:
            gram = gram.view(b, heads, c, heads, c).diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2)
        else:
            gram = gram.view(b, 1, c, c)
        norm_q = torch.linalg.vector_norm(q, dim=1).clamp_min(_EPS).view(b, heads, c, 1)
        norm_k = torch.linalg.vector_norm(k, dim=1).clamp_min(_EPS).view(b, heads, 1, c)
        probs = self.probabilities(gram / (norm_q * norm_k) * self.temperature)
        # out[o, n] = sum_h sum_j (W_proj[o, h-block] @ P_h)[j] v[h-block j, n]
        weight = self.proj.weight.view(ch, heads, c)
        folded = torch.einsum("ohi,bhij->bohj", weight, probs).reshape(b, ch, ch)
        out = v @ folded.transpose(1, 2)  # (B, N, C), i.e. channels-last (B, C, H, W)
        return out.view(b, h, w, ch).permute(0, 3, 1, 2)
