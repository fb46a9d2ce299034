"""Building models: from a preset name, or from a saved config; and counting what they hold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import pydantic
from pydantic import BaseModel
from torch import nn

from est_stfm.errors import EstStfmError, condense
from est_stfm.models._registry import Architecture, get_arch, get_preset, list_models


class PresetInfo(NamedTuple):
    """What ``est-stfm models`` says about one preset."""

    name: str
    description: str
    parameters: int


def _validate(arch: Architecture, values: Mapping[str, Any], what: str) -> BaseModel:
    try:
        return arch.config_class.model_validate(dict(values))
    except pydantic.ValidationError as exc:
        raise EstStfmError(f"invalid model config for {what}: {condense(exc)}") from None


def _build(arch: Architecture, config: BaseModel, preset: str) -> nn.Module:
    model = arch.builder(config)
    model.config = config
    model.preset = preset
    return model


def create_model(name: str, bands: int = 6, **overrides: Any) -> nn.Module:
    """Build the preset ``name`` for ``bands`` bands, with config fields overridden."""
    preset = get_preset(name)
    arch = get_arch(preset.arch)
    values = {**preset.values, "arch": preset.arch, "bands": bands, **overrides}
    return _build(arch, _validate(arch, values, repr(name)), name)


def model_from_config(config: Mapping[str, Any] | BaseModel, preset: str = "custom") -> nn.Module:
    """Rebuild a model from its config (a config object or its JSON dict), by ``arch``."""
    values = config.model_dump() if isinstance(config, BaseModel) else dict(config)
    arch_name = values.get("arch", "est-stfm")
    arch = get_arch(arch_name)
    return _build(arch, _validate(arch, values, f"arch {arch_name!r}"), preset)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe_models(bands: int = 6) -> list[PresetInfo]:
    """Name, description and trainable parameter count of every preset, in listing order."""
    return [
        PresetInfo(name, get_preset(name).description, count_parameters(create_model(name, bands)))
        for name in list_models()
    ]
