"""Training: samples, losses and the fit loop."""

from est_stfm.training.fit import FitConfig, fit

__all__ = ["FitConfig", "fit"]
