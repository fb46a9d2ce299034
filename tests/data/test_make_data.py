"""The committed fake files are what tests/data/make_data.py writes: small, tracked by git, and
regenerated identically (so a format test's expectations and its files cannot drift apart)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio

HERE = Path(__file__).resolve().parent
MAX_BYTES = 300 * 1024
"""The budget for all fake files together."""


def committed() -> list[Path]:
    """The fake files under tests/data, relative to it."""
    folders = ("csiro", "envi", "shared")
    return sorted(
        p.relative_to(HERE) for f in folders for p in (HERE / f).rglob("*") if p.is_file()
    )


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """make_data.py run into a fresh folder."""
    spec = importlib.util.spec_from_file_location("_make_data_under_test", HERE / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("fake_data")
    module.make_all(out)
    return out


def test_regenerating_writes_the_committed_files(regenerated: Path) -> None:
    new = sorted(p.relative_to(regenerated) for p in regenerated.rglob("*") if p.is_file())
    assert new == committed()
    for rel in new:
        if rel.suffix != ".tif":  # raw, headers, .npy, JSON, YAML: byte for byte
            assert (regenerated / rel).read_bytes() == (HERE / rel).read_bytes(), rel
            continue
        with rasterio.open(regenerated / rel) as a, rasterio.open(HERE / rel) as b:  # codecs vary
            assert (a.crs, a.transform, a.dtypes, a.descriptions) == (
                b.crs,
                b.transform,
                b.dtypes,
                b.descriptions,
            ), rel
            assert a.nodata == b.nodata and np.array_equal(a.read(), b.read()), rel


def test_fake_files_are_small_and_tracked() -> None:
    files = committed()
    assert sum((HERE / p).stat().st_size for p in files) < MAX_BYTES
    if shutil.which("git") is None:
        pytest.skip("git is not installed: cannot check .gitignore")
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *map(str, files)],
        cwd=HERE,
        capture_output=True,
        text=True,
    )
    if ignored.returncode == 128:
        pytest.skip(f"not a git checkout: {ignored.stderr.strip()}")
    assert ignored.stdout == "", f".gitignore excludes fake data: {ignored.stdout}"
