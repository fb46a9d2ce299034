"""The real-data scenes of benchmarks/prepare_data.py (skipped when ../shared/data is absent)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA  # tests/ is on sys.path (pytest rootdir conftest)

from est_stfm.inference.predict import predict_to_file
from est_stfm.io import read_raster
from est_stfm.methods import resolve_method
from est_stfm.scene import load_scene

REPO = Path(__file__).resolve().parents[2]

REAL_CASES = {
    "cia_e2starfm_3dates": "2001-11-02",
    "lgc_fsdaf_subset": "2004-12-28",
    "kranj_imagefusion_2020": "2020-04-02",
    "imagefusion_realset1_2016": "2016-08-30",
    "yanco_lst_ubestarfm_2016": "2016-03-08",
    "ifsdaf_ndvi_2015": "2015-12-26",
    "eolearn_s2_testeopatch_2015_2017": "2015-09-09",
}


def _load_script(name: str):
    """Import a script of benchmarks/ as a module (registered, as dataclasses need)."""
    key = f"_benchmarks_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.filterwarnings("ignore::est_stfm.io.raster.GeoreferencingWarning")
@pytest.mark.parametrize(("name", "target"), sorted(REAL_CASES.items()))
def test_real_dataset_scene(name, target, tmp_path):
    if not (SHARED_DATA / name).is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA / name} is absent")
    prepare_data = _load_script("prepare_data")
    done = prepare_data.prepare(SHARED_DATA, tmp_path, [name], log=lambda _: None)
    assert name in done, f"{name} was skipped"
    record = done[name]
    scene = load_scene(tmp_path / name / "scene.yaml")
    assert target in record.pair_dates and len(record.pair_dates) >= 2
    assert record.coarse in ("real", "simulated") and record.data_range > 0
    assert 0 < record.ergas_ratio < 1 and scene.bands == len(record.bands)
    out = tmp_path / "pred.tif"
    predict_to_file(scene, target, resolve_method("naive-change"), out)
    pred, valid = read_raster(out, scene.scale)
    truth, truth_valid = scene.read_fine(target)
    assert pred.shape == truth.shape and (valid & truth_valid).mean() > 0.5
    assert np.isfinite(pred[:, valid]).all()
    err = np.sqrt(np.mean((pred - truth)[:, valid & truth_valid] ** 2))
    assert err < 0.3 * record.data_range  # a sane baseline, not a unit mix-up
