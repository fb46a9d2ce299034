"""EST-STFM: the full fusion network ``model(coarse_ref, fine_ref, coarse_target) -> fine_target``.

All images are (B, bands, H, W) reflectance tensors; coarse images are already resampled onto
the fine grid. Any H and W work: inputs are padded (reflect, or replicate when an image is too
small to reflect) to a multiple of ``2**(levels-1)`` and the output is cropped back.

Layout:

* Two hierarchical encoders (3x3 embedding conv, then per level a stack of TSN blocks, with a
  Downsample between levels). One, with shared weights, encodes both coarse images (run as one
  batch); the other encodes the fine reference.
* A U-Net-style fusion network, coarsest level first. Level ``l`` sees four streams: fine
  reference F_l, coarse change D_l = E(C2)_l - E(C1)_l, coarse target E(C2)_l and the upsampled
  output of the deeper level (E(C1)_l at the coarsest level). ``fusion="mffb"`` runs each stream
  through its own TSN block, concatenates, projects with a 1x1 conv and refines with
  ``fusion_blocks`` TSN blocks; ``fusion="concat"`` (ablation) only concatenates and applies a
  1x1 conv and a 3x3 conv with GELU.
* A 3x3 head conv to ``bands`` channels, weights and bias initialised to zero, added to a base:
  ``residual="change"``: F1 + (C2 - C1); ``"reference"``: F1; ``"none"``: nothing.

Valid mask: ``forward(..., valid=mask)`` with ``mask`` (B, 1, H, W), 1 where a pixel holds data
(0: nodata, cloud, a zero-padded patch border), keeps the invalid pixels out of every channel
attention's statistics; the mask follows the pyramid (a coarser pixel is valid where all four
pixels it covers are) and the pixels the model pads to a multiple of ``2**(levels-1)`` are always
invalid. Convolutions still see neighbours: see :mod:`est_stfm.models.attention` for what exactly
is invariant.

Top-K branch sizes (``topk_rule``): with the default ratios 1/2, 2/3, 3/4, 4/5 and 16 channels
per head, the ``"floor"`` rule gives k = 8, 10, 12, 12 (two identical branches) and 4, 5, 6, 6
at 8 channels per head. Every preset uses ``"distinct"`` (8, 11, 12, 13 and 4, 5, 6, 7: four
different branches at every level of tiny, small and base). ``"floor"`` is the default of the
config only so that models saved before the field existed (their ``model.json`` lacks it, e.g.
the shipped ``est-stfm-small-stf6`` weights) load with the branches they were trained with.

Note on the residual default: the specification's default is ``"reference"``. We default to
``"change"`` because, with the zero-initialised head, training then starts exactly at the naive
"fine reference + coarse change" prediction and can only improve on it.

The file reads config (:class:`ModelConfig`) -> blocks -> model -> presets; the model registers
as architecture ``est-stfm`` and each preset (tiny, small, base and four ablations of small) is
a decorated function at the bottom.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, model_validator
from torch import Tensor, nn

from est_stfm.models._registry import register_arch, register_preset
from est_stfm.models.attention import TopKRule
from est_stfm.models.blocks import Downsample, TSNBlock, Upsample, downsample_mask
from est_stfm.models.correction import (
    Residual,
    add_base,
    check_inputs,
    pad_to_multiple,
    zero_head,
)
from est_stfm.models.levels import check_levels, check_tsn


class ModelConfig(BaseModel):
    """Hyper-parameters of an EST-STFM model; serialisable to JSON and back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["est-stfm"] = "est-stfm"
    bands: int = 6
    dims: tuple[int, ...] = (48, 96, 192, 384)
    heads: tuple[int, ...] = (1, 2, 4, 8)
    enc_blocks: tuple[int, ...] = (2, 2, 2, 2)
    fusion_blocks: int = 1
    ffn_expansion: float = 2.66
    attention: Literal["topk", "dense"] = "topk"
    topk_ratios: tuple[float, ...] = (1 / 2, 2 / 3, 3 / 4, 4 / 5)
    topk_rule: TopKRule = "floor"
    feedforward: Literal["mfnn", "plain"] = "mfnn"
    fusion: Literal["mffb", "concat"] = "mffb"
    residual: Residual = "change"

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.bands < 1:
            raise ValueError(f"bands must be >= 1, got {self.bands}")
        check_levels(
            self.dims,
            self.heads,
            {"enc_blocks": self.enc_blocks, "fusion_blocks": self.fusion_blocks},
            resize="downsampling",
            even=True,
        )
        check_tsn(self.topk_ratios, self.ffn_expansion)
        return self


