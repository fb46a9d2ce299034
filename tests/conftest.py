"""Shared fixtures: a tiny synthetic scene on disk, and the path to the real data."""

from __future__ import annotations

from pathlib import Path

import pytest

from est_stfm.datasets import make_synthetic_scene

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_scene(tmp_path_factory) -> Path:
    """A 64x64, 4-date synthetic scene (coarse factor 8); the YAML path."""
    out = tmp_path_factory.mktemp("tiny_scene")
    dates = ["2001-05-08", "2001-05-24", "2001-06-09", "2001-06-25"]
    return make_synthetic_scene(out, height=64, width=64, dates=dates, factor=8, seed=3)
