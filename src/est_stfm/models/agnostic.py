"""Band-agnostic EST-STFM: one set of weights for any band count (1 to 13 and beyond) and any unit.

``model(coarse_ref, fine_ref, coarse_target, base=None, valid=None)`` takes (B, bands, H, W)
images (coarse ones resampled onto the fine grid) and returns the fine target, (B, bands, H, W).
``base`` is the prediction the network corrects (default the naive change F1 + (C2 - C1); a
classic method's prediction such as FSDAF's works the same way); ``valid`` marks the pixels to
trust, (B, 1 or bands, H, W), bool or 0/1.

Design:

* **Bands are a set.** Each band of each scene is one member, processed by the same weights:
  the bands are folded into the batch, so a member is a few single-channel maps: F1_b, B_b
  and the valid mask for the fine encoder, C1_b or C2_b and the mask for the coarse encoder.
  The weights never see a band index, so the network is equivariant to any permutation of
  the bands and runs on any count.
* **Per scene and band normalisation.** Each band is shifted and scaled by a robust location
  and scale of its valid F1 and C1 pixels (:func:`band_stats`: the median and the mean absolute
  deviation from it), the network predicts its correction in those units, and the correction
  is scaled back and added to the base. Reflectance, NDVI or Kelvin look alike to the network,
  and multiplying a band's inputs by a constant multiplies its output by the same constant
  (adding one adds it, too). Normalised inputs are clipped to +-``CLIP`` and invalid pixels
  are set to 0 (the band's location), so nodata never reaches the network as a value.
* **Cross-band exchange.** After every encoder level and every fusion level, the features of a
  scene's bands are averaged over the band axis, layer-normalised, projected by a 1x1 conv and
  added back to every band (DeepSets). This is the only place bands meet: each band sees the
  others through their mean, so the cost grows linearly with the band count (the exchange's
  own cost does not grow with it at all).
* **The paper's parts otherwise**, as in :mod:`est_stfm.models.eststfm`: TSN blocks (Top-K
  sparse channel attention and MFNN), a coarse encoder shared by C1 and C2 and a fine encoder
  (of F1 and the base), MFFB fusion (coarsest level first, four streams: fine features, coarse
  change E(C2) - E(C1), E(C2) and the upsampled deeper output, E(C1) at the coarsest level),
  a zero-initialised 3x3 head, so an untrained model returns exactly the base.
* **Patch embedding.** The encoders start from ``patch`` x ``patch`` pixel blocks folded into
  channels (pixel-unshuffle) and the head unfolds its output the same way, so the whole pyramid
  runs at 1/patch resolution and costs 1/patch**2 (``patch=1`` is the paper's full resolution;
  small uses 2, tiny 4). Coarse images carry no detail below 8 fine pixels and the fine detail
  of the output comes from the base; the correction still has a value per pixel, but its fine
  structure must pass through the ``dims[0]`` channels of one block.
* **Masks.** The valid mask (and zero for the pixels added by padding) is an input channel of
  both encoders, and is passed to the TSN blocks when they accept a ``valid`` keyword.

Inputs of any size work: they are padded (reflect, or replicate when too small) to a multiple of
``patch * 2**(levels-1)`` and the output is cropped back; padded pixels count as invalid.

Trade-offs: a member's channels hold features of one band, so the spectral mixing that a
fixed-band model does in its first conv happens here only through the band means, once per
level; in exchange the same weights serve Landsat, Sentinel-2 or a single index, and
pretraining can mix sensors. The network cannot tell which band is which (no band embedding),
only what a band looks like and what the scene's bands look like on average. Compute per band
equals a fixed-band model of the same widths run on a one-band image, so a 6-band scene costs
six such passes: widths are kept smaller than ``est-stfm``'s for the same CPU time. The
statistics are taken per call: a tiled prediction should compute them once for the scene with
:func:`band_stats` and pass them as ``stats`` so tiles share one normalisation.

The file reads config -> statistics -> blocks -> model -> presets; the model registers as
architecture ``est-stfm-any``.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from torch import Tensor, nn

from est_stfm.models._registry import register_arch, register_preset
from est_stfm.models.blocks import Downsample, LayerNorm2d, TSNBlock, Upsample
from est_stfm.models.correction import check_inputs, pad_to_multiple, zero_head
from est_stfm.models.levels import check_levels, check_tsn

CLIP = 50.0
"""Normalised inputs are clipped to +-CLIP (in units of the band's scale)."""

EPS = 1e-12
"""Smallest scale: a constant band is only kept from dividing by zero."""

Stats = tuple[Tensor, Tensor]

# The TSN blocks may take the valid mask (a keyword added with masked attention); pass it then.
_BLOCKS_TAKE_VALID = "valid" in inspect.signature(TSNBlock.forward).parameters


class AgnosticConfig(BaseModel):
    """Hyper-parameters of a band-agnostic EST-STFM; serialisable to JSON and back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["est-stfm-any"] = "est-stfm-any"
    bands: None = None
    """Always None: the weights serve any band count. ``create_model(name, bands=n)`` may pass
    a count; it is checked (>= 1) and not kept."""
    patch: int = 2
    """Side of the pixel blocks the embedding folds into channels (pixel-unshuffle) and the head
    unfolds (pixel-shuffle); 1 works at full resolution like the paper, 2 costs a quarter."""
    dims: tuple[int, ...] = (20, 40, 80, 160)
    heads: tuple[int, ...] = (1, 2, 4, 8)
    enc_blocks: tuple[int, ...] = (1, 1, 1, 1)
    fusion_blocks: int = 1
    ffn_expansion: float = 2.0
    attention: Literal["topk", "dense"] = "topk"
    topk_ratios: tuple[float, ...] = (1 / 2, 2 / 3, 3 / 4, 4 / 5)
    feedforward: Literal["mfnn", "plain"] = "mfnn"
    exchange: Literal["mean", "none"] = "mean"
    """``"none"``: no cross-band exchange (an ablation: every band on its own)."""
    residual: Literal["change"] = "change"
    """The base when ``forward`` gets none: F1 + (C2 - C1) (what training reads to zero the head
    back to the base); any other base is passed to ``forward``."""

    @field_validator("bands", mode="before")
    @classmethod
    def _any_bands(cls, value: Any) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"bands must be a whole number, got {value!r}")
        if value is not None and value < 1:
            raise ValueError(f"bands must be >= 1, got {value}")
        return None

    @model_validator(mode="after")
    def _check(self) -> AgnosticConfig:
        check_levels(
            self.dims,
            self.heads,
            {"enc_blocks": self.enc_blocks, "fusion_blocks": self.fusion_blocks},
            resize="downsampling",
            even=True,
        )
        check_tsn(self.topk_ratios, self.ffn_expansion)
        if self.patch < 1:
            raise ValueError(f"patch must be >= 1, got {self.patch}")
        return self


# ---------------------------------------------------------------- statistics


def valid_mask(valid: Tensor | None, *images: Tensor) -> Tensor:
    """(B, bands, H, W) bool: ``valid`` (broadcast over bands) and finite in every image."""
    ok = torch.ones_like(images[0], dtype=torch.bool)
    for image in images:
        ok &= torch.isfinite(image)
    if valid is not None:
        if valid.dim() != 4 or valid.shape[1] not in (1, ok.shape[1]):
            raise ValueError(
                f"valid must be (B, 1 or {ok.shape[1]}, H, W) for images of shape "
                f"{tuple(ok.shape)}, got {tuple(valid.shape)}"
            )
        ok &= valid.to(torch.bool)
    return ok


def band_stats(fine_ref: Tensor, coarse_ref: Tensor, valid: Tensor | None = None) -> Stats:
    """Location and scale per scene and band, each (B, bands, 1, 1), from the valid pixels of
    F1 and C1: the median and the mean absolute deviation from it. A band without a valid
    pixel gets location 0 and scale 1."""
    ok = valid_mask(valid, fine_ref, coarse_ref)
    values = torch.cat((fine_ref, coarse_ref), dim=-1).detach().float().flatten(2)
    ok = torch.cat((ok, ok), dim=-1).flatten(2)
    loc = torch.nanmedian(values.masked_fill(~ok, float("nan")), dim=-1).values
    count = ok.sum(-1)
    loc = torch.where(count > 0, loc, torch.zeros_like(loc))
    deviation = (values - loc[..., None]).abs().masked_fill(~ok, 0.0).sum(-1)
    scale = torch.where(count > 0, deviation / count.clamp(min=1), torch.ones_like(loc))
    return loc[..., None, None], scale.clamp(min=EPS)[..., None, None]


# ---------------------------------------------------------------- blocks


def _tsn(config: AgnosticConfig, level: int) -> TSNBlock:
    """A TSN block for ``level`` with the attention/feed-forward choices of ``config``."""
    return TSNBlock(
        config.dims[level],
        config.heads[level],
        attention=config.attention,
        ratios=config.topk_ratios,
        feedforward=config.feedforward,
        expansion=config.ffn_expansion,
    )


def _block(block: nn.Module, x: Tensor, valid: Tensor) -> Tensor:
    """Apply a TSN block, with the valid mask when it takes one."""
    return block(x, valid=valid) if _BLOCKS_TAKE_VALID else block(x)


def _run(blocks: nn.ModuleList, x: Tensor, valid: Tensor) -> Tensor:
    """Apply TSN blocks in turn."""
    for block in blocks:
        x = _block(block, x, valid)
    return x


class BandExchange(nn.Module):
    """DeepSets exchange: every band gets ``1x1conv(LN(mean over the scene's bands))`` added."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = LayerNorm2d(dim)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor, bands: int) -> Tensor:
        """(scenes * bands, C, h, w), a scene's bands consecutive -> the same shape."""
        members, ch, h, w = x.shape
        grouped = x.reshape(members // bands, bands, ch, h, w)
        context = self.proj(self.norm(grouped.mean(dim=1)))
        return (grouped + context[:, None]).reshape(members, ch, h, w)


class NoExchange(nn.Module):
    """The ablation without cross-band exchange."""

    def forward(self, x: Tensor, bands: int) -> Tensor:
        """Identity."""
        return x


def _exchange(config: AgnosticConfig, level: int) -> nn.Module:
    return BandExchange(config.dims[level]) if config.exchange == "mean" else NoExchange()


class MemberEncoder(nn.Module):
    """Hierarchical encoder of band members: one feature map per level, finest first, with a
    cross-band exchange after each level."""

    def __init__(self, config: AgnosticConfig, in_channels: int) -> None:
        super().__init__()
        levels = len(config.dims)
        self.patch = config.patch
        self.embed = nn.Conv2d(in_channels * config.patch**2, config.dims[0], 3, padding=1)
        self.stages = nn.ModuleList(
            nn.ModuleList(_tsn(config, lvl) for _ in range(config.enc_blocks[lvl]))
            for lvl in range(levels)
        )
        self.downs = nn.ModuleList(Downsample(config.dims[lvl]) for lvl in range(levels - 1))
        self.exchanges = nn.ModuleList(_exchange(config, lvl) for lvl in range(levels))

    def forward(self, x: Tensor, bands: int, masks: list[Tensor]) -> list[Tensor]:
        """(M, in_channels, H, W) -> [(M, dims[l], H/p/2**l, W/p/2**l) for each level l]."""
        feats = []
        x = self.embed(F.pixel_unshuffle(x, self.patch))
        for lvl, stage in enumerate(self.stages):
            if lvl > 0:
                x = self.downs[lvl - 1](x)
            x = self.exchanges[lvl](_run(stage, x, masks[lvl]), bands)
            feats.append(x)
        return feats


class MemberMFFB(nn.Module):
    """Multi-feature fusion block: one TSN block per stream, concat, 1x1 conv, refine, then a
    cross-band exchange."""

    def __init__(self, config: AgnosticConfig, level: int, streams: int = 4) -> None:
        super().__init__()
        dim = config.dims[level]
        self.branches = nn.ModuleList(_tsn(config, level) for _ in range(streams))
        self.merge = nn.Conv2d(streams * dim, dim, 1)
        self.refine = nn.ModuleList(_tsn(config, level) for _ in range(config.fusion_blocks))
        self.exchange = _exchange(config, level)

    def forward(self, streams: list[Tensor], bands: int, valid: Tensor) -> Tensor:
        """Fuse equally shaped (M, C, h, w) streams into one (M, C, h, w) map."""
        parts = [_block(b, s, valid) for b, s in zip(self.branches, streams, strict=True)]
        merged = self.merge(torch.cat(parts, dim=1))
        return self.exchange(_run(self.refine, merged, valid), bands)


# ---------------------------------------------------------------- model


@register_arch("est-stfm-any", AgnosticConfig)
class AgnosticESTSTFM(nn.Module):
    """Band-agnostic EST-STFM built from an :class:`AgnosticConfig`."""

    def __init__(self, config: AgnosticConfig) -> None:
        super().__init__()
        self.config = config
        self.preset: str = "custom"
        levels = len(config.dims)
        self.multiple = config.patch * 2 ** (levels - 1)
        self.coarse_encoder = MemberEncoder(config, in_channels=2)  # C, valid
        self.fine_encoder = MemberEncoder(config, in_channels=3)  # F1, base, valid
        self.fusions = nn.ModuleList(MemberMFFB(config, lvl) for lvl in range(levels))
        # ups[l] brings the level l+1 output to level l.
        self.ups = nn.ModuleList(Upsample(config.dims[lvl + 1]) for lvl in range(levels - 1))
        self.head = zero_head(config.dims[0], config.patch**2)

    def forward(
        self,
        coarse_ref: Tensor,
        fine_ref: Tensor,
        coarse_target: Tensor,
        base: Tensor | None = None,
        valid: Tensor | None = None,
        stats: Stats | None = None,
    ) -> Tensor:
        """The fine image at the target date, (B, bands, H, W): ``base`` plus the correction.

        ``stats``: (location, scale) from :func:`band_stats`, by default computed here from
        these inputs.
        """
        check_inputs(coarse_ref, fine_ref, coarse_target)
        if base is None:
            base = fine_ref + (coarse_target - coarse_ref)
        elif base.shape != fine_ref.shape:
            raise ValueError(
                f"base must have the inputs' shape {tuple(fine_ref.shape)}, got {tuple(base.shape)}"
            )
        batch, bands, h, w = fine_ref.shape
        levels = len(self.fusions)
        ok = valid_mask(valid, coarse_ref, fine_ref, coarse_target, base)
        loc, scale = stats if stats is not None else band_stats(fine_ref, coarse_ref, ok)

        def members(image: Tensor) -> Tensor:
            """(B, bands, H, W) -> normalised (B * bands, 1, H, W), invalid pixels 0."""
            normed = ((image - loc) / scale).clamp(-CLIP, CLIP)
            normed = torch.where(ok, normed, torch.zeros_like(normed))
            return pad_to_multiple(normed.reshape(batch * bands, 1, h, w), self.multiple)

        mask = ok.reshape(batch * bands, 1, h, w).to(fine_ref.dtype)
        mask = F.pad(mask, (0, (-w) % self.multiple, 0, (-h) % self.multiple))  # padding: 0
        # A pixel of a level is valid when all the input pixels it covers are.
        masks = [-F.max_pool2d(-mask, self.config.patch * 2**lvl) for lvl in range(levels)]

        c1, f1, c2, b = (members(t) for t in (coarse_ref, fine_ref, coarse_target, base))
        coarse = self.coarse_encoder(
            torch.cat((torch.cat((c1, mask), 1), torch.cat((c2, mask), 1)), dim=0),
            bands,
            [torch.cat((m, m), dim=0) for m in masks],
        )
        fine = self.fine_encoder(torch.cat((f1, b, mask), dim=1), bands, masks)

        n = batch * bands
        out: Tensor | None = None
        for lvl in reversed(range(levels)):
            e1, e2 = coarse[lvl][:n], coarse[lvl][n:]
            fourth = e1 if out is None else self.ups[lvl](out)
            out = self.fusions[lvl]([fine[lvl], e2 - e1, e2, fourth], bands, masks[lvl])
        assert out is not None
        correction = F.pixel_shuffle(self.head(out), self.config.patch)[..., :h, :w]
        correction = correction.reshape(batch, bands, h, w)
        return base + correction * scale


# ---------------------------------------------------------------- presets


@register_preset(
    "est-stfm-any", "band-agnostic EST-STFM, tiny: any band count, 4x4 patches, for CPU runs"
)
def est_stfm_any_tiny() -> dict[str, Any]:
    """10 channels per head at every level: four distinct Top-K sizes (5, 6, 7, 8); 4x4
    patches: about 14 GFLOP per megapixel and band."""
    return {"dims": (10, 20, 40, 80), "heads": (1, 2, 4, 8), "patch": 4}


@register_preset(
    "est-stfm-any", "band-agnostic EST-STFM, small: any band count, 2x2 patches, 18 MB"
)
def est_stfm_any_small() -> dict[str, Any]:
    """20 channels per head at every level: four distinct Top-K sizes; 2x2 patches: about 160
    GFLOP per megapixel and band; 4.4 M parameters (17.7 MB), within the 20 MB budget."""
    return {"dims": (20, 40, 80, 160), "heads": (1, 2, 4, 8), "patch": 2}
