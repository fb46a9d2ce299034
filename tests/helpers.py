"""Helpers shared by the tests: a small georeferenced grid, an in-process CLI runner, and the
check that masked pixels do not reach a module's outputs."""

from __future__ import annotations

import sys

import torch
from affine import Affine
from rasterio.crs import CRS

from est_stfm.cli import main
from est_stfm.io import Grid
from est_stfm.models.blocks import use_reference


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


def assert_mask_shields(module, x, changed, valid, keep) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """On the fast and the reference path of ``module``: its outputs at ``keep`` are the same for
    ``x`` and ``changed`` (which differ only where ``valid`` is 0) when given ``valid``, and move
    without it. Returns each path's masked outputs, ``(module(x, valid), module(changed,
    valid))``."""
    outputs = []
    with torch.no_grad():
        for reference in (False, True):
            use_reference(module, reference)
            a, b = module(x, valid), module(changed, valid)
            torch.testing.assert_close(a[keep], b[keep], atol=1e-5, rtol=1e-5)
            # without the mask the statistics read the changed pixels: the outputs move
            assert not torch.allclose(module(x)[keep], module(changed)[keep], atol=1e-3)
            outputs.append((a, b))
    return outputs
