"""The demo's plumbing, end to end, at toy size (the full demo runs with `make demo`)."""

from __future__ import annotations

import json

import rasterio

from est_stfm.demo import run_demo


def test_demo_writes_prediction_table_and_figure(tmp_path):
    res = run_demo(tmp_path, minutes=0.05, size=64, model="est-stfm-tiny", progress=False)
    assert set(res.reports) == {"EST-STFM", "fsdaf", "naive-copy", "naive-change"}
    with rasterio.open(res.prediction) as ds:
        assert ds.crs is not None and ds.count == 6
    assert res.figure is not None and res.figure.stat().st_size > 10_000
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["naive-copy"]["overall"]["RMSE"] > 0
    assert "| EST-STFM |" in (tmp_path / "metrics.md").read_text()
    assert (
        res.target
        not in json.loads((tmp_path / "model" / "model.json").read_text())["training_dates"]
    )


def test_the_default_demo_fits_from_the_shipped_weights_and_shows_them_unfitted(tmp_path):
    res = run_demo(tmp_path, minutes=0.05, size=64, progress=False)
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["fit"]["init"] == "est-stfm-any-tiny-synth"
    assert meta["fit"]["base"] == "fsdaf+consistency"
    assert set(res.reports) == {
        "EST-STFM",
        "est-stfm-any-tiny-synth (no fit)",
        "fsdaf",
        "naive-copy",
        "naive-change",
    }
