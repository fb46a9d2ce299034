"""EDCSTFN-style CNN baseline: ``model(coarse_ref, fine_ref, coarse_target) -> fine_target``.

After Tan, Di, Wu, Yue, "An Enhanced Deep Convolutional Model for Spatiotemporal Image Fusion"
(Remote Sensing 11(24), 2019). As in the paper, everything runs at full resolution:

* a fine-reference encoder: a stack of 3x3 convolutions with ReLU on F1, one per entry of
  ``widths`` (channels grow along the stack; the last conv has no activation);
* a coarse-change encoder of the same shape on ``cat(C2 - C1, C2)``: the temporal change and
  the target-date coarse image;
* fusion of the two feature maps (``fusion="concat"`` concatenates, ``"add"`` sums them);
* a decoder of 3x3 convolutions with ReLU that walks the widths back down, then a 3x3 head.

Deviations from the paper, on purpose:

* The head is zero-initialised and added to a base (``residual``), as in
  :class:`~est_stfm.models.eststfm.ESTSTFM`: ``"change"`` (default) adds F1 + (C2 - C1), so an
  untrained model is the naive prediction; ``"reference"`` adds F1; ``"none"`` predicts F2
  directly, which is closest to the paper.
* One reference pair only; the paper's two-pair weighting of predictions is left to the
  prediction pipeline. The compound loss (with a pretrained-autoencoder feature loss) is
  replaced by the project's training loss.
* The change encoder sees ``C2 - C1`` explicitly (the paper feeds the coarse images and lets
  the first convolution form the difference); ``depth`` adds extra width-preserving convs after
  each encoder conv, for larger models at the same resolution.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, model_validator
from torch import Tensor, nn

from est_stfm.models._registry import register_arch, register_preset
from est_stfm.models.correction import Residual, add_base, check_inputs, zero_head


class EDCSTFNConfig(BaseModel):
    """Hyper-parameters of the EDCSTFN baseline; serialisable to JSON and back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["edcstfn"] = "edcstfn"
    bands: int = 6
    widths: tuple[int, ...] = (32, 64, 128)
    depth: int = 1
    fusion: Literal["concat", "add"] = "concat"
    residual: Residual = "change"

    @model_validator(mode="after")
    def _check(self) -> EDCSTFNConfig:
        if self.bands < 1:
            raise ValueError(f"bands must be >= 1, got {self.bands}")
        if not self.widths:
            raise ValueError("widths must name at least one layer")
        if any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be positive, got {self.widths}")
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")
        return self


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


def _encoder(cin: int, widths: tuple[int, ...], depth: int) -> nn.Sequential:
    """3x3 convs with ReLU through ``widths`` (``depth`` convs per width), no final ReLU."""
    layers: list[nn.Module] = []
    for w in widths:
        for _ in range(depth):
            layers += [_conv(cin, w), nn.ReLU(inplace=True)]
            cin = w
    return nn.Sequential(*layers[:-1])


@register_arch("edcstfn", EDCSTFNConfig)
class EDCSTFN(nn.Module):
    """EDCSTFN-style fusion CNN built from an :class:`EDCSTFNConfig`."""

    def __init__(self, config: EDCSTFNConfig) -> None:
        super().__init__()
        self.config = config
        self.preset: str = "custom"
        b, widths = config.bands, config.widths
        self.fine_encoder = _encoder(b, widths, config.depth)
        self.change_encoder = _encoder(2 * b, widths, config.depth)
        cin = widths[-1] * (2 if config.fusion == "concat" else 1)
        layers: list[nn.Module] = []
        for w in reversed(widths[:-1] or widths):
            layers += [_conv(cin, w), nn.ReLU(inplace=True)]
            cin = w
        self.decoder = nn.Sequential(*layers)
        self.head = zero_head(cin, b)

    def forward(self, coarse_ref: Tensor, fine_ref: Tensor, coarse_target: Tensor) -> Tensor:
        """Predict the fine image at the target date, (B, bands, H, W); any H and W."""
        check_inputs(coarse_ref, fine_ref, coarse_target)
        change = coarse_target - coarse_ref
        fine = self.fine_encoder(fine_ref)
        coarse = self.change_encoder(torch.cat((change, coarse_target), dim=1))
        fused = (
            torch.cat((fine, coarse), dim=1) if self.config.fusion == "concat" else fine + coarse
        )
        pred = self.head(self.decoder(fused))
        return add_base(self.config.residual, pred, coarse_ref, fine_ref, coarse_target)


# ---------------------------------------------------------------- presets


@register_preset(
    "edcstfn",
    "baseline after EDCSTFN (Tan et al. 2019): full-resolution CNN encoders + decoder, "
    "widened to est-stfm-small's training-step time",
)
def edcstfn() -> dict[str, Any]:
    """Widths chosen so one training step takes as long as ``est-stfm-small``'s."""
    return {"widths": (80, 160, 320), "depth": 1, "fusion": "concat"}
