"""Scenes made or converted for users: synthetic.py writes a seeded synthetic scene (its surface
in landscape.py, its coarse sensor in degrade.py, the one fine -> coarse operator of the
package); csiro.py converts the raw CSIRO CIA/LGC files."""

from __future__ import annotations

from est_stfm.datasets.csiro import prepare_csiro
from est_stfm.datasets.synthetic import make_synthetic_scene

__all__ = ["make_synthetic_scene", "prepare_csiro"]
