"""The single entry point for building models: configs, named presets and builders.

An *architecture* (``arch``) pairs a pydantic config class with a builder. A *preset* is a named
set of config values for one architecture. Other architectures (deep baselines) plug in by
adding an entry to ``_ARCHITECTURES`` and presets that name it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, model_validator
from torch import nn

from est_stfm.errors import EstStfmError
from est_stfm.models.correction import Residual
from est_stfm.models.edcstfn import EDCSTFN, EDCSTFNConfig
from est_stfm.models.eststfm import ESTSTFM
from est_stfm.models.swinstfm import SwinSTFM, SwinSTFMConfig


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
    feedforward: Literal["mfnn", "plain"] = "mfnn"
    fusion: Literal["mffb", "concat"] = "mffb"
    residual: Residual = "change"

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.bands < 1:
            raise ValueError(f"bands must be >= 1, got {self.bands}")
        n = len(self.dims)
        if n == 0:
            raise ValueError("dims must name at least one level")
        if len(self.heads) != n or len(self.enc_blocks) != n:
            raise ValueError(
                f"dims, heads and enc_blocks must have equal lengths, got {n}, "
                f"{len(self.heads)} and {len(self.enc_blocks)}"
            )
        if any(d < 1 for d in self.dims) or any(h < 1 for h in self.heads):
            raise ValueError("dims and heads must be positive")
        if any(b < 0 for b in self.enc_blocks) or self.fusion_blocks < 0:
            raise ValueError("enc_blocks and fusion_blocks must be >= 0")
        for lvl, (d, h) in enumerate(zip(self.dims, self.heads, strict=True)):
            if d % h:
                raise ValueError(f"dims[{lvl}]={d} is not divisible by heads[{lvl}]={h}")
        for lvl in range(n - 1):
            if self.dims[lvl + 1] != 2 * self.dims[lvl]:
                raise ValueError(
                    f"dims[{lvl + 1}] must be 2 * dims[{lvl}] (downsampling doubles channels), "
                    f"got {self.dims[lvl + 1]} after {self.dims[lvl]}"
                )
            if self.dims[lvl] % 2:
                raise ValueError(f"dims[{lvl}]={self.dims[lvl]} must be even to be downsampled")
        if not self.topk_ratios:
            raise ValueError("topk_ratios must hold at least one ratio")
        if any(not 0 < r <= 1 for r in self.topk_ratios):
            raise ValueError(f"topk_ratios must lie in (0, 1], got {self.topk_ratios}")
        if self.ffn_expansion <= 0:
            raise ValueError(f"ffn_expansion must be > 0, got {self.ffn_expansion}")
        return self


@dataclass(frozen=True)
class Architecture:
    """How to validate and build one kind of model."""

    config_class: type[BaseModel]
    builder: Callable[[Any], nn.Module]


@dataclass(frozen=True)
class Preset:
    """A named model: its architecture, a description and the config values it sets."""

    arch: str
    description: str
    values: Mapping[str, Any] = field(default_factory=dict)


_ARCHITECTURES: dict[str, Architecture] = {
    "est-stfm": Architecture(ModelConfig, ESTSTFM),
    "edcstfn": Architecture(EDCSTFNConfig, EDCSTFN),
    "swinstfm": Architecture(SwinSTFMConfig, SwinSTFM),
}

_SMALL: dict[str, Any] = {
    "dims": (16, 32, 64, 128),
    "heads": (1, 2, 4, 8),
    "enc_blocks": (1, 1, 1, 1),
    "ffn_expansion": 2.0,
}

_PRESETS: dict[str, Preset] = {
    "est-stfm-tiny": Preset(
        "est-stfm",
        "EST-STFM, tiny: for tests and smoke runs",
        {"dims": (8, 16, 32, 64), "heads": (1, 1, 2, 4), "enc_blocks": (1, 1, 1, 1)},
    ),
    "est-stfm-small": Preset(
        "est-stfm",
        "EST-STFM, small: trainable on a 2-core CPU in minutes",
        _SMALL,
    ),
    "est-stfm-base": Preset(
        "est-stfm",
        "EST-STFM, paper size: for GPUs",
        {
            "dims": (48, 96, 192, 384),
            "heads": (1, 2, 4, 8),
            "enc_blocks": (2, 2, 4, 4),
            "fusion_blocks": 2,
        },
    ),
    "est-stfm-small-dense": Preset(
        "est-stfm",
        "ablation of est-stfm-small: dense channel attention (one softmax, no top-k)",
        {**_SMALL, "attention": "dense"},
    ),
    "est-stfm-small-plainffn": Preset(
        "est-stfm",
        "ablation of est-stfm-small: plain feed-forward (1x1, GELU, 1x1) instead of MFNN",
        {**_SMALL, "feedforward": "plain"},
    ),
    "est-stfm-small-concat": Preset(
        "est-stfm",
        "ablation of est-stfm-small: concat + convs fusion instead of the MFFB attention branches",
        {**_SMALL, "fusion": "concat"},
    ),
    "est-stfm-small-onek": Preset(
        "est-stfm",
        "ablation of est-stfm-small: one top-k ratio (2/3) instead of four branches",
        {**_SMALL, "topk_ratios": (2 / 3,)},
    ),
    "edcstfn": Preset(
        "edcstfn",
        "baseline after EDCSTFN (Tan et al. 2019): full-resolution CNN encoders + decoder, "
        "widened to est-stfm-small's training-step time",
        {"widths": (80, 160, 320), "depth": 1, "fusion": "concat"},
    ),
    "swinstfm-small": Preset(
        "swinstfm",
        "baseline after SwinSTFM (Chen et al. 2022): shifted-window Transformer U-Net, "
        "sized like est-stfm-small",
        {
            "patch": 1,
            "window": 8,
            "dims": (40, 80, 160),
            "depths": (2, 2, 2),
            "heads": (2, 4, 8),
            "fusion_depth": 2,
            "decoder_depth": 2,
        },
    ),
}


def _condense(exc: pydantic.ValidationError) -> str:
    """A pydantic validation error as one line: ``field: message; field: message``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _validate(arch: Architecture, values: Mapping[str, Any], what: str) -> BaseModel:
    try:
        return arch.config_class.model_validate(dict(values))
    except pydantic.ValidationError as exc:
        raise EstStfmError(f"invalid model config for {what}: {_condense(exc)}") from None


