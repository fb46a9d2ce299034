"""Training: config, samples, losses, validation, the loop, resumable state, DDP, the result."""

from est_stfm.training.config import FitConfig
from est_stfm.training.fit import fit
from est_stfm.training.result import FitResult

__all__ = ["FitConfig", "FitResult", "fit"]
