"""fuse_xarray: DataArrays as rioxarray opens them, a lazy dask result with the coarse series'
coordinates, equal bit for bit to the in-memory fusion, also on a dask.distributed cluster."""

from __future__ import annotations

import dask.array
import numpy as np
import pytest
import rioxarray
import xarray as xr
from season_helpers import DATES, FINE, make_season_scene

import est_stfm
from est_stfm.errors import EstStfmError
from est_stfm.inference.predict import fuse
from est_stfm.methods import resolve_method
from est_stfm.scene import load_scene


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    """``(scene, fine, coarse)``: the season scene and its series opened with rioxarray."""
    path = make_season_scene(tmp_path_factory.mktemp("season"))
    scene = load_scene(path)

    def series(images):
        days = sorted(images)
        arrays = [rioxarray.open_rasterio(images[d], mask_and_scale=True) for d in days]
        time = xr.DataArray(np.array(days, "datetime64[ns]"), dims="time", name="time")
        return xr.concat(arrays, dim=time)

    return scene, series(scene.fine), series(scene.coarse)


def _in_memory(scene, name):
    """Every date fused whole in memory by ``fuse``, NaN where invalid."""
    out = []
    for day in DATES:
        fused = fuse(scene, day, resolve_method(name, scene))
        out.append(np.where(fused.valid, fused.image, np.nan))
    return np.stack(out)


@pytest.mark.parametrize("name", ["naive-change", "fit-fc"])
def test_lazy_result_equals_the_in_memory_fusion(season, name):
    scene, fine, coarse = season
    result = est_stfm.fuse_xarray(fine, coarse, name, chunks=24, coarse_factor=8)
    assert isinstance(result.data, dask.array.Array)  # nothing computed yet
    assert result.data.chunks[2:] == ((24, 24), (24, 16))
    assert result.dims == ("time", "band", "y", "x")
    for dim in ("time", "band", "y", "x"):
        np.testing.assert_array_equal(result[dim].values, coarse[dim].values)
    assert result.rio.crs == coarse.rio.crs
    assert result.references.values[1] == f"{FINE[0]} {FINE[1]}"
    assert result.references.values[0] == f"{FINE[1]}"  # never the date itself
    got = result.compute(scheduler="synchronous")
    # fit-fc is exactly local within its halo and naive-change's two-pair blending window
    # (31 px) within the default halo of 16, so blocks give the whole-image values bit for bit
    np.testing.assert_array_equal(got.values, _in_memory(scene, name))


def test_a_halo_wider_than_the_scene_is_the_whole_scene(season):
    scene, fine, coarse = season
    result = est_stfm.fuse_xarray(fine, coarse, "naive-change", halo=100, chunks=16)
    got = result.compute(scheduler="synchronous").values
    np.testing.assert_array_equal(got, _in_memory(scene, "naive-change"))


def test_a_two_worker_cluster_gives_the_same_bits(season):
    """A real dask.distributed LocalCluster with 2 workers; threads (processes=False), because
    starting worker processes takes about 15 s on a loaded 2-core machine."""
    from dask.distributed import Client, LocalCluster

    scene, fine, coarse = season
    result = est_stfm.fuse_xarray(fine, coarse, "fit-fc", chunks=16, coarse_factor=8)
    plain = result.compute(scheduler="synchronous").values
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        on_cluster = result.compute().values
    np.testing.assert_array_equal(on_cluster, plain)
    np.testing.assert_array_equal(on_cluster, _in_memory(scene, "fit-fc"))


def test_bad_inputs_are_one_line_errors(season):
    _, fine, coarse = season
    with pytest.raises(EstStfmError, match="dims time, band, y, x"):
        est_stfm.fuse_xarray(fine.isel(time=0), coarse)
    with pytest.raises(EstStfmError, match="differ along x"):
        est_stfm.fuse_xarray(fine, coarse.isel(x=slice(0, 30)))
    with pytest.raises(EstStfmError, match="pairs '3'"):
        est_stfm.fuse_xarray(fine, coarse, pairs="3")
    with pytest.raises(EstStfmError, match="coarse_factor"):
        est_stfm.fuse_xarray(fine, coarse, "fsdaf")
    with pytest.raises(EstStfmError, match="no reference"):
        est_stfm.fuse_xarray(fine.isel(time=[0]), coarse)
