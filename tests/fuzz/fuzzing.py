"""Shared pieces of the property-based fuzz suite: running the command line in-process and the
contract every run must keep (success, or one ``error:`` line and exit status 2)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from hypothesis import HealthCheck, settings
from rasterio.crs import CRS

from est_stfm.cli import main

EXAMPLES = int(os.environ.get("EST_STFM_FUZZ_EXAMPLES", "40"))
"""Examples per property (CI default); raise it with EST_STFM_FUZZ_EXAMPLES for a longer run."""

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: CI stays reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

CASES: dict[str, int] = {}
"""Cases run per property in this session (reported by the suite's last test)."""


def count(name: str) -> None:
    CASES[name] = CASES.get(name, 0) + 1


def run_cli(*args: object) -> tuple[int, str, str]:
    """Run ``est-stfm ARGS`` in-process: ``(exit status, stdout, stderr)``. Any exception other
    than the clean exit propagates, so a traceback fails the test that asked."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["est-stfm", *map(str, args)]
    code = 0
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, err: str, args: tuple[object, ...]) -> None:
    """Success, or exit status 2 with a usage message or exactly one ``error:`` line."""
    assert code in (0, 2), f"exit {code} for {args}: {err}"
    if code == 2 and err.startswith("error: "):
        assert err.count("\n") == 1, f"more than one line for {args}: {err!r}"
    elif code == 2:
        assert "Usage:" in err or "Try 'est-stfm" in err, f"no one-line error for {args}: {err!r}"


def write_tif(
    path: Path,
    data: np.ndarray,
    nodata: float | None = None,
    pixel: float = 30.0,
    georeferenced: bool = True,
) -> Path:
    """A GeoTIFF written with rasterio directly (not through est-stfm's writer)."""
    bands, height, width = data.shape
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": bands,
        "dtype": data.dtype.name,
        "nodata": nodata,
    }
    if georeferenced:
        profile["crs"] = CRS.from_epsg(32655)
        profile["transform"] = Affine(pixel, 0.0, 500_000.0, 0.0, -pixel, 4_800_000.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(data)
    return path
