"""The formats of the real data: each dataset's files are read in place (or after a small
conversion into tmp_path), validated by load_scene and fused by naive-change into a valid file.

Every format is read twice: from its committed miniature under tests/data (made by
tests/data/make_data.py: same names, layout, dtypes and headers, a few fake pixels), which runs
everywhere, and from the real data of ../shared/data, which skips with a message when its folder
is absent. Only the real-data tests check numbers: their expected RMSEs are the naive-change
sanity numbers of each dataset's SOURCE.md (or close to them where the inputs differ slightly).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

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

TEST_DATA = Path(__file__).resolve().parent / "data"
FAKE = TEST_DATA / "shared"
"""The miniatures of ../shared/data, one folder per dataset."""


def dataset(name: str) -> Path:
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"real data not available: {folder} is absent")
    return folder


def make_data() -> ModuleType:
    """tests/data/make_data.py as a module: the values the fake files store."""
    key = "_tests_data_make_data"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, TEST_DATA / "make_data.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def stored(path: Path) -> np.ndarray:
    """A file's stored values as GDAL reads them."""
    with rasterio.open(path) as ds:
        return ds.read()


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


# --- CIA: float32 GeoTIFFs -----------------------------------------------------------------------


def cia_scene(folder: Path, tmp_path: Path) -> Scene:
    """The derived CIA GeoTIFFs, read in place."""
    derived = folder / "derived"
    days = ("20011008", "20011017", "20011102")
    scene_file = write_yaml(
        tmp_path / "scene.yaml",
        {
            "fine": {d: str(derived / f"L_{d}_50m.tif") for d in days},
            "coarse": {d: str(derived / f"M_{d}_50m.tif") for d in days},
        },
    )
    return load_scene(scene_file)


def test_cia_derived_geotiffs(tmp_path: Path) -> None:
    scene = cia_scene(dataset("cia_e2starfm_3dates"), tmp_path)
    assert scene.bands == 6 and scene.shape == (250, 250) and scene.grid.crs.to_epsg() == 32755
    pred, valid = predict(scene, "2001-11-02", tmp_path)
    assert rmse(scene, "2001-11-02", pred, valid) == pytest.approx(0.0452, abs=0.001)


def test_cia_derived_geotiffs_fake(tmp_path: Path) -> None:
    folder = FAKE / "cia_e2starfm_3dates"
    scene = cia_scene(folder, tmp_path)
    assert scene.bands == 6 and scene.shape == (10, 10) and scene.grid.crs.to_epsg() == 32755
    assert scene.grid.transform.a == 50.0 and scene.grid.descriptions[3] == "nir"
    values, valid = scene.read_coarse("2001-10-17")
    assert valid.all() and np.array_equal(values, stored(folder / "derived/M_20011017_50m.tif"))
    predict(scene, "2001-11-02", tmp_path)


# --- LGC (FSDAF subset): ENVI BSQ int16, read with and without the headers -----------------------


def lgc_scenes(original: Path, size: int, tmp_path: Path) -> tuple[Scene, Scene]:
    """The LGC files as headerless raw (``prepare lgc``) and in place through their ENVI
    headers; both read alike."""
    names = ["Landsat20041126", "Landsat20041228", "MODIS20041126", "MODIS20041228"]
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in names:  # the raw bytes without their headers
        try:
            os.symlink(original / name, raw / name)
        except OSError:  # no symbolic links here: a copy of the bytes
            shutil.copyfile(original / name, raw / name)
    with pytest.warns(GeoreferencingWarning):
        done = prepare_csiro("lgc", raw, tmp_path / "scene", rows=size, cols=size)
    scene = done.scene
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
    return scene, envi


def test_lgc_headerless_bsq_and_envi(tmp_path: Path) -> None:
    scene, _ = lgc_scenes(dataset("lgc_fsdaf_subset") / "original", 480, tmp_path)
    assert scene.bands == 3 and scene.shape == (480, 480)
    pred, valid = predict(scene, "2004-12-28", tmp_path)
    assert rmse(scene, "2004-12-28", pred, valid) == pytest.approx(0.0254, abs=0.001)


def test_lgc_headerless_bsq_and_envi_fake(tmp_path: Path) -> None:
    original = FAKE / "lgc_fsdaf_subset" / "original"
    scene, envi = lgc_scenes(original, 32, tmp_path)
    assert scene.bands == envi.bands == 3 and scene.shape == envi.shape == (32, 32)
    values, _ = envi.read_coarse("2004-11-26")  # through MODIS20041126.HDR
    np.testing.assert_allclose(values, stored(original / "MODIS20041126") * 1e-4, rtol=1e-6)
    predict(scene, "2004-12-28", tmp_path)


# --- IFSDAF: ENVI NDVI with CFMask, MODIS composites on their own grid ---------------------------


