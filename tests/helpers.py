"""Helpers shared by the CLI tests: a small georeferenced grid and an in-process CLI runner."""

from __future__ import annotations

import sys

from affine import Affine
from rasterio.crs import CRS

from est_stfm.cli import main
from est_stfm.io import Grid


def make_grid(width: int, height: int, bands: int, x0: float = 500_000.0) -> Grid:
    return Grid(
        crs=CRS.from_epsg(32655),
        transform=Affine(30.0, 0.0, x0, 0.0, -30.0, 4_800_000.0),
        width=width,
        height=height,
        count=bands,
        dtype="int16",
        nodata=-9999.0,
        descriptions=tuple(f"b{i}" for i in range(bands)),
    )


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run the console entry point in-process; (exit status, stdout, stderr)."""
    argv = sys.argv
    sys.argv = ["est-stfm", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return code, out, err
