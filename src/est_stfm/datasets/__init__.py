"""Scenes made or converted for users: a synthetic scene generator and the CSIRO CIA/LGC reader."""

from __future__ import annotations

from est_stfm.datasets.csiro import prepare_csiro
from est_stfm.datasets.synthetic import make_synthetic_scene

__all__ = ["make_synthetic_scene", "prepare_csiro"]
