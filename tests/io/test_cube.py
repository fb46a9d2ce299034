"""Data cubes: zarr and netCDF that xarray opens with the right time, x, y, CRS and transform,
and a season's cube holding the fused files and the fine observations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import rasterio
import xarray as xr
from helpers import make_grid
from season_helpers import COARSE_ONLY, DATES, FINE, make_season_scene

from est_stfm.errors import EstStfmError
from est_stfm.inference.season import predict_season, write_season_cube
from est_stfm.io import read_raster
from est_stfm.io.cube import Layer, check_cube_path, need_module, write_cube
from est_stfm.methods import resolve_method
from est_stfm.scene import load_scene

DAYS = [dt.date(2020, 3, 8), dt.date(2020, 3, 9), dt.date(2020, 3, 17)]


def _reader(k: int):
    """A layer whose value is ``k + band / 10 + row / 1000``, invalid in the first column."""

    def read(window):
        rows = np.arange(window.row_off, window.row_off + window.height)
        values = np.empty((3, window.height, window.width), np.float32)
        for b in range(3):
            values[b] = (k + b / 10 + rows / 1000)[:, None]
        valid = np.ones((window.height, window.width), bool)
        if window.col_off == 0:
            valid[:, 0] = False
        return values, valid

    return read


@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_cube_opens_with_time_coordinates_crs_and_transform(tmp_path, suffix):
    grid = make_grid(width=37, height=29, bands=3)
    layers = [
        Layer(DAYS[0], _reader(0), "fine"),
        Layer(DAYS[1], _reader(1), "fused", (DAYS[0], DAYS[2])),
        Layer(DAYS[2], _reader(2), "fine"),
    ]
    path = write_cube(tmp_path / f"season{suffix}", grid, layers, attrs={"method": "m"}, chunk=16)
    with xr.open_dataset(path) as ds:
        cube = ds["reflectance"]
        assert cube.dims == ("time", "band", "y", "x")
        assert [np.datetime64(d, "D") for d in DAYS] == list(ds.time.values.astype("M8[D]"))
        assert list(ds.source.values) == ["fine", "fused", "fine"]
        assert list(ds.references.values) == ["", "2020-03-08 2020-03-17", ""]
        assert ds.x.values[0] == 500_000.0 + 15.0 and ds.y.values[0] == 4_800_000.0 - 15.0
        assert np.allclose(np.diff(ds.x.values), 30.0) and np.allclose(np.diff(ds.y.values), -30)
        assert ds.rio.crs == grid.crs and cube.rio.crs == grid.crs
        assert tuple(cube.rio.transform())[:6] == tuple(grid.transform)[:6]
        assert cube.attrs["method"] == "m"
        assert list(cube.attrs["long_name"]) == ["b0", "b1", "b2"]
        values = cube.values
    assert np.isnan(values[:, :, :, 0]).all()
    expected = np.stack([_reader(k)(rasterio.windows.Window(1, 0, 36, 29))[0] for k in range(3)])
    np.testing.assert_array_equal(values[:, :, :, 1:], expected)


def test_a_cube_is_replaced_whole(tmp_path):
    grid = make_grid(width=20, height=20, bands=3)
    path = tmp_path / "c.zarr"
    write_cube(path, grid, [Layer(DAYS[0], _reader(0))])
    write_cube(path, grid, [Layer(DAYS[1], _reader(1)), Layer(DAYS[2], _reader(2))])
    with xr.open_dataset(path) as ds:
        assert ds.sizes["time"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.zarr"]


def test_cube_paths_and_missing_packages_are_one_line_errors(tmp_path):
    with pytest.raises(EstStfmError, match=r"\*\.zarr .* or \*\.nc"):
        check_cube_path(tmp_path / "season.tif")
    (tmp_path / "file.zarr").write_text("x")
    with pytest.raises(EstStfmError, match="is a file"):
        check_cube_path(tmp_path / "file.zarr")
    with pytest.raises(EstStfmError, match=r"pip install 'est-stfm\[cube\]'"):
        need_module("est_stfm_no_such_module")
    with pytest.raises(EstStfmError, match="at least one date"):
        write_cube(tmp_path / "empty.nc", make_grid(4, 4, 1), [])


def test_season_cube_holds_the_fused_files_and_the_fine_images(tmp_path):
    scene = load_scene(make_season_scene(tmp_path / "scene"))
    season = predict_season(scene, DATES, resolve_method("naive-change", scene), tmp_path / "out")
    path = write_season_cube(scene, season, tmp_path / "season.nc", method="naive-change")
    with xr.open_dataset(path) as ds:
        assert list(ds.time.values.astype("M8[D]").astype(dt.date)) == DATES
        cube = ds["reflectance"].load()
    for i, day in enumerate(DATES):
        if day in COARSE_ONLY:
            values, valid = read_raster(season.written[day], scene.scale)
            assert str(cube.source.values[i]) == "fused"
        else:
            assert day in FINE
            values, valid = scene.read_fine(day)
            assert str(cube.source.values[i]) == "fine"
        np.testing.assert_array_equal(cube.values[i], np.where(valid, values, np.nan))