def ifsdaf_scene(original: Path, tmp_path: Path) -> tuple[Scene, dict[str, str]]:
    """Mostly clear Landsat NDVI dates with their CFMask and, per date, the band of the 16-day
    MODIS composite covering it; the scene and its masks."""
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
    assert scene.unit == "ndvi" and scene.bands == 1
    target = doy(2015, 360)
    assert scene.sources[("coarse", target)].placement is not None  # its own coarse grid
    cfmask = stored(Path(masks[target.isoformat()]))[0]
    assert np.array_equal(scene.read_fine(target)[1], np.isin(cfmask, (0, 1)))
    return scene, masks


def test_ifsdaf_ndvi_native_coarse_grid_and_cfmask(tmp_path: Path) -> None:
    original = dataset("ifsdaf_ndvi_2015") / "original"
    scene, masks = ifsdaf_scene(original, tmp_path)
    assert scene.shape == (552, 576)
    target = doy(2015, 360)
    image, valid = scene.read_coarse(target)  # 72 x 69 -> 576 x 552
    assert image.shape == (1, 552, 576) and valid.all()
    composite = np.fromfile(original / "MOD_16Day_ndvi", "<i2").reshape(23, 69, 72)[22] * 1e-4
    assert abs(float(image.mean()) - float(composite.mean())) < 0.01
    cfmask = np.fromfile(masks[target.isoformat()], "u1").reshape(552, 576)
    assert np.array_equal(scene.read_fine(target)[1], np.isin(cfmask, (0, 1)))
    pred, valid = predict(scene, target, tmp_path)
    assert rmse(scene, target, pred, valid) < 0.15


def test_ifsdaf_ndvi_native_coarse_grid_and_cfmask_fake(tmp_path: Path) -> None:
    original = FAKE / "ifsdaf_ndvi_2015" / "original"
    scene, _ = ifsdaf_scene(original, tmp_path)
    assert scene.shape == (16, 24)
    target = doy(2015, 360)
    image, valid = scene.read_coarse(target)  # 3 x 2 -> 24 x 16
    composite = np.fromfile(original / "MOD_16Day_ndvi", "<i2").reshape(23, 2, 3)[22] * 1e-4
    assert image.shape == (1, 16, 24) and valid.all()
    assert composite.min() - 1e-6 <= image.min() and image.max() <= composite.max() + 1e-6
    values, valid = scene.read_fine(doy(2015, 287))  # no CFMask: only -9999 is nodata
    ndvi = np.fromfile(original / "LC81260382015287LGN00_ndvi", "<i2").reshape(16, 24)
    assert np.array_equal(valid, ndvi != -9999)
    np.testing.assert_allclose(values[0][ndvi != -9999], ndvi[ndvi != -9999] * 1e-4, rtol=1e-6)
    predict(scene, target, tmp_path)


# --- Kranj: float32 GeoTIFFs, a scale per section ------------------------------------------------


def kranj_scene(original: Path, tmp_path: Path) -> Scene:
    """Unfilled Landsat x 10000 and daily MODIS 0-1: one scale per section."""
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
    return scene


def test_kranj_per_section_scale(tmp_path: Path) -> None:
    scene = kranj_scene(dataset("kranj_imagefusion_2020") / "original", tmp_path)
    pred, valid = predict(scene, "2020-03-17", tmp_path)
    assert rmse(scene, "2020-03-17", pred, valid) == pytest.approx(0.0186, abs=0.002)


def test_kranj_per_section_scale_fake(tmp_path: Path) -> None:
    original = FAKE / "kranj_imagefusion_2020" / "original"
    scene = kranj_scene(original, tmp_path)
    values, valid = scene.read_fine("2020-03-17")
    raw = stored(original / "landsat" / "unfilled" / "2020077_190-28_kranj.tif")
    assert np.flatnonzero(~valid).tolist() == [2 * 7 + 3, 5 * 7 + 6]  # the -3.4e38 gaps
    np.testing.assert_allclose(values[:, valid], raw[:, valid] * 1e-4, rtol=1e-6)
    values, _ = scene.read_coarse("2020-03-17")
    modis = stored(original / "modis" / "filled" / "2020077_18-04_kranj.tif")
    np.testing.assert_allclose(values, modis, rtol=1e-6)  # scale 1
    predict(scene, "2020-03-17", tmp_path)


# --- Yanco: float32 Kelvin GeoTIFFs in EPSG:4326 -------------------------------------------------


def yanco_scene(original: Path, tmp_path: Path) -> Scene:
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
    return scene


def test_yanco_lst_kelvin(tmp_path: Path) -> None:
    scene = yanco_scene(dataset("yanco_lst_ubestarfm_2016") / "original", tmp_path)
    pred, valid = predict(scene, "2016-03-08", tmp_path)
    assert rmse(scene, "2016-03-08", pred, valid) == pytest.approx(4.98, abs=0.05)


def test_yanco_lst_kelvin_fake(tmp_path: Path) -> None:
    original = FAKE / "yanco_lst_ubestarfm_2016" / "original"
    scene = yanco_scene(original, tmp_path)
    values, valid = scene.read_fine("2016-03-08")
    assert np.flatnonzero(~valid).tolist() == [3 * 8 + 4]  # nodata -3.4e38
    raw = stored(original / "Landsat_LST_cloudrm_20160308.tif")
    assert np.array_equal(values[:, valid], raw[:, valid]) and 290 < values[:, valid].min()
    assert len(scene.coarse) == 3 and scene.pairs_dates() == [
        dt.date(2016, 2, 5),
        dt.date(2016, 3, 8),
    ]
    predict(scene, "2016-03-08", tmp_path)