def _tsn(config: ModelConfig, level: int) -> TSNBlock:
    """A TSN block for ``level`` with the attention/feed-forward choices of ``config``."""
    return TSNBlock(
        config.dims[level],
        config.heads[level],
        attention=config.attention,
        ratios=config.topk_ratios,
        feedforward=config.feedforward,
        expansion=config.ffn_expansion,
        k_rule=config.topk_rule,
    )


Masks = list[Tensor | None]
"""One valid mask (B, 1, h, w) per level, finest first, or None where every pixel is valid."""


def _run(blocks: nn.ModuleList, x: Tensor, valid: Tensor | None) -> Tensor:
    for block in blocks:
        x = block(x, valid)
    return x


class Encoder(nn.Module):
    """Hierarchical feature extractor returning one feature map per level, finest first."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        levels = len(config.dims)
        self.embed = nn.Conv2d(config.bands, config.dims[0], 3, padding=1)
        self.stages = nn.ModuleList(
            nn.ModuleList(_tsn(config, lvl) for _ in range(config.enc_blocks[lvl]))
            for lvl in range(levels)
        )
        self.downs = nn.ModuleList(Downsample(config.dims[lvl]) for lvl in range(levels - 1))

    def forward(self, x: Tensor, masks: Masks) -> list[Tensor]:
        """(B, bands, H, W) -> [(B, dims[l], H/2**l, W/2**l) for each level l]."""
        feats = []
        x = self.embed(x)
        for lvl, stage in enumerate(self.stages):
            if lvl > 0:
                x = self.downs[lvl - 1](x)
            x = _run(stage, x, masks[lvl])
            feats.append(x)
        return feats


class MFFB(nn.Module):
    """Multi-feature fusion block: one TSN block per stream, concat, 1x1 conv, refine."""

    def __init__(self, config: ModelConfig, level: int, streams: int = 4) -> None:
        super().__init__()
        dim = config.dims[level]
        self.branches = nn.ModuleList(_tsn(config, level) for _ in range(streams))
        self.merge = nn.Conv2d(streams * dim, dim, 1)
        self.refine = nn.ModuleList(_tsn(config, level) for _ in range(config.fusion_blocks))

    def forward(self, streams: list[Tensor], valid: Tensor | None = None) -> Tensor:
        """Fuse equally shaped (B, C, h, w) streams into one (B, C, h, w) map."""
        pairs = zip(self.branches, streams, strict=True)
        merged = torch.cat([branch(s, valid) for branch, s in pairs], 1)
        return _run(self.refine, self.merge(merged), valid)


class ConcatFusion(nn.Module):
    """Ablation fusion without attention: concat, 1x1 conv, 3x3 conv + GELU."""

    def __init__(self, config: ModelConfig, level: int, streams: int = 4) -> None:
        super().__init__()
        dim = config.dims[level]
        self.merge = nn.Conv2d(streams * dim, dim, 1)
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.act = nn.GELU()

    def forward(self, streams: list[Tensor], valid: Tensor | None = None) -> Tensor:
        """Fuse equally shaped (B, C, h, w) streams into one (B, C, h, w) map (no statistics:
        ``valid`` is unused)."""
        return self.act(self.conv(self.merge(torch.cat(streams, dim=1))))


@register_arch("est-stfm", ModelConfig)
class ESTSTFM(nn.Module):
    """EST-STFM fusion model built from a :class:`ModelConfig`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.preset: str = "custom"
        levels = len(config.dims)
        self.multiple = 2 ** (levels - 1)
        self.coarse_encoder = Encoder(config)
        self.fine_encoder = Encoder(config)
        fusion_cls = MFFB if config.fusion == "mffb" else ConcatFusion
        self.fusions = nn.ModuleList(fusion_cls(config, lvl) for lvl in range(levels))
        # ups[l] brings the level l+1 output to level l.
        self.ups = nn.ModuleList(Upsample(config.dims[lvl + 1]) for lvl in range(levels - 1))
        self.head = zero_head(config.dims[0], config.bands)

    def forward(
        self,
        coarse_ref: Tensor,
        fine_ref: Tensor,
        coarse_target: Tensor,
        valid: Tensor | None = None,
    ) -> Tensor:
        """Predict the fine image at the target date, (B, bands, H, W); ``valid`` (B, 1, H, W):
        1 where the inputs hold data (see the module docstring), None: everywhere."""
        check_inputs(coarse_ref, fine_ref, coarse_target)
        batch, _, h, w = fine_ref.shape
        c1, f1, c2 = (
            pad_to_multiple(t, self.multiple) for t in (coarse_ref, fine_ref, coarse_target)
        )
        masks = self._masks(valid, fine_ref, f1.shape[-2:])
        coarse = self.coarse_encoder(
            torch.cat((c1, c2), dim=0), [m if m is None else torch.cat((m, m)) for m in masks]
        )
        fine = self.fine_encoder(f1, masks)

        out: Tensor | None = None
        for lvl in reversed(range(len(self.fusions))):
            e1, e2 = coarse[lvl][:batch], coarse[lvl][batch:]
            fourth = e1 if out is None else self.ups[lvl](out)
            out = self.fusions[lvl]([fine[lvl], e2 - e1, e2, fourth], masks[lvl])
        assert out is not None
        pred = self.head(out)[..., :h, :w]
        return add_base(self.config.residual, pred, coarse_ref, fine_ref, coarse_target)

    def _masks(self, valid: Tensor | None, like: Tensor, padded: torch.Size) -> Masks:
        """The valid mask of every level; padding is invalid. All None: nothing to mask."""
        b, _, h, w = like.shape
        if valid is None and (h, w) == tuple(padded):
            return [None] * len(self.fusions)
        if valid is None:
            valid = like.new_ones(b, 1, h, w)
        elif valid.shape != (b, 1, h, w):
            raise ValueError(f"valid must have shape {(b, 1, h, w)}, got {tuple(valid.shape)}")
        mask = F.pad(valid.to(like.dtype), (0, padded[1] - w, 0, padded[0] - h))
        masks: Masks = [mask]
        for _ in range(len(self.fusions) - 1):
            masks.append(downsample_mask(masks[-1]))
        return masks


