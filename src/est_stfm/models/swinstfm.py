"""SwinSTFM-style window-attention baseline: ``model(coarse_ref, fine_ref, coarse_target)``.

After Chen, Chen, Yang, "SwinSTFM: Remote Sensing Spatiotemporal Fusion Using Swin
Transformer" (IEEE TGRS 60, 2022), which builds on the Swin Transformer (Liu et al., ICCV 2021)
and Swin-Unet (Cao et al., 2021). Layout:

* Patch embedding: a ``patch`` x ``patch`` conv with stride ``patch`` and LayerNorm; one for the
  fine reference, one (shared weights) for both coarse images.
* Two hierarchical encoders (fine; coarse, run on C1 and C2 as one batch). Each level is a stack
  of Swin blocks: LayerNorm, window multi-head self-attention with a learned relative position
  bias, LayerNorm, MLP; odd blocks shift the windows by half a window (with the attention mask
  that keeps wrapped-around regions apart). Patch merging (2x2 neighbours -> LayerNorm ->
  linear 4C -> 2C) between levels.
* Fusion at every level: concat(F_l, E(C2)_l - E(C1)_l, E(C2)_l) -> linear to C -> Swin blocks.
* Decoder, Swin-Unet style: patch expanding (linear C -> 2C, rearrange to 2x resolution with
  C/2 channels, LayerNorm), concat with the fused skip of that level, linear, Swin blocks; a
  final patch expanding by ``patch`` back to full resolution.
* A zero-initialised 3x3 conv head added to a base (``residual``), as in
  :class:`~est_stfm.models.eststfm.ESTSTFM`: ``"change"`` F1 + (C2 - C1) (default; an untrained
  model is that naive prediction), ``"reference"`` F1, ``"none"`` nothing.

Deviations from the paper, on purpose: the fusion is concatenation + window attention rather than
the paper's module built on linear spectral mixing; a full-resolution 3x3 conv of
``cat(F1, C2 - C1)`` is added before the head so detail finer than a patch is not lost; one
reference pair; the project's loss instead of the paper's. The ``swinstfm-small`` preset uses
``patch=1`` (tokens are pixels, three levels at 1, 1/2 and 1/4 resolution) instead of Swin's 4x4
patches, so that its size and training-step time match ``est-stfm-small``.

Any H x W works: inputs are padded (reflect, or replicate when too small) to a multiple of
``patch * 2**(levels-1)`` and the output is cropped back. Inside each block the feature map is
padded to a multiple of the window (the padding is masked out of the attention keys), and a
window larger than the map shrinks to the map, which then is not shifted along that axis.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, model_validator
from torch import Tensor, nn

from est_stfm.models._registry import register_arch, register_preset
from est_stfm.models.correction import (
    Residual,
    add_base,
    check_inputs,
    pad_to_multiple,
    zero_head,
)
from est_stfm.models.levels import check_levels


class SwinSTFMConfig(BaseModel):
    """Hyper-parameters of the SwinSTFM baseline; serialisable to JSON and back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["swinstfm"] = "swinstfm"
    bands: int = 6
    patch: int = 2
    window: int = 8
    dims: tuple[int, ...] = (48, 96, 192)
    depths: tuple[int, ...] = (2, 2, 2)
    heads: tuple[int, ...] = (3, 6, 12)
    fusion_depth: int = 2
    decoder_depth: int = 2
    mlp_ratio: float = 4.0
    residual: Residual = "change"

    @model_validator(mode="after")
    def _check(self) -> SwinSTFMConfig:
        if self.bands < 1:
            raise ValueError(f"bands must be >= 1, got {self.bands}")
        if self.patch < 1 or self.window < 1:
            raise ValueError(f"patch and window must be >= 1, got {self.patch} and {self.window}")
        check_levels(
            self.dims,
            self.heads,
            {
                "depths": self.depths,
                "fusion_depth": self.fusion_depth,
                "decoder_depth": self.decoder_depth,
            },
            resize="patch merging",
        )
        if self.mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be > 0, got {self.mlp_ratio}")
        return self


