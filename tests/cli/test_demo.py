"""The demo's plumbing, end to end, at toy size (the full demo runs with `make demo`)."""

from __future__ import annotations

import json

import pytest
import rasterio

from est_stfm.demo import run_demo
from est_stfm.models.pretrained import DEFAULT_MODEL


def test_demo_writes_prediction_table_and_figure(tmp_path):
    res = run_demo(tmp_path, minutes=0.05, size=64, model="est-stfm-tiny", progress=False)
    est = next(name for name in res.reports if name.startswith("EST-STFM"))
    assert set(res.reports) - {est} == {"fsdaf", "naive-copy", "naive-change"}
    with rasterio.open(res.prediction) as ds:
        assert ds.crs is not None and ds.count == 6
    assert res.figure is not None and res.figure.stat().st_size > 10_000
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["naive-copy"]["overall"]["RMSE"] > 0
    assert f"| {est} |" in (tmp_path / "metrics.md").read_text()
    assert (
        res.target
        not in json.loads((tmp_path / "model" / "model.json").read_text())["training_dates"]
    )


def test_the_default_demo_fits_from_the_shipped_weights_and_shows_them_unfitted(tmp_path):
    res = run_demo(tmp_path, minutes=0.05, size=64, progress=False)
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["fit"]["init"] == DEFAULT_MODEL
    assert meta["fit"]["base"] == "fsdaf+consistency"
    est = next(name for name in res.reports if name.startswith("EST-STFM"))
    assert set(res.reports) - {est} == {
        f"{DEFAULT_MODEL} (no fit)",
        "fsdaf",
        "naive-copy",
        "naive-change",
    }
    kept_start = meta["metrics"]["best_epoch"] == 0  # from weights: kept them
    assert meta["pair_check"] == kept_start
    assert (est == "EST-STFM") == (not kept_start)  # a fit that kept its start says so
    if kept_start:  # then its prediction is the unfitted weights' (the same pair check)
        unfitted = res.reports[f"{DEFAULT_MODEL} (no fit)"].overall["RMSE"]
        assert res.reports[est].overall["RMSE"] == pytest.approx(unfitted, rel=1e-2)
