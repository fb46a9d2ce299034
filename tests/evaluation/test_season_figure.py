"""The season figure's pieces: strip-wise thumbnails, sampled pixels, the output check."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from helpers import make_grid
from rasterio.windows import Window

from est_stfm.errors import EstStfmError
from est_stfm.evaluation.season_figure import (
    check_figure_path,
    sample_pixels,
    season_quicklook,
    thumbnail,
)
from est_stfm.io.cube import Layer

IMAGE = np.arange(3 * 150 * 70, dtype=np.float32).reshape(3, 150, 70)


def _read(window: Window):
    rows = slice(window.row_off, window.row_off + window.height)
    cols = slice(window.col_off, window.col_off + window.width)
    valid = np.ones(IMAGE.shape[1:], bool)
    valid[5, 6] = False
    return IMAGE[:, rows, cols], valid[rows, cols]


def test_thumbnail_is_every_nth_pixel_read_in_strips():
    grid = make_grid(width=70, height=150, bands=3)
    thumb = thumbnail(_read, grid, 3, [2, 0])  # strips of 63 rows: three of them
    assert thumb.shape == (2, 50, 24)
    np.testing.assert_array_equal(thumb, IMAGE[[2, 0], ::3, ::3])
    assert np.isnan(thumbnail(_read, grid, 1, [0])[0, 5, 6])


def test_sampled_pixels_go_from_dark_to_bright_and_skip_invalid():
    image = np.array([[3.0, np.nan, 1.0], [2.0, 5.0, 4.0]])
    picks = sample_pixels(image, 3)
    values = [image[r, c] for r, c in picks]
    assert values == sorted(values) and len(picks) == 3 and not np.isnan(values).any()
    assert sample_pixels(np.full((2, 2), np.nan), 3) == []


def test_figure_is_written_and_bad_names_refused(tmp_path):
    grid = make_grid(width=70, height=150, bands=3)
    days = [dt.date(2020, 3, d) for d in (8, 9, 10)]
    layers = [Layer(days[0], _read, "fine"), Layer(days[1], _read), Layer(days[2], _read, "fine")]
    out = season_quicklook(tmp_path / "s.png", layers, {d: _read for d in days}, grid)
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(EstStfmError, match=".png, .pdf or .svg"):
        check_figure_path(tmp_path / "s.gif")
