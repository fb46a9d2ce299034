"""`est-stfm evaluate` on GeoTIFFs: table, JSON, CSV, figure and the --mask option."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import cli, make_grid

from est_stfm.errors import EstStfmError
from est_stfm.evaluation import evaluate_files
from est_stfm.io import write_raster


def _files(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.02, 0.5, (3, 24, 30)).astype(np.float32)
    pred = (truth + rng.normal(0, 0.02, truth.shape)).astype(np.float32)
    truth_valid = np.ones(truth.shape[1:], bool)
    truth_valid[0, :5] = False
    pred_valid = np.ones(truth.shape[1:], bool)
    pred_valid[-1, -3:] = False
    grid = make_grid(30, 24, 3)
    write_raster(tmp_path / "truth.tif", truth, grid, scale=1e-4, valid=truth_valid)
    write_raster(tmp_path / "pred.tif", pred, grid, scale=1e-4, valid=pred_valid)
    return tmp_path / "pred.tif", tmp_path / "truth.tif", truth_valid & pred_valid, grid


def test_evaluate_writes_json_csv_and_figure(tmp_path: Path, capsys):
    pytest.importorskip("matplotlib")
    pred, truth, valid, grid = _files(tmp_path)
    mask = np.ones(valid.shape, np.float32)
    mask[10:14, 3:20] = 0
    write_raster(tmp_path / "mask.tif", mask, make_grid(30, 24, 1))
    out = {name: tmp_path / f"m.{name}" for name in ("json", "csv", "png")}
    code, stdout, err = cli(
        capsys,
        "evaluate",
        pred,
        truth,
        "--json",
        out["json"],
        "--csv",
        out["csv"],
        "--figure",
        out["png"],
        "--mask",
        tmp_path / "mask.tif",
    )
    assert code == 0, err
    assert "UIQI" in stdout and "b2" in stdout  # band descriptions name the rows
    report = json.loads(out["json"].read_text())
    assert report["valid_pixels"] == int((valid & (mask > 0)).sum())
    rows = list(csv.DictReader(out["csv"].open()))
    assert [r["band"] for r in rows] == ["b0", "b1", "b2", "overall"]
    assert float(rows[-1]["RMSE"]) == pytest.approx(report["overall"]["RMSE"], rel=1e-12)
    assert out["png"].read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left
    unmasked = evaluate_files(pred, truth)
    assert unmasked.valid_pixels == valid.sum()


def _stored(path: Path, stored: np.ndarray, *, scale: float | None, dtype: str = "int16") -> Path:
    """Write ``stored`` as it is; band scales (and est-stfm's tag) only when ``scale`` is given."""
    bands, height, width = stored.shape
    grid = make_grid(width, height, bands)
    profile = {**grid.profile(), "dtype": dtype, "nodata": None}
    if not np.issubdtype(np.dtype(dtype), np.integer):
        profile.pop("predictor")
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(stored.astype(dtype))
        if scale is not None:
            ds.scales = (scale,) * bands
    return path


def _strict_json(text: str) -> dict:
    """``json.loads`` that refuses NaN and Infinity, which are not JSON."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_evaluate_files_match_a_hand_computation(tmp_path: Path):
    rng = np.random.default_rng(4)
    truth = rng.integers(200, 5000, (2, 9, 11))
    pred = truth + rng.integers(-300, 300, truth.shape)
    pred[:, 0, 0] = -9999  # nodata of the grid: left out
    pred_file = _stored(tmp_path / "pred.tif", pred, scale=1e-4)
    truth_file = _stored(tmp_path / "truth.tif", truth, scale=1e-4)
    with rasterio.open(pred_file, "r+") as ds:
        ds.nodata = -9999
    rep = evaluate_files(pred_file, truth_file, ergas_ratio=0.1)
    valid = np.ones(truth.shape[1:], bool)
    valid[0, 0] = False
    err = (pred - truth)[:, valid] * 1e-4
    assert rep.valid_pixels == valid.sum() == 98
    for b in range(2):
        band = rep.per_band[b]
        assert band["RMSE"] == pytest.approx(np.sqrt(np.mean(err[b] ** 2)), rel=1e-6)
        assert band["MAE"] == pytest.approx(np.mean(np.abs(err[b])), rel=1e-6)
        assert band["bias"] == pytest.approx(np.mean(err[b]), rel=1e-5, abs=1e-9)
        cc = np.corrcoef(pred[b][valid], truth[b][valid])[0, 1]
        assert band["CC"] == pytest.approx(cc, rel=1e-6)
    assert rep.overall["RMSE"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-6)


def test_integers_without_scale_metadata_need_a_scale(tmp_path: Path, capsys):
    rng = np.random.default_rng(5)
    truth = rng.integers(100, 9000, (3, 16, 16))
    truth[1, 4, 7] = 9123
    pred = np.clip(truth + rng.integers(-200, 200, truth.shape), 0, 9122)
    bare = _stored(tmp_path / "truth.tif", truth, scale=None)
    pred_file = _stored(tmp_path / "pred.tif", pred, scale=1e-4)
    for command in ("evaluate", "cluster"):
        code, out, err = cli(capsys, command, pred_file, bare)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and not out, err
        assert f"error: {bare} stores integers up to 9123 and has no scale metadata" in lines[0]
        assert "--scale 0.0001" in lines[0]
    with pytest.raises(EstStfmError, match="no scale metadata"):
        evaluate_files(pred_file, bare)
    scaled = _stored(tmp_path / "scaled.tif", truth, scale=1e-4)
    given = evaluate_files(pred_file, bare, scale=1e-4)
    np.testing.assert_equal(given.to_dict(), evaluate_files(pred_file, scaled).to_dict())
    assert given.overall["SSIM"] > 0.9


def test_other_units_are_read_as_they_are(tmp_path: Path):
    rng = np.random.default_rng(6)
    kelvin = rng.integers(270, 330, (1, 12, 12))
    warmer = _stored(tmp_path / "warm.tif", kelvin + 2, scale=None)
    rep = evaluate_files(warmer, _stored(tmp_path / "kelvin.tif", kelvin, scale=None))
    assert rep.overall["RMSE"] == pytest.approx(2.0) and rep.overall["bias"] == pytest.approx(2.0)
    ndvi = rng.uniform(-1, 1, (1, 12, 12))
    pred = _stored(tmp_path / "ndvi_pred.tif", ndvi * 0.5, scale=None, dtype="float32")
    rep = evaluate_files(pred, _stored(tmp_path / "ndvi.tif", ndvi, scale=None, dtype="float32"))
    expected = np.sqrt(np.mean((ndvi.astype(np.float32) * 0.5 - ndvi.astype(np.float32)) ** 2))
    assert rep.overall["RMSE"] == pytest.approx(expected, rel=1e-5)


def test_an_est_stfm_file_keeps_its_own_scale(tmp_path: Path):
    """est-stfm tags every file it writes, scale 1 included: ``--scale`` does not override it."""
    truth = np.full((1, 10, 10), 0.25, np.float32)
    grid = replace(make_grid(10, 10, 1), dtype="float32", nodata=None)
    write_raster(tmp_path / "truth.tif", truth, grid)
    write_raster(tmp_path / "pred.tif", truth + 0.01, grid)
    rep = evaluate_files(tmp_path / "pred.tif", tmp_path / "truth.tif", scale=1e-4)
    assert rep.overall["bias"] == pytest.approx(0.01, rel=1e-5)


def test_json_report_writes_null_for_undefined_metrics(tmp_path: Path, capsys):
    truth = np.stack([np.full((12, 12), 1000), np.arange(144).reshape(12, 12) * 10])
    pred = truth.copy()
    pred[1, 3, 3] += 7
    files = [_stored(tmp_path / n, a, scale=1e-4) for n, a in (("p.tif", pred), ("t.tif", truth))]
    code, _, err = cli(capsys, "evaluate", *files, "--json", tmp_path / "m.json")
    assert code == 0, err
    report = _strict_json((tmp_path / "m.json").read_text())
    assert report["per_band"][0]["CC"] is None  # a constant band has no correlation
    assert report["per_band"][0]["PSNR"] is None  # a perfect band: infinite PSNR
    assert report["per_band"][1]["CC"] == pytest.approx(1.0, abs=1e-4)


def test_bad_masks_are_one_line_errors(tmp_path: Path, capsys):
    pred, truth, _, _ = _files(tmp_path)
    write_raster(tmp_path / "small.tif", np.ones((20, 30), np.float32), make_grid(30, 20, 1))
    write_raster(tmp_path / "two.tif", np.ones((2, 24, 30), np.float32), make_grid(30, 24, 2))
    for mask, needle in (("small.tif", "one grid"), ("two.tif", "2 bands")):
        code, _, err = cli(capsys, "evaluate", pred, truth, "--mask", tmp_path / mask)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and needle in lines[0], err
    code, _, err = cli(capsys, "evaluate", pred, truth, "--figure", tmp_path / "f.xyz")
    assert code == 2 and "figure" in err
