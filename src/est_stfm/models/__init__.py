"""Neural-network models; build them through :func:`create_model` or :func:`model_from_config`."""

from __future__ import annotations

from est_stfm.models.edcstfn import EDCSTFNConfig
from est_stfm.models.registry import (
    ModelConfig,
    count_parameters,
    create_model,
    describe_models,
    list_models,
    model_from_config,
)
from est_stfm.models.swinstfm import SwinSTFMConfig

__all__ = [
    "EDCSTFNConfig",
    "ModelConfig",
    "SwinSTFMConfig",
    "count_parameters",
    "create_model",
    "describe_models",
    "list_models",
    "model_from_config",
]
