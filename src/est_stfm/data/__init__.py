"""The data layer: rasters as float32 values, scene files, the CSIRO benchmark reader, and a
synthetic scene generator.

Nothing here imports torch.
"""

from __future__ import annotations

from est_stfm.data.csiro import prepare_csiro
from est_stfm.data.raster import (
    GeoreferencingWarning,
    Grid,
    read_grid,
    read_raster,
    write_raster,
)
from est_stfm.data.scene import Scene, SectionOptions, load_scene, save_scene, user_date
from est_stfm.data.synthetic import make_synthetic_scene

__all__ = [
    "GeoreferencingWarning",
    "Grid",
    "Scene",
    "SectionOptions",
    "load_scene",
    "make_synthetic_scene",
    "prepare_csiro",
    "read_grid",
    "read_raster",
    "save_scene",
    "user_date",
    "write_raster",
]
