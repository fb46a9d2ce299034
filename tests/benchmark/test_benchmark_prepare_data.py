"""benchmarks/prepare_data.py: every dataset's converter on its committed miniature
(tests/data/shared, made by tests/data/make_data.py: runs everywhere), and on the real data of
../shared/data (skipped with a message where that folder is absent)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from conftest import SHARED_DATA  # tests/ is on sys.path (pytest rootdir conftest)

from est_stfm.inference.predict import predict_to_file
from est_stfm.io import read_raster
from est_stfm.methods import resolve_method
from est_stfm.scene import Scene, load_scene

REPO = Path(__file__).resolve().parents[2]
FAKE_DATA = REPO / "tests" / "data" / "shared"

REAL_CASES = {
    "cia_e2starfm_3dates": "2001-11-02",
    "lgc_fsdaf_subset": "2004-12-28",
    "kranj_imagefusion_2020": "2020-04-02",
    "imagefusion_realset1_2016": "2016-08-30",
    "yanco_lst_ubestarfm_2016": "2016-03-08",
    "ifsdaf_ndvi_2015": "2015-12-26",
    "eolearn_s2_testeopatch_2015_2017": "2015-09-09",
}

FAKE_CASES = {  # name: (pair dates, (rows, columns), bands)
    "cia_e2starfm_3dates": (["2001-10-08", "2001-10-17", "2001-11-02"], (10, 10), 6),
    "lgc_fsdaf_subset": (["2004-11-26", "2004-12-28"], (32, 32), 3),
    "kranj_imagefusion_2020": (["2020-03-08", "2020-03-17", "2020-04-02"], (6, 7), 6),
    "imagefusion_realset1_2016": (["2016-08-07", "2016-08-23", "2016-08-30"], (8, 8), 4),
    "yanco_lst_ubestarfm_2016": (["2016-02-05", "2016-03-08"], (8, 8), 1),
    "ifsdaf_ndvi_2015": (
        ["2015-04-14", "2015-08-04", "2015-09-05", "2015-10-14", "2015-12-10", "2015-12-26"],
        (16, 24),
        1,
    ),
    "eolearn_s2_testeopatch_2015_2017": (["2015-07-31", "2015-08-10", "2015-08-20"], (10, 10), 10),
}
"""What each miniature becomes: DOY 191, 200 and 239 of ifsdaf are too cloudy; eolearn's 11 rows
are cropped to whole 10 x 10 coarse pixels."""

pytestmark = [
    pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning"),
    pytest.mark.filterwarnings("ignore::est_stfm.io.raster.GeoreferencingWarning"),
]


def _load_script(name: str):
    """Import a script of benchmarks/ as a module (registered, as dataclasses need)."""
    key = f"_benchmarks_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def prepared(data: Path, name: str, out: Path):
    """``prepare`` one dataset of ``data`` into ``out``: its record and loaded scene."""
    prepare_data = _load_script("prepare_data")
    reasons: list[str] = []
    done = prepare_data.prepare(data, out, [name], log=reasons.append)
    assert name in done, f"{name} was skipped: {reasons}"
    return done[name], load_scene(out / name / "scene.yaml")


def check_naive_change(scene: Scene, target: str, data_range: float, out: Path) -> None:
    """naive-change predicts the target into a file on the scene's grid, with a sane error."""
    pred_path = out / "pred.tif"
    predict_to_file(scene, target, resolve_method("naive-change"), pred_path)
    pred, valid = read_raster(pred_path, scene.scale)
    truth, truth_valid = scene.read_fine(target)
    assert pred.shape == truth.shape and (valid & truth_valid).mean() > 0.5
    assert np.isfinite(pred[:, valid]).all()
    err = np.sqrt(np.mean((pred - truth)[:, valid & truth_valid] ** 2))
    assert err < 0.3 * data_range  # a sane baseline, not a unit mix-up


@pytest.mark.parametrize(("name", "target"), sorted(REAL_CASES.items()))
def test_real_dataset_scene(name, target, tmp_path):
    if not (SHARED_DATA / name).is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA / name} is absent")
    record, scene = prepared(SHARED_DATA, name, tmp_path)
    assert target in record.pair_dates and len(record.pair_dates) >= 2
    assert record.coarse in ("real", "simulated") and record.data_range > 0
    assert 0 < record.ergas_ratio < 1 and scene.bands == len(record.bands)
    check_naive_change(scene, target, record.data_range, tmp_path)


