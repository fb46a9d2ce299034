"""`est-stfm evaluate` on GeoTIFFs: table, JSON, CSV, figure and the --mask option."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, make_grid

from est_stfm.evaluation import evaluate_arrays, evaluate_files, load_pair
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


def test_evaluate_files_matches_arrays(tmp_path: Path):
    pred, truth, valid, _ = _files(tmp_path)
    rep = evaluate_files(pred, truth, ergas_ratio=0.1)
    p, t, v = load_pair(pred, truth)
    np.testing.assert_array_equal(v, valid)
    np.testing.assert_equal(rep.to_dict(), evaluate_arrays(p, t, v, ergas_ratio=0.1).to_dict())


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
