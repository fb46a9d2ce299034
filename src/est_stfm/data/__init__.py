"""The data layer: rasters as float32 reflectance, scene files, and a synthetic scene generator.

Nothing here imports torch.
"""

from __future__ import annotations

from est_stfm.data.raster import Grid, read_grid, read_raster, write_raster
from est_stfm.data.scene import Scene, load_scene, save_scene, user_date
from est_stfm.data.synthetic import make_synthetic_scene

__all__ = [
    "Grid",
    "Scene",
    "load_scene",
    "make_synthetic_scene",
    "read_grid",
    "read_raster",
    "save_scene",
    "user_date",
    "write_raster",
]
