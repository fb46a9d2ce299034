"""est-stfm: spatiotemporal fusion of remote-sensing images with EST-STFM and baselines.

The public API is importable from here; submodules load on first use, so ``import est_stfm``
(and the torch-free data layer) stay light.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from est_stfm.errors import EstStfmError

try:
    __version__ = version("est-stfm")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

_LAZY = {
    "create_model": "est_stfm.models",
    "list_models": "est_stfm.models",
    "load_scene": "est_stfm.scene",
    "make_synthetic_scene": "est_stfm.datasets",
    "FitConfig": "est_stfm.training",
    "FitResult": "est_stfm.training",
    "fit": "est_stfm.training",
    "fuse": "est_stfm.inference.predict",
    "predict_to_file": "est_stfm.inference.predict",
    "predict_season": "est_stfm.inference.season",
    "fuse_xarray": "est_stfm.inference.xarray_fuse",
    "resolve_method": "est_stfm.methods",
    "load_model": "est_stfm.models.checkpoint",
    "evaluate_arrays": "est_stfm.evaluation",
    "evaluate_files": "est_stfm.evaluation",
}

__all__ = ["EstStfmError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'est_stfm' has no attribute {name!r}")