@pytest.mark.parametrize("name", sorted(FAKE_CASES))
def test_fake_dataset_scene(name, tmp_path):
    pair_dates, shape, bands = FAKE_CASES[name]
    record, scene = prepared(FAKE_DATA, name, tmp_path)
    assert record.pair_dates == pair_dates and record.name == name
    assert scene.shape == shape and scene.bands == bands == len(record.bands)
    assert record.coarse in ("real", "simulated") and 0 < record.ergas_ratio < 1
    written = yaml.safe_load((tmp_path / name / "dataset.yaml").read_text(encoding="utf-8"))
    assert written["pair_dates"] == pair_dates and written["converted"] == record.converted
    for converted in record.converted:  # written beside the scene, never beside the data
        assert (tmp_path / name / converted).is_file()
    assert not list(FAKE_DATA.rglob("*.aux.xml"))
    check_naive_change(scene, pair_dates[-1], record.data_range, tmp_path)


def read_source(path: Path) -> np.ndarray:
    """The stored values of a miniature's file, as GDAL reads them."""
    with rasterio.open(path) as ds:
        return ds.read()


def test_fake_conversions_keep_values_and_nodata(tmp_path):
    """What each converter does to the values: scale, nodata, masks, crop, measured range."""
    kranj = FAKE_DATA / "kranj_imagefusion_2020" / "original" / "landsat" / "unfilled"
    _, scene = prepared(FAKE_DATA, "kranj_imagefusion_2020", tmp_path)
    values, valid = scene.read_fine("2020-03-17")  # DOY 77: two gaps
    raw = read_source(kranj / "2020077_190-28_kranj.tif")
    assert np.flatnonzero(~valid).tolist() == [2 * 7 + 3, 5 * 7 + 6]
    np.testing.assert_allclose(values[:, valid], raw[:, valid] / 1e4, rtol=1e-6)

    realset1 = FAKE_DATA / "imagefusion_realset1_2016" / "original"
    _, scene = prepared(FAKE_DATA, "imagefusion_realset1_2016", tmp_path)
    values, valid = scene.read_fine("2016-08-23")  # DN 0 at (0, 0), 65535 at (7, 7)
    dn = read_source(realset1 / "L_2016_236.tif").astype(float)
    assert not valid[0, 0] and not valid[7, 7] and valid.sum() == 62
    np.testing.assert_allclose(values[:, valid], dn[:, valid] * 2e-5 - 0.1, atol=1e-4)

    ifsdaf = FAKE_DATA / "ifsdaf_ndvi_2015" / "original" / "Cloud"
    record, scene = prepared(FAKE_DATA, "ifsdaf_ndvi_2015", tmp_path)
    assert all(f"DOY {doy}" in record.notes for doy in (191, 200, 239))
    cfmask = read_source(ifsdaf / "LC81250382015360LGN00_mask")[0]
    ndvi = read_source(ifsdaf / "LC81250382015360LGN00_ndvi")[0]
    values, valid = scene.read_fine("2015-12-26")
    np.testing.assert_array_equal(valid, np.isin(cfmask, (0, 1)))
    np.testing.assert_allclose(values[0, valid], ndvi[valid] / 1e4, rtol=1e-6)

    eolearn = FAKE_DATA / "eolearn_s2_testeopatch_2015_2017" / "original"
    _, scene = prepared(FAKE_DATA, "eolearn_s2_testeopatch_2015_2017", tmp_path)
    stack = np.load(eolearn / "REFERENCE_SCENES.npy")
    stamps = json.loads((eolearn / "timestamps.json").read_text())
    assert stamps[4].startswith("2015-08-20")
    fine = stack[4, :10, :10, [1, 2, 3, 4, 5, 6, 7, 8, 11, 12]]  # rows cropped 11 -> 10
    np.testing.assert_array_equal(scene.read_fine("2015-08-20")[0], fine)
    coarse = scene.read_coarse("2015-08-20")[0]
    np.testing.assert_allclose(
        coarse, np.broadcast_to(fine.mean((1, 2), keepdims=True), fine.shape), rtol=1e-5
    )

    yanco = FAKE_DATA / "yanco_lst_ubestarfm_2016" / "original"
    record, _ = prepared(FAKE_DATA, "yanco_lst_ubestarfm_2016", tmp_path)
    lst = read_source(yanco / "Landsat_LST_cloudrm_20160308.tif")
    lst = lst[lst > 0]  # nodata -3.4e38 left out
    assert record.unit == "K" and record.data_range == round(float(lst.max() - lst.min()), 2)
