"""Reading and writing rasters: round trips, nodata handling, atomic writes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS

from est_stfm.errors import EstStfmError
from est_stfm.io import Grid, read_grid, read_raster, write_raster
from est_stfm.io.raster import has_valid_pixel, read_band, sample_values

SCALE = 0.0001


def make_grid(
    width: int = 40, height: int = 30, count: int = 3, dtype: str = "int16", nodata=-9999.0
) -> Grid:
    return Grid(
        crs=CRS.from_epsg(32655),
        transform=Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 4_800_000.0),
        width=width,
        height=height,
        count=count,
        dtype=dtype,
        nodata=nodata,
        descriptions=tuple(f"band{i}" for i in range(count)),
    )


def reflectance(grid: Grid, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 0.6, (grid.count, grid.height, grid.width)).astype(np.float32)


def assert_one_line(exc: pytest.ExceptionInfo, *names: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for name in names:
        assert name in message, f"{name!r} not in {message!r}"


def test_round_trip_keeps_georeferencing_and_values(tmp_path: Path) -> None:
    grid = make_grid()
    data = reflectance(grid)
    valid = np.ones(grid.shape, dtype=bool)
    valid[3, 4] = valid[10, 20] = False
    path = tmp_path / "out.tif"
    write_raster(path, data, grid, scale=SCALE, valid=valid)

    back = read_grid(path)
    assert back.same_grid(grid)
    assert back.crs == grid.crs
    assert back.transform == grid.transform
    assert back.descriptions == grid.descriptions
    assert back.nodata == -9999.0
    assert back.dtype == "int16"
    assert back.count == 3

    values, ok = read_raster(path, scale=SCALE)
    assert values.dtype == np.float32 and values.shape == data.shape
    assert ok.dtype == bool and np.array_equal(ok, valid)
    assert np.abs(values - data)[:, ok].max() <= SCALE  # within one quantisation step
    assert np.all(values[:, ~ok] == 0.0)


def test_written_file_is_tiled_compressed_and_records_scale(tmp_path: Path) -> None:
    grid = make_grid(width=300, height=280)
    path = tmp_path / "nested" / "dir" / "out.tif"  # parent folders are created
    write_raster(path, reflectance(grid), grid, scale=SCALE, tags={"note": "x"})
    with rasterio.open(path) as ds:
        assert ds.profile["tiled"] is True
        assert ds.block_shapes[0] == (256, 256)
        assert ds.compression.name.lower() == "deflate"
        assert ds.scales == (SCALE,) * 3
        assert float(ds.tags()["reflectance_scale"]) == SCALE
        assert ds.tags()["note"] == "x"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.tif"]  # no temporary left


def test_float_file_nodata_nan_and_inf_are_invalid_and_zeroed(tmp_path: Path) -> None:
    grid = make_grid(count=2, dtype="float32", nodata=-1.0)
    raw = np.full((2, grid.height, grid.width), 0.25, dtype=np.float32)
    raw[0, 0, 0] = -1.0  # nodata in one band only
    raw[1, 1, 1] = np.nan
    raw[0, 2, 2] = np.inf
    path = tmp_path / "f.tif"
    with rasterio.open(path, "w", **grid.profile()) as ds:
        ds.write(raw)
    values, ok = read_raster(path)
    assert np.isfinite(values).all()
    assert not ok[0, 0] and not ok[1, 1] and not ok[2, 2]
    assert ok.sum() == grid.width * grid.height - 3
    assert np.all(values[:, ~ok] == 0.0)
    assert np.allclose(values[:, ok], 0.25)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [("int16", -9999.0), ("int32", -9999.0), ("uint8", 255.0), ("uint16", 65535.0)],
)
def test_default_nodata_for_integer_grids_without_nodata(
    tmp_path: Path, dtype: str, expected: float
) -> None:
    grid = make_grid(count=1, dtype=dtype, nodata=None)
    data = np.full((1, grid.height, grid.width), 0.01, dtype=np.float32)
    valid = np.ones(grid.shape, dtype=bool)
    valid[0, 0] = False
    path = tmp_path / "d.tif"
    write_raster(path, data, grid, scale=SCALE, valid=valid)
    assert read_grid(path).nodata == expected
    values, ok = read_raster(path, scale=SCALE)
    assert not ok[0, 0] and ok.sum() == ok.size - 1
    assert np.allclose(values[:, ok], 0.01, atol=SCALE)


def test_default_nodata_for_float_grid_is_nan_never_zero(tmp_path: Path) -> None:
    grid = make_grid(count=1, dtype="float32", nodata=None)
    data = np.zeros((1, grid.height, grid.width), dtype=np.float32)  # zero is a valid value
    data[0, 5, 5] = np.nan  # not finite -> invalid
    path = tmp_path / "n.tif"
    write_raster(path, data, grid)
    assert np.isnan(read_grid(path).nodata)
    values, ok = read_raster(path)
    assert not ok[5, 5] and ok.sum() == ok.size - 1
    assert np.all(values == 0.0)


def test_all_valid_without_nodata_writes_no_nodata(tmp_path: Path) -> None:
    grid = make_grid(nodata=None)
    path = tmp_path / "v.tif"
    write_raster(path, reflectance(grid), grid, scale=SCALE)
    assert read_grid(path).nodata is None
    assert read_raster(path, scale=SCALE)[1].all()


def test_valid_value_colliding_with_nodata_is_nudged(tmp_path: Path) -> None:
    grid = make_grid(count=1)
    data = np.full((1, grid.height, grid.width), 0.1, dtype=np.float32)
    data[0, 0, 0] = -0.9999  # encodes to -9999, the nodata value
    path = tmp_path / "c.tif"
    write_raster(path, data, grid, scale=SCALE)
    with rasterio.open(path) as ds:
        assert ds.read(1)[0, 0] == -9998
    values, ok = read_raster(path, scale=SCALE)
    assert ok.all()
    assert values[0, 0, 0] == pytest.approx(-0.9998, abs=1e-6)


def test_integer_encoding_rounds_and_clips(tmp_path: Path) -> None:
    grid = make_grid(count=1, width=3, height=1)
    data = np.array([[[0.12344, 5.0, -7.0]]], dtype=np.float32)
    path = tmp_path / "r.tif"
    write_raster(path, data, grid, scale=SCALE)
    with rasterio.open(path) as ds:
        assert ds.read(1).tolist() == [[1234, 32767, -32768]]


def test_dtype_override_and_2d_input(tmp_path: Path) -> None:
    grid = make_grid()
    data = reflectance(grid)[0]
    path = tmp_path / "o.tif"
    write_raster(path, data, grid, dtype="float32", descriptions=["only"])
    back = read_grid(path)
    assert back.dtype == "float32" and back.count == 1 and back.descriptions == ("only",)
    values, _ = read_raster(path)
    assert np.array_equal(values[0], data)


def test_window_read_matches_slice(tmp_path: Path) -> None:
    grid = make_grid()
    path = tmp_path / "w.tif"
    write_raster(path, reflectance(grid), grid, scale=SCALE)
    full, full_ok = read_raster(path, scale=SCALE)
    part, part_ok = read_raster(path, scale=SCALE, window=((5, 15), (10, 30)))
    assert np.array_equal(part, full[:, 5:15, 10:30])
    assert np.array_equal(part_ok, full_ok[5:15, 10:30])
    with pytest.raises(EstStfmError) as exc:
        read_raster(path, window=((0, 100), (0, 5)))
    assert_one_line(exc, "w.tif", "window")


def test_failed_write_leaves_existing_file_intact(tmp_path: Path) -> None:
    grid = make_grid()
    path = tmp_path / "keep.tif"
    write_raster(path, reflectance(grid, seed=1), grid, scale=SCALE)
    before = path.read_bytes()

    wrong_shape = np.zeros((3, grid.height + 1, grid.width), dtype=np.float32)
    with pytest.raises(EstStfmError) as exc:
        write_raster(path, wrong_shape, grid, scale=SCALE)
    assert_one_line(exc, "keep.tif")
    with pytest.raises(EstStfmError):
        write_raster(path, reflectance(grid), grid, descriptions=["a", "b"])  # 2 names, 3 bands
    with pytest.raises(EstStfmError):
        write_raster(path, reflectance(grid), grid, valid=np.ones((2, 2), dtype=bool))

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.tif"]


def test_failure_after_writing_the_temporary_cleans_up(tmp_path: Path) -> None:
    grid = make_grid()
    target = tmp_path / "taken.tif"
    target.mkdir()  # the rename onto a directory fails after the temporary file was written
    (target / "inside.txt").write_text("untouched")
    with pytest.raises(EstStfmError) as exc:
        write_raster(target, reflectance(grid), grid, scale=SCALE)
    assert_one_line(exc, "taken.tif")
    assert (target / "inside.txt").read_text() == "untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.tif"]


def test_read_errors_are_one_line_and_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(EstStfmError) as exc:
        read_raster(tmp_path / "missing.tif")
    assert_one_line(exc, "missing.tif", "not found")
    text = tmp_path / "notes.tif"
    text.write_text("this is not a raster\nsecond line\n")
    with pytest.raises(EstStfmError) as exc:
        read_grid(text)
    assert_one_line(exc, "notes.tif")
    with pytest.raises(EstStfmError) as exc:
        read_raster(tmp_path)
    assert_one_line(exc, "directory")
    with pytest.raises(EstStfmError):
        read_raster(text, scale=0.0)


def test_damaged_pixel_data_names_the_failed_block(tmp_path: Path) -> None:
    """A file whose header reads but whose pixels are cut off: the error says what failed, not
    rasterio's "See previous exception for details"."""
    grid = make_grid(width=300, height=300)
    whole = tmp_path / "whole.tif"
    write_raster(whole, reflectance(grid), grid, scale=SCALE)
    cog = tmp_path / "cog.tif"  # header first, pixel blocks after it
    rasterio.shutil.copy(whole, cog, driver="COG")
    cut = tmp_path / "cut.tif"
    cut.write_bytes(cog.read_bytes()[: cog.stat().st_size // 2])
    read_grid(cut)  # the header is intact
    with pytest.raises(EstStfmError) as exc:
        read_raster(cut, scale=SCALE)
    assert_one_line(exc, "cut.tif", "IReadBlock failed")
    assert "previous exception" not in str(exc.value)


def test_same_grid_tolerance_crs_and_size() -> None:
    grid = make_grid()
    t = grid.transform
    nudged = Grid(**{**grid.__dict__, "transform": Affine(t.a, t.b, t.c + 1e-6, t.d, t.e, t.f)})
    shifted = Grid(**{**grid.__dict__, "transform": Affine(t.a, t.b, t.c + 15.0, t.d, t.e, t.f)})
    other_crs = Grid(**{**grid.__dict__, "crs": CRS.from_epsg(32755)})
    no_crs = Grid(**{**grid.__dict__, "crs": None})
    wider = Grid(**{**grid.__dict__, "width": grid.width + 1})
    more_bands = Grid(**{**grid.__dict__, "count": 7, "dtype": "float32"})
    assert grid.same_grid(nudged)
    assert grid.same_grid(more_bands)  # band count and dtype are not part of the grid
    assert not grid.same_grid(shifted)
    assert not grid.same_grid(other_crs)
    assert not grid.same_grid(no_crs)
    assert not grid.same_grid(wider)
    assert no_crs.same_grid(no_crs)


def test_data_layer_does_not_import_torch() -> None:
    code = (
        "import sys, est_stfm.io, est_stfm.scene, est_stfm.datasets; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_offset_bands_extra_nodata_and_valid_range(tmp_path: Path) -> None:
    grid = make_grid(count=3, dtype="uint16", nodata=None)
    raw = np.full((3, grid.height, grid.width), 10_000, np.uint16)
    raw[:, 0, 0] = 0  # fill
    raw[2, 1, 1] = 65535  # saturated in band 3 only
    raw[1, 2, 2] = 6000  # 0.02 in band 2: outside valid_range
    path = tmp_path / "u.tif"
    with rasterio.open(path, "w", **grid.profile()) as ds:
        ds.write(raw)
    values, ok = read_raster(path, 2e-5, offset=-0.1, nodata=[0, 65535], valid_range=(0.05, 1.5))
    assert not ok[0, 0] and not ok[1, 1] and not ok[2, 2] and ok.sum() == ok.size - 3
    assert np.allclose(values[:, ok], 0.1, atol=1e-6) and np.all(values[:, ~ok] == 0)
    first, first_ok = read_raster(path, 2e-5, offset=-0.1, bands=[1], nodata=[0, 65535])
    assert first.shape == (1, grid.height, grid.width)
    assert not first_ok[0, 0] and first_ok[1, 1]  # band 3's saturation is not read
    with pytest.raises(EstStfmError) as exc:
        read_raster(path, bands=[4])
    assert_one_line(exc, "u.tif", "band 4")
    with pytest.raises(EstStfmError):
        read_raster(path, offset=float("nan"))


def test_write_with_offset_round_trips(tmp_path: Path) -> None:
    grid = make_grid(count=2, dtype="uint16", nodata=None)
    data = reflectance(grid) - 0.05  # some negative values: the offset makes them storable
    path = tmp_path / "o.tif"
    write_raster(path, data, grid, scale=2e-5, offset=-0.1)
    with rasterio.open(path) as ds:
        assert ds.offsets == (-0.1, -0.1) and ds.scales == (2e-5, 2e-5)
        assert float(ds.tags()["reflectance_offset"]) == -0.1
    values, ok = read_raster(path, 2e-5, offset=-0.1)
    assert ok.all() and np.abs(values - data).max() <= 2e-5


def test_envi_file_with_header_is_read(tmp_path: Path) -> None:
    grid = make_grid(count=2, dtype="int16", nodata=None)
    data = (reflectance(grid) * 10_000).astype(np.int16)
    path = tmp_path / "image.bsq"
    profile = {**grid.profile(), "driver": "ENVI"}
    for key in ("tiled", "blockxsize", "blockysize", "compress", "predictor"):
        profile.pop(key)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    assert (tmp_path / "image.hdr").exists()
    back = read_grid(path)
    assert back.same_grid(grid) and back.count == 2 and back.georeferenced
    values, ok = read_raster(path, SCALE, window=((2, 5), (3, 9)))
    assert ok.all() and np.allclose(values, data[:, 2:5, 3:9] * SCALE)


def test_sample_values_valid_pixel_and_read_band(tmp_path: Path) -> None:
    grid = make_grid(width=300, height=200, count=2, dtype="float32", nodata=-1.0)
    data = np.full((2, 200, 300), -1.0, np.float32)
    path = tmp_path / "s.tif"
    write_raster(path, data, grid, valid=np.zeros((200, 300), bool))
    assert sample_values(path).size == 0 and not has_valid_pixel(path, rows_per_read=64)
    data[:, 150, 7] = 0.5  # one valid pixel, outside the sampled windows
    write_raster(path, data, grid, valid=data[0] > 0)
    assert has_valid_pixel(path, rows_per_read=64)
    data[:] = 0.25
    write_raster(path, data, grid)
    sample = sample_values(path, scale=2.0, offset=1.0)
    assert 0 < sample.size <= 2 * 16 * 32 * 32 and np.allclose(sample, 1.5)
    band = read_band(path, 2, window=((0, 3), (0, 4)))
    assert band.shape == (3, 4) and band.dtype == np.float32


def test_grid_georeferencing_properties() -> None:
    grid = make_grid()
    assert grid.has_transform and grid.georeferenced
    bare = Grid(**{**grid.__dict__, "crs": None, "transform": Affine.identity()})
    assert not bare.has_transform and not bare.georeferenced
    local = Grid(**{**grid.__dict__, "crs": CRS.from_wkt('LOCAL_CS["Arbitrary",UNIT["metre",1]]')})
    assert local.has_transform and not local.georeferenced
