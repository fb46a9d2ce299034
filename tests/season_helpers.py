"""A small season on disk for the season, cube, xarray and CLI tests: six dates, fine images on
three of them (first, fourth, last) and a coarse image on every one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from est_stfm.datasets import make_synthetic_scene
from est_stfm.scene import save_scene

DATES = [dt.date(2001, 5, 8) + dt.timedelta(days=4 * i) for i in range(6)]
FINE = [DATES[0], DATES[3], DATES[5]]
COARSE_ONLY = [d for d in DATES if d not in FINE]


def make_season_scene(folder: Path, height: int = 48, width: int = 40) -> Path:
    """Write the synthetic images into ``folder`` and a scene file that lists the fine images
    of :data:`FINE` only; returns the scene file."""
    full = make_synthetic_scene(folder, height=height, width=width, dates=DATES, factor=8, seed=5)
    return save_scene(
        full.parent / "season.yaml",
        fine={d: full.parent / f"fine_{d.isoformat()}.tif" for d in FINE},
        coarse={d: full.parent / f"coarse_{d.isoformat()}.tif" for d in DATES},
        scale=0.0001,
        coarse_factor=8,
    )