# ---------------------------------------------------------------- presets

_SMALL: dict[str, Any] = {
    "dims": (16, 32, 64, 128),
    "heads": (1, 2, 4, 8),
    "enc_blocks": (1, 1, 1, 1),
    "ffn_expansion": 2.0,
    "topk_rule": "distinct",
}


@register_preset("est-stfm", "EST-STFM, tiny: for tests and smoke runs")
def est_stfm_tiny() -> dict[str, Any]:
    """About one million parameters."""
    return {
        "dims": (8, 16, 32, 64),
        "heads": (1, 1, 2, 4),
        "enc_blocks": (1, 1, 1, 1),
        "topk_rule": "distinct",
    }


@register_preset("est-stfm", "EST-STFM, small: trainable on a 2-core CPU in minutes")
def est_stfm_small() -> dict[str, Any]:
    """The size of the shipped pretrained weights and of the ablations below."""
    return dict(_SMALL)


@register_preset("est-stfm", "EST-STFM, paper size: for GPUs")
def est_stfm_base() -> dict[str, Any]:
    """The paper's widths, with deeper coarse levels and two refining fusion blocks."""
    return {
        "dims": (48, 96, 192, 384),
        "heads": (1, 2, 4, 8),
        "enc_blocks": (2, 2, 4, 4),
        "fusion_blocks": 2,
        "topk_rule": "distinct",
    }


@register_preset(
    "est-stfm", "ablation of est-stfm-small: dense channel attention (one softmax, no top-k)"
)
def est_stfm_small_dense() -> dict[str, Any]:
    """``est-stfm-small`` with ``attention="dense"``."""
    return {**_SMALL, "attention": "dense"}


@register_preset(
    "est-stfm",
    "ablation of est-stfm-small: plain feed-forward (1x1, GELU, 1x1) instead of MFNN",
)
def est_stfm_small_plainffn() -> dict[str, Any]:
    """``est-stfm-small`` with ``feedforward="plain"``."""
    return {**_SMALL, "feedforward": "plain"}


@register_preset(
    "est-stfm",
    "ablation of est-stfm-small: concat + convs fusion instead of the MFFB attention branches",
)
def est_stfm_small_concat() -> dict[str, Any]:
    """``est-stfm-small`` with ``fusion="concat"``."""
    return {**_SMALL, "fusion": "concat"}


@register_preset(
    "est-stfm", "ablation of est-stfm-small: one top-k ratio (2/3) instead of four branches"
)
def est_stfm_small_onek() -> dict[str, Any]:
    """``est-stfm-small`` with ``topk_ratios=(2/3,)``."""
    return {**_SMALL, "topk_ratios": (2 / 3,)}