# --- ImageFusion real-set1: uint16 without georeferencing, scale + offset + two nodata -----------


def realset1_scene(original: Path, tmp_path: Path) -> Scene:
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
    return scene


def test_imagefusion_realset1_without_georeferencing(tmp_path: Path) -> None:
    scene = realset1_scene(dataset("imagefusion_realset1_2016") / "original", tmp_path)
    fine, _ = scene.read_fine("2016-08-23")
    assert 0.0 < float(fine.mean()) < 0.4
    pred, valid = predict(scene, "2016-08-30", tmp_path)
    assert rmse(scene, "2016-08-30", pred, valid) < 0.1  # SOURCE.md: 0.061, a hard case


def test_imagefusion_realset1_without_georeferencing_fake(tmp_path: Path) -> None:
    original = FAKE / "imagefusion_realset1_2016" / "original"
    scene = realset1_scene(original, tmp_path)
    values, valid = scene.read_fine("2016-08-23")
    dn = stored(original / "L_2016_236.tif").astype(np.float64)
    assert not valid[0, 0] and not valid[7, 7] and valid.sum() == 62  # DN 0 and 65535
    np.testing.assert_allclose(values[:, valid], dn[:, valid] * 2e-5 - 0.1, atol=1e-6)
    predict(scene, "2016-08-30", tmp_path)


# --- eo-learn: Sentinel-2 .npy stacks, a simulated coarse grid of its own ------------------------


def eolearn_scene(original: Path, tmp_path: Path) -> Scene:
    """The clear dates of the .npy stack as GeoTIFFs (EPSG:32633 from bbox.geojson) and a
    10 x 10 block mean on a native coarse grid."""
    stack = np.load(original / "REFERENCE_SCENES.npy")  # (5, rows, cols, 13) TOA 0-1
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
    coarse_grid = Grid(  # a native 100 m grid (the last row partial)
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
    assert scene.bands == 13 and scene.shape == (rows, cols)
    last = dt.date.fromisoformat(stamps[4][:10])
    assert scene.sources[("coarse", last)].placement is not None
    return scene


def test_eolearn_sentinel2_with_simulated_native_coarse(tmp_path: Path) -> None:
    scene = eolearn_scene(dataset("eolearn_s2_testeopatch_2015_2017") / "original", tmp_path)
    assert scene.bands == 13 and scene.shape == (101, 100)
    assert scene.sources[("coarse", dt.date(2015, 9, 9))].placement is not None
    pred, valid = predict(scene, "2015-09-09", tmp_path)
    assert rmse(scene, "2015-09-09", pred, valid) < 0.02  # SOURCE.md, block replicated: 0.0128


def test_eolearn_sentinel2_with_simulated_native_coarse_fake(tmp_path: Path) -> None:
    original = FAKE / "eolearn_s2_testeopatch_2015_2017" / "original"
    scene = eolearn_scene(original, tmp_path)
    assert scene.shape == (11, 10) and scene.grid.crs.to_epsg() == 32633
    values, valid = scene.read_fine("2015-08-20")
    stack = np.load(original / "REFERENCE_SCENES.npy")
    assert valid.all() and np.array_equal(values, stack[4].transpose(2, 0, 1))
    predict(scene, "2015-08-20", tmp_path)


# --- plain ENVI: every header naming, interleave and byte order ----------------------------------


def test_plain_envi_scene_fake(tmp_path: Path) -> None:
    """int16 BSQ/BIL/BIP fine images (``x.hdr`` and ``x.bil.hdr`` headers, a data ignore value)
    and float32 coarse ones on a 4x coarser grid (``X.HDR``, big endian) read as written."""
    envi, fake = TEST_DATA / "envi", make_data()
    scene = load_scene(envi / "scene.yaml")
    assert scene.bands == 4 and scene.shape == (8, 12) and scene.grid.crs.to_epsg() == 32755
    assert [d.isoformat() for d in scene.pairs_dates()] == list(fake.ENVI_DATES)
    for i, date in enumerate(fake.ENVI_DATES):
        values, valid = scene.read_fine(date)
        expected = fake.envi_fine(i) * 1e-4
        if i == 0:
            assert np.argwhere(~valid).tolist() == [list(p) for p in fake.ENVI_NODATA_PIXELS]
        np.testing.assert_allclose(values[:, valid], expected[:, valid], rtol=1e-6)
        assert scene.sources[("coarse", dt.date.fromisoformat(date))].placement is not None
        name = fake.ENVI_COARSE[i][0]
        coarse, coarse_valid = read_raster(envi / name)
        assert coarse_valid.all() and np.array_equal(coarse, fake.envi_coarse(i))
    predict(scene, fake.ENVI_DATES[-1], tmp_path)
