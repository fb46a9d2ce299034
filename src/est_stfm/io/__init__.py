"""Files: rasters as float32 values plus a valid mask, GeoTIFF writing, resampling, atomic writes,
YAML. Nothing here imports torch."""

from __future__ import annotations

from est_stfm.io.geotiff import write_raster
from est_stfm.io.raster import GeoreferencingWarning, Grid, read_grid, read_raster

__all__ = ["GeoreferencingWarning", "Grid", "read_grid", "read_raster", "write_raster"]