def _build(arch: Architecture, config: BaseModel, preset: str) -> nn.Module:
    model = arch.builder(config)
    model.config = config
    model.preset = preset
    return model


def list_models() -> list[str]:
    """Names of the available presets."""
    return list(_PRESETS)


def create_model(name: str, bands: int = 6, **overrides: Any) -> nn.Module:
    """Build the preset ``name`` for ``bands`` bands, with config fields overridden."""
    preset = _PRESETS.get(name)
    if preset is None:
        raise EstStfmError(f"unknown model {name!r}; available: {', '.join(_PRESETS)}")
    arch = _ARCHITECTURES[preset.arch]
    values = {**preset.values, "arch": preset.arch, "bands": bands, **overrides}
    return _build(arch, _validate(arch, values, repr(name)), name)


def model_from_config(config: Mapping[str, Any] | BaseModel, preset: str = "custom") -> nn.Module:
    """Rebuild a model from its config (a config object or its JSON dict), by ``arch``."""
    values = config.model_dump() if isinstance(config, BaseModel) else dict(config)
    arch_name = values.get("arch", "est-stfm")
    arch = _ARCHITECTURES.get(arch_name)
    if arch is None:
        raise EstStfmError(
            f"unknown model architecture {arch_name!r}; known: {', '.join(_ARCHITECTURES)}"
        )
    return _build(arch, _validate(arch, values, f"arch {arch_name!r}"), preset)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe_models(bands: int = 6) -> list[tuple[str, str, int]]:
    """(name, description, trainable parameter count) for every preset."""
    return [
        (name, p.description, count_parameters(create_model(name, bands=bands)))
        for name, p in _PRESETS.items()
    ]