def window_partition(x: Tensor, wh: int, ww: int) -> Tensor:
    """(B, H, W, C) with H % wh == W % ww == 0 -> (B, nW, wh*ww, C), windows row-major."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // wh, wh, w // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // wh) * (w // ww), wh * ww, c)


def window_reverse(windows: Tensor, wh: int, ww: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: (B, nW, wh*ww, C) -> (B, H, W, C)."""
    b, _, _, c = windows.shape
    x = windows.reshape(b, h // wh, w // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


def attention_mask(
    h: int, w: int, hp: int, wp: int, wh: int, ww: int, sh: int, sw: int
) -> Tensor | None:
    """Additive mask (nW, N, N) for a map of (h, w) padded to (hp, wp), shifted by (sh, sw).

    A key is hidden from a query when the two come from different sides of the cyclic shift's
    wrap-around, or when the key is padding (padding queries may see padding, so no row is
    empty). None when nothing is masked.
    """
    if not (sh or sw or hp > h or wp > w):
        return None
    rows, cols = torch.arange(hp), torch.arange(wp)
    # region label in the unrolled map: rows/cols that the roll wraps around get their own label
    label = (rows < sh).long()[:, None] * 2 + (cols < sw).long()[None, :]
    pad = (rows >= h)[:, None] | (cols >= w)[None, :]
    label = torch.roll(label, (-sh, -sw), dims=(0, 1))
    pad = torch.roll(pad, (-sh, -sw), dims=(0, 1))
    label = window_partition(label[None, :, :, None], wh, ww)[0, :, :, 0]  # (nW, N)
    pad = window_partition(pad[None, :, :, None], wh, ww)[0, :, :, 0]
    allowed = (label[:, :, None] == label[:, None, :]) & (~pad[:, None, :] | pad[:, :, None])
    mask = torch.zeros(allowed.shape)
    return mask.masked_fill_(~allowed, float("-inf"))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with a learned relative position bias."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        self._index: dict[tuple[int, int, str], Tensor] = {}  # a cache, not state

    def relative_index(self, wh: int, ww: int, device: torch.device | str = "cpu") -> Tensor:
        """(N, N) index into the bias table for a wh x ww window (wh, ww <= window)."""
        key = (wh, ww, str(device))
        if key not in self._index:
            coords = torch.stack(
                torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
            ).flatten(1)
            rel = coords[:, :, None] - coords[:, None, :] + (self.window - 1)
            self._index[key] = (rel[0] * (2 * self.window - 1) + rel[1]).to(device)
        return self._index[key]

    def forward(self, x: Tensor, wh: int, ww: int, mask: Tensor | None) -> Tensor:
        """(B, nW, N, C) windows -> same shape; ``mask`` is (nW, N, N) additive or None."""
        b, nw, n, c = x.shape
        qkv = self.qkv(x).view(b, nw, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)  # each (B, nW, heads, N, d)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.bias_table[self.relative_index(wh, ww, x.device)]  # (N, N, heads)
        attn = attn + bias.permute(2, 0, 1)
        if mask is not None:
            attn = attn + mask[:, None]
        out = attn.softmax(dim=-1) @ v  # (B, nW, heads, N, d)
        return self.proj(out.transpose(2, 3).reshape(b, nw, n, c))


class SwinBlock(nn.Module):
    """Swin Transformer block on (B, H, W, C): (shifted) window attention, then an MLP."""

    def __init__(self, dim: int, heads: int, window: int, shift: bool, mlp_ratio: float) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        hidden = max(1, round(dim * mlp_ratio))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self._masks: dict[tuple[Any, ...], Tensor | None] = {}  # a cache, not state

    def geometry(self, h: int, w: int) -> tuple[int, int, int, int]:
        """Window (wh, ww) and shift (sh, sw) used on an h x w map."""
        wh, ww = min(self.window, h), min(self.window, w)
        sh = wh // 2 if self.shift and h > wh else 0
        sw = ww // 2 if self.shift and w > ww else 0
        return wh, ww, sh, sw

    def _mask(self, geometry: tuple[int, ...], like: Tensor) -> Tensor | None:
        key = (*geometry, str(like.device), like.dtype)
        if key not in self._masks:
            mask = attention_mask(*geometry)
            self._masks[key] = None if mask is None else mask.to(like.device, like.dtype)
        return self._masks[key]

    def forward(self, x: Tensor) -> Tensor:
        """(B, H, W, C) -> (B, H, W, C)."""
        _, h, w, _ = x.shape
        wh, ww, sh, sw = self.geometry(h, w)
        y = self.norm1(x)
        ph, pw = (-h) % wh, (-w) % ww
        if ph or pw:
            y = F.pad(y, (0, 0, 0, pw, 0, ph))
        hp, wp = h + ph, w + pw
        if sh or sw:
            y = torch.roll(y, (-sh, -sw), dims=(1, 2))
        mask = self._mask((h, w, hp, wp, wh, ww, sh, sw), y)
        y = self.attn(window_partition(y, wh, ww), wh, ww, mask)
        y = window_reverse(y, wh, ww, hp, wp)
        if sh or sw:
            y = torch.roll(y, (sh, sw), dims=(1, 2))
        x = x + y[:, :h, :w]
        return x + self.mlp(self.norm2(x))


def _stage(dim: int, heads: int, window: int, depth: int, mlp_ratio: float) -> nn.Sequential:
    """``depth`` Swin blocks, alternating regular and shifted windows."""
    return nn.Sequential(
        *(SwinBlock(dim, heads, window, i % 2 == 1, mlp_ratio) for i in range(depth))
    )


class PatchEmbed(nn.Module):
    """(B, bands, H, W) -> (B, H/p, W/p, C): strided p x p conv, then LayerNorm."""

    def __init__(self, bands: int, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(bands, dim, patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        """Embed non-overlapping patches."""
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class PatchMerging(nn.Module):
    """(B, H, W, C) -> (B, H/2, W/2, 2C): concat 2x2 neighbours, LayerNorm, linear 4C -> 2C."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduce = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Halve the resolution (H and W must be even)."""
        parts = (x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2])
        return self.reduce(self.norm(torch.cat(parts, dim=-1)))


class PatchExpand(nn.Module):
    """(B, H, W, C) -> (B, fH, fW, C_out): linear C -> f*f*C_out, rearrange, LayerNorm."""

    def __init__(self, dim: int, out_dim: int, factor: int) -> None:
        super().__init__()
        self.factor, self.out_dim = factor, out_dim
        self.expand = nn.Linear(dim, factor * factor * out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        """Raise the resolution by ``factor``."""
        b, h, w, _ = x.shape
        f, c = self.factor, self.out_dim
        x = self.expand(x).view(b, h, w, f, f, c).permute(0, 1, 3, 2, 4, 5)
        return self.norm(x.reshape(b, h * f, w * f, c))


class Encoder(nn.Module):
    """Patch embedding, then per level a Swin stage, with patch merging between levels."""

    def __init__(self, config: SwinSTFMConfig) -> None:
        super().__init__()
        c = config
        self.embed = PatchEmbed(c.bands, c.dims[0], c.patch)
        self.stages = nn.ModuleList(
            _stage(d, h, c.window, n, c.mlp_ratio)
            for d, h, n in zip(c.dims, c.heads, c.depths, strict=True)
        )
        self.merges = nn.ModuleList(PatchMerging(d) for d in c.dims[:-1])

    def forward(self, x: Tensor) -> list[Tensor]:
        """(B, bands, H, W) -> [(B, H/(p 2**l), W/(p 2**l), dims[l]) for each level l]."""
        feats = []
        x = self.embed(x)
        for lvl, stage in enumerate(self.stages):
            if lvl > 0:
                x = self.merges[lvl - 1](x)
            x = stage(x)
            feats.append(x)
        return feats


@register_arch("swinstfm", SwinSTFMConfig)
class SwinSTFM(nn.Module):
    """SwinSTFM-style fusion model built from a :class:`SwinSTFMConfig`."""

    def __init__(self, config: SwinSTFMConfig) -> None:
        super().__init__()
        self.config = config
        self.preset: str = "custom"
        c = config
        levels = len(c.dims)
        self.multiple = c.patch * 2 ** (levels - 1)
        self.fine_encoder = Encoder(c)
        self.coarse_encoder = Encoder(c)
        self.fuse_proj = nn.ModuleList(nn.Linear(3 * d, d) for d in c.dims)
        self.fuse_blocks = nn.ModuleList(
            _stage(d, h, c.window, c.fusion_depth, c.mlp_ratio)
            for d, h in zip(c.dims, c.heads, strict=True)
        )
        # expands[l] / skip_proj[l] / dec_blocks[l] bring the level l+1 output to level l.
        self.expands = nn.ModuleList(PatchExpand(2 * d, d, 2) for d in c.dims[:-1])
        self.skip_proj = nn.ModuleList(nn.Linear(2 * d, d) for d in c.dims[:-1])
        self.dec_blocks = nn.ModuleList(
            _stage(d, h, c.window, c.decoder_depth, c.mlp_ratio)
            for d, h in zip(c.dims[:-1], c.heads[:-1], strict=True)
        )
        d0 = c.dims[0]
        self.final_expand = PatchExpand(d0, d0, c.patch)
        self.shallow = nn.Conv2d(2 * c.bands, d0, 3, padding=1)
        self.act = nn.GELU()
        self.head = zero_head(d0, c.bands)

    def forward(self, coarse_ref: Tensor, fine_ref: Tensor, coarse_target: Tensor) -> Tensor:
        """Predict the fine image at the target date, (B, bands, H, W); any H and W."""
        check_inputs(coarse_ref, fine_ref, coarse_target)
        batch, _, h, w = fine_ref.shape
        c1, f1, c2 = (
            pad_to_multiple(t, self.multiple) for t in (coarse_ref, fine_ref, coarse_target)
        )
        fine = self.fine_encoder(f1)
        coarse = self.coarse_encoder(torch.cat((c1, c2), dim=0))
        fused = []
        for lvl, (proj, blocks) in enumerate(zip(self.fuse_proj, self.fuse_blocks, strict=True)):
            e1, e2 = coarse[lvl][:batch], coarse[lvl][batch:]
            fused.append(blocks(proj(torch.cat((fine[lvl], e2 - e1, e2), dim=-1))))
        y = fused[-1]
        for lvl in reversed(range(len(fused) - 1)):
            y = self.expands[lvl](y)
            y = self.dec_blocks[lvl](self.skip_proj[lvl](torch.cat((y, fused[lvl]), dim=-1)))
        y = self.final_expand(y).permute(0, 3, 1, 2)
        y = y + self.shallow(torch.cat((f1, c2 - c1), dim=1))
        pred = self.head(self.act(y))[..., :h, :w]
        return add_base(self.config.residual, pred, coarse_ref, fine_ref, coarse_target)


# ---------------------------------------------------------------- presets


@register_preset(
    "swinstfm",
    "baseline after SwinSTFM (Chen et al. 2022): shifted-window Transformer U-Net, "
    "sized like est-stfm-small",
)
def swinstfm_small() -> dict[str, Any]:
    """Pixel tokens (``patch=1``) and three levels, to match ``est-stfm-small``'s size and step."""
    return {
        "patch": 1,
        "window": 8,
        "dims": (40, 80, 160),
        "depths": (2, 2, 2),
        "heads": (2, 4, 8),
        "fusion_depth": 2,
        "decoder_depth": 2,
    }
