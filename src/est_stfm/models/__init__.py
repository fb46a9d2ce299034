"""Neural-network models; build them through :func:`create_model` or :func:`model_from_config`.

Importing this package imports every architecture module, whose decorators register the
architecture and its presets; the import order below is the order ``list_models()`` gives.
"""

from __future__ import annotations

# isort: off
# The architecture modules, in listing order: EST-STFM's presets first (fixed bands, then
# band-agnostic), then the baselines'.
from est_stfm.models import eststfm, agnostic, edcstfn, swinstfm  # noqa: F401
# isort: on

from est_stfm.models._registry import list_models
from est_stfm.models.agnostic import AgnosticConfig
from est_stfm.models.edcstfn import EDCSTFNConfig
from est_stfm.models.eststfm import ModelConfig
from est_stfm.models.factory import (
    PresetInfo,
    count_parameters,
    create_model,
    describe_models,
    model_from_config,
)
from est_stfm.models.swinstfm import SwinSTFMConfig

__all__ = [
    "AgnosticConfig",
    "EDCSTFNConfig",
    "ModelConfig",
    "PresetInfo",
    "SwinSTFMConfig",
    "count_parameters",
    "create_model",
    "describe_models",
    "list_models",
    "model_from_config",
]
