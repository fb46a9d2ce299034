"""Training: config, samples, losses, the fit loop, resumable state, DDP, test-time adaptation."""

from est_stfm.training.config import FitConfig
from est_stfm.training.fit import fit

__all__ = ["FitConfig", "fit"]
