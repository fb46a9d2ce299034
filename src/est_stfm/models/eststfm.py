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

Note on the residual default: the specification's default is ``"reference"``. We default to
``"change"`` because, with the zero-initialised head, training then starts exactly at the naive
"fine reference + coarse change" prediction and can only improve on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from est_stfm.models.blocks import Downsample, TSNBlock, Upsample
from est_stfm.models.correction import add_base, check_inputs, pad_to_multiple, zero_head

if TYPE_CHECKING:
    from est_stfm.models.registry import ModelConfig


def _tsn(config: ModelConfig, level: int) -> TSNBlock:
    """A TSN block for ``level`` with the attention/feed-forward choices of ``config``."""
    return TSNBlock(
        config.dims[level],
        config.heads[level],
        attention=config.attention,
        ratios=config.topk_ratios,
        feedforward=config.feedforward,
        expansion=config.ffn_expansion,
    )


class Encoder(nn.Module):
    """Hierarchical feature extractor returning one feature map per level, finest first."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        levels = len(config.dims)
        self.embed = nn.Conv2d(config.bands, config.dims[0], 3, padding=1)
        self.stages = nn.ModuleList(
            nn.Sequential(*(_tsn(config, lvl) for _ in range(config.enc_blocks[lvl])))
            for lvl in range(levels)
        )
        self.downs = nn.ModuleList(Downsample(config.dims[lvl]) for lvl in range(levels - 1))

    def forward(self, x: Tensor) -> list[Tensor]:
        """(B, bands, H, W) -> [(B, dims[l], H/2**l, W/2**l) for each level l]."""
        feats = []
        x = self.embed(x)
        for lvl, stage in enumerate(self.stages):
            if lvl > 0:
                x = self.downs[lvl - 1](x)
            x = stage(x)
            feats.append(x)
        return feats


class MFFB(nn.Module):
    """Multi-feature fusion block: one TSN block per stream, concat, 1x1 conv, refine."""

    def __init__(self, config: ModelConfig, level: int, streams: int = 4) -> None:
        super().__init__()
        dim = config.dims[level]
        self.branches = nn.ModuleList(_tsn(config, level) for _ in range(streams))
        self.merge = nn.Conv2d(streams * dim, dim, 1)
        self.refine = nn.Sequential(*(_tsn(config, level) for _ in range(config.fusion_blocks)))

    def forward(self, streams: list[Tensor]) -> Tensor:
        """Fuse equally shaped (B, C, h, w) streams into one (B, C, h, w) map."""
        merged = torch.cat([branch(s) for branch, s in zip(self.branches, streams, strict=True)], 1)
        return self.refine(self.merge(merged))


class ConcatFusion(nn.Module):
    """Ablation fusion without attention: concat, 1x1 conv, 3x3 conv + GELU."""

    def __init__(self, config: ModelConfig, level: int, streams: int = 4) -> None:
        super().__init__()
        dim = config.dims[level]
        self.merge = nn.Conv2d(streams * dim, dim, 1)
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.act = nn.GELU()

    def forward(self, streams: list[Tensor]) -> Tensor:
        """Fuse equally shaped (B, C, h, w) streams into one (B, C, h, w) map."""
        return self.act(self.conv(self.merge(torch.cat(streams, dim=1))))


class ESTSTFM(nn.Module):
    """EST-STFM fusion model built from a :class:`~est_stfm.models.registry.ModelConfig`."""

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

    def forward(self, coarse_ref: Tensor, fine_ref: Tensor, coarse_target: Tensor) -> Tensor:
        """Predict the fine image at the target date, (B, bands, H, W)."""
        check_inputs(coarse_ref, fine_ref, coarse_target)
        batch, _, h, w = fine_ref.shape
        c1, f1, c2 = (
            pad_to_multiple(t, self.multiple) for t in (coarse_ref, fine_ref, coarse_target)
        )
        coarse = self.coarse_encoder(torch.cat((c1, c2), dim=0))
        fine = self.fine_encoder(f1)

        out: Tensor | None = None
        for lvl in reversed(range(len(self.fusions))):
            e1, e2 = coarse[lvl][:batch], coarse[lvl][batch:]
            fourth = e1 if out is None else self.ups[lvl](out)
            out = self.fusions[lvl]([fine[lvl], e2 - e1, e2, fourth])
        assert out is not None
        pred = self.head(out)[..., :h, :w]
        return add_base(self.config.residual, pred, coarse_ref, fine_ref, coarse_target)
