"""Real data from ../shared/data: each dataset is read in place (or after a small conversion into
tmp_path), validated by load_scene and fused by naive-change into a valid file.

Each test skips with a message when its folder is absent. Expected RMSEs are the naive-change
sanity numbers of each dataset's SOURCE.md (or close to them where the inputs differ slightly).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from conftest import SHARED_DATA
from rasterio.crs import CRS

from est_stfm.datasets import prepare_csiro
from est_stfm.datasets.degrade import block_average
from est_stfm.inference.predict import predict_to_file
from est_stfm.io import GeoreferencingWarning, Grid, read_grid, read_raster, write_raster
from est_stfm.methods import resolve_method
from est_stfm.scene import Scene, load_scene

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def dataset(name: str) -> Path:
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"real data not available: {folder} is absent")
    return folder


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def doy(year: int, day: int) -> dt.date:
    return dt.date(year, 1, 1) + dt.timedelta(days=day - 1)


def predict(scene: Scene, date: str | dt.date, tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """naive-change into a GeoTIFF; checks the file and returns it decoded with its own
    offset metadata (so the check holds whether or not the writer records an offset)."""
    out = tmp_path / "pred.tif"
    predict_to_file(scene, date, resolve_method("naive-change"), out, pairs="1")
    grid = read_grid(out)
    assert grid.shape == scene.shape and grid.count == scene.bands
    with rasterio.open(out) as ds:
        offset = float(ds.offsets[0] or 0.0)
    pred, valid = read_raster(out, scene.scale, offset=offset)
    assert valid.mean() > 0.5 and np.isfinite(pred).all()
    return pred, valid


def rmse(scene: Scene, date: str | dt.date, pred: np.ndarray, valid: np.ndarray) -> float:
    truth, truth_valid = scene.read_fine(date)
    both = valid & truth_valid
    return float(np.sqrt(np.mean((pred - truth)[:, both] ** 2)))


def test_cia_derived_geotiffs(tmp_path: Path) -> None:
    derived = dataset("cia_e2starfm_3dates") / "derived"
    days = ("20011008", "20011017", "20011102")
    scene_file = write_yaml(
        tmp_path / "scene.yaml",
        {
            "fine": {d: str(derived / f"L_{d}_50m.tif") for d in days},
            "coarse": {d: str(derived / f"M_{d}_50m.tif") for d in days},
        },
    )
    scene = load_scene(scene_file)
    assert scene.bands == 6 and scene.shape == (250, 250) and scene.grid.crs.to_epsg() == 32755
    pred, valid = predict(scene, "2001-11-02", tmp_path)
    assert rmse(scene, "2001-11-02", pred, valid) == pytest.approx(0.0452, abs=0.001)


def test_lgc_headerless_bsq_and_envi(tmp_path: Path) -> None:
    original = dataset("lgc_fsdaf_subset") / "original"
    names = ["Landsat20041126", "Landsat20041228", "MODIS20041126", "MODIS20041228"]
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in names:  # the raw bytes without their headers
        try:
            os.symlink(original / name, raw / name)
        except OSError:
            pytest.skip("symbolic links are not available here")
    with pytest.warns(GeoreferencingWarning):
        done = prepare_csiro("lgc", raw, tmp_path / "scene", rows=480, cols=480)
    scene = done.scene
    assert scene.bands == 3 and scene.shape == (480, 480)
    assert scene.pairs_dates() == [dt.date(2004, 11, 26), dt.date(2004, 12, 28)]

    envi_file = write_yaml(  # the same files read in place through their ENVI headers
        tmp_path / "envi.yaml",
        {
            "scale": 0.0001,
            "fine": {n[-8:]: str(original / n) for n in names[:2]},
            "coarse": {n[-8:]: str(original / n) for n in names[2:]},
        },
    )
    with pytest.warns(GeoreferencingWarning, match="no georeferencing"):
        envi = load_scene(envi_file)
    for date in envi.pairs_dates():
        assert np.array_equal(envi.read_fine(date)[0], scene.read_fine(date)[0])
        assert np.array_equal(envi.read_coarse(date)[0], scene.read_coarse(date)[0])
    pred, valid = predict(scene, "2004-12-28", tmp_path)
    assert rmse(scene, "2004-12-28", pred, valid) == pytest.approx(0.0254, abs=0.001)


def test_ifsdaf_ndvi_native_coarse_grid_and_cfmask(tmp_path: Path) -> None:
    original = dataset("ifsdaf_ndvi_2015") / "original"
    # mostly clear Landsat dates (DOY), their folder and whether a CFMask file exists
    clear = {104: "Cloud", 248: "Cloud", 344: "Cloud", 360: "Cloud", 287: "."}
    fine, coarse, masks = {}, {}, {}
    for day_of_year, folder in clear.items():
        date = doy(2015, day_of_year).isoformat()
        path = sorted((original / folder).glob(f"LC8*2015{day_of_year:03d}LGN00_ndvi"))[0]
        fine[date] = str(path)
        if folder == "Cloud":
            masks[date] = str(path.with_name(path.name.replace("_ndvi", "_mask")))
        band = math.ceil(day_of_year / 16)  # the 16-day composite covering the date
        coarse[date] = {"path": str(original / "MOD_16Day_ndvi"), "bands": [band]}
    scene_file = write_yaml(
        tmp_path / "scene.yaml",
        {
            "unit": "ndvi",
            "scale": 0.0001,
            "nodata": -9999,
            "valid_range": [-1, 1],
            "masks": masks,
            "mask_valid_values": [0, 1],  # CFMask clear and water
            "fine": fine,
            "coarse": {"resampling": "bilinear", "images": coarse},
        },
    )
    with pytest.warns(GeoreferencingWarning, match="local coordinate system"):
        scene = load_scene(scene_file)
    assert scene.unit == "ndvi" and scene.bands == 1 and scene.shape == (552, 576)
    target = doy(2015, 360)
    assert scene.sources[("coarse", target)].placement is not None  # 72 x 69 -> 576 x 552
    image, valid = scene.read_coarse(target)
    assert image.shape == (1, 552, 576) and valid.all()
    composite = np.fromfile(original / "MOD_16Day_ndvi", "<i2").reshape(23, 69, 72)[22] * 1e-4
    assert abs(float(image.mean()) - float(composite.mean())) < 0.01
    cfmask = np.fromfile(masks[target.isoformat()], "u1").reshape(552, 576)
    assert np.array_equal(scene.read_fine(target)[1], np.isin(cfmask, (0, 1)))
    pred, valid = predict(scene, target, tmp_path)
    assert rmse(scene, target, pred, valid) < 0.15


def test_kranj_per_section_scale(tmp_path: Path) -> None:
    original = dataset("kranj_imagefusion_2020") / "original"
    fine = {
        doy(2020, int(p.name[4:7])).isoformat(): str(p)
        for p in sorted((original / "landsat" / "unfilled").glob("2020*.tif"))
    }
    coarse = {
        doy(2020, int(p.name[4:7])).isoformat(): str(p)
        for p in sorted((original / "modis" / "filled").glob("2020*.tif"))
    }
    scene_file = write_yaml(
        tmp_path / "scene.yaml",
        {
            "fine": {"scale": 0.0001, "images": fine},  # Landsat x 10000
            "coarse": {"scale": 1, "images": coarse},  # MODIS 0-1
        },
    )
    scene = load_scene(scene_file)
    assert len(scene.fine) == 4 and len(scene.coarse) == 26 and len(scene.pairs_dates()) == 3
    assert scene.grid.georeferenced and not scene.read_fine("2020-03-17")[1].all()  # gaps
    pred, valid = predict(scene, "2020-03-17", tmp_path)
    assert rmse(scene, "2020-03-17", pred, valid) == pytest.approx(0.0186, abs=0.002)


def test_yanco_lst_kelvin(tmp_path: Path) -> None:
    original = dataset("yanco_lst_ubestarfm_2016") / "original"
    scene_file = write_yaml(
        tmp_path / "scene.yaml",
        {
            "unit": "kelvin",
            "fine": {
                d: str(original / f"Landsat_LST_cloudrm_{d}.tif") for d in ("20160205", "20160308")
            },
            "coarse": {
                d: str(original / f"MOD11A1_LST_cloudrm_{d}.tif")
                for d in ("20160205", "20160218", "20160308")
            },
        },
    )
    scene = load_scene(scene_file)
    assert scene.unit == "kelvin" and scene.grid.crs.to_epsg() == 4326
    pred, valid = predict(scene, "2016-03-08", tmp_path)
    assert rmse(scene, "2016-03-08", pred, valid) == pytest.approx(4.98, abs=0.05)


def test_imagefusion_realset1_without_georeferencing(tmp_path: Path) -> None:
    original = dataset("imagefusion_realset1_2016") / "original"
    days = {"2016-08-07": 220, "2016-08-23": 236, "2016-08-30": 243}
    scene_file = write_yaml(
        tmp_path / "scene.yaml",
        {
            "fine": {  # Landsat-8 L1 DN -> TOA-like reflectance; 0 = fill, 65535 = saturated
                "scale": 2.0e-5,
                "offset": -0.1,
                "nodata": [0, 65535],
                "images": {d: str(original / f"L_2016_{n}.tif") for d, n in days.items()},
            },
            "coarse": {  # MODIS surface reflectance x 10000, already on the fine grid
                "scale": 0.0001,
                "images": {
                    d: str(original / f"M_2016_{n}-nearestneighbor.tif") for d, n in days.items()
                },
            },
        },
    )
    with pytest.warns(GeoreferencingWarning, match="no georeferencing"):
        scene = load_scene(scene_file)
    assert scene.grid.crs is None and scene.offset == -0.1
    fine, _ = scene.read_fine("2016-08-23")
    assert 0.0 < float(fine.mean()) < 0.4
    pred, valid = predict(scene, "2016-08-30", tmp_path)
    assert rmse(scene, "2016-08-30", pred, valid) < 0.1  # SOURCE.md: 0.061, a hard case


def test_eolearn_sentinel2_with_simulated_native_coarse(tmp_path: Path) -> None:
    original = dataset("eolearn_s2_testeopatch_2015_2017") / "original"
    stack = np.load(original / "REFERENCE_SCENES.npy")  # (5, 101, 100, 13) TOA 0-1
    stamps = json.loads((original / "timestamps.json").read_text())
    ring = json.loads((original / "bbox.geojson").read_text())["coordinates"][0]
    west, north = min(p[0] for p in ring), max(p[1] for p in ring)
    _, rows, cols, bands = stack.shape
    fine_grid = Grid(
        CRS.from_epsg(32633),
        Affine(10.0, 0.0, west, 0.0, -10.0, north),
        cols,
        rows,
        bands,
        "float32",
        None,
        (),
    )
    factor = 10
    coarse_grid = Grid(  # a native 100 m grid: 10 x 11 pixels (the last row partial)
        fine_grid.crs,
        Affine(10.0 * factor, 0.0, west, 0.0, -10.0 * factor, north),
        math.ceil(cols / factor),
        math.ceil(rows / factor),
        bands,
        "float32",
        None,
        (),
    )
    fine, coarse = {}, {}
    for index in (2, 3, 4):  # the clear dates (SOURCE.md)
        date = stamps[index][:10]
        image = stack[index].transpose(2, 0, 1)
        fine[date] = tmp_path / f"s2_{date}.tif"
        coarse[date] = tmp_path / f"s2_{date}_coarse.tif"
        write_raster(fine[date], image, fine_grid)
        write_raster(coarse[date], block_average(image, factor), coarse_grid)
    scene_file = write_yaml(
        tmp_path / "scene.yaml",
        {
            "fine": {d: str(p) for d, p in fine.items()},
            "coarse": {d: str(p) for d, p in coarse.items()},
        },
    )
    scene = load_scene(scene_file)
    assert scene.bands == 13 and scene.shape == (101, 100)
    assert scene.sources[("coarse", dt.date(2015, 9, 9))].placement is not None
    pred, valid = predict(scene, "2015-09-09", tmp_path)
    assert rmse(scene, "2015-09-09", pred, valid) < 0.02  # SOURCE.md, block replicated: 0.0128
