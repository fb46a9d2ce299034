"""The command line, run as a real subprocess: happy paths and one-line user errors."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from est_stfm.scene import load_scene


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "est_stfm", *map(str, args)], capture_output=True, text=True
    )


def assert_user_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def _copy_scene(scene_yaml: Path, dest: Path) -> Path:
    shutil.copytree(scene_yaml.parent, dest)
    return dest / scene_yaml.name


def test_fit_predict_evaluate(tiny_scene, tmp_path):
    scene = yaml.safe_load(tiny_scene.read_text())
    dates = sorted(str(d) for d in scene["fine"])
    model_dir = tmp_path / "model"
    res = run(
        "fit",
        tiny_scene,
        "--out",
        model_dir,
        "--model",
        "est-stfm-tiny",
        "--epochs",
        "1",
        "--patch-size",
        "32",
        "--holdout",
        dates[2],
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    meta = json.loads((model_dir / "model.json").read_text())
    assert dates[2] not in meta["training_dates"]
    truth = load_scene(tiny_scene).fine[dt.date.fromisoformat(dates[2])]
    reports = {}
    for name, model in (("model", model_dir), ("naive", "naive-change")):
        pred = tmp_path / f"{name}.tif"
        res = run("predict", tiny_scene, "--date", dates[2], "--model", model, "--out", pred)
        assert res.returncode == 0, res.stderr
        out = tmp_path / f"{name}.json"
        res = run("evaluate", pred, truth, "--json", out, "--ratio", "0.125")
        assert res.returncode == 0, res.stderr
        for metric in ("RMSE", "SSIM", "SAM", "ERGAS", "CC", "PSNR"):
            assert metric in res.stdout
        reports[name] = json.loads(out.read_text())
        assert reports[name]["valid_pixels"] == 64 * 64
        assert reports[name]["overall"]["RMSE"] == pytest.approx(_rmse(pred, truth), rel=1e-6)
    # one epoch moves the model little from its naive-change base: never far worse than it
    assert reports["model"]["overall"]["RMSE"] <= 1.1 * reports["naive"]["overall"]["RMSE"]


def test_predict_on_one_or_two_threads_writes_the_same_image(tiny_scene, tmp_path):
    dates = [str(d) for d in load_scene(tiny_scene).dates]
    images = []
    for threads in ("1", "2"):
        pred = tmp_path / f"t{threads}.tif"
        res = run(
            "predict", tiny_scene, "--date", dates[2], "--model", "fsdaf", "--out", pred,
            "--threads", threads, "--quiet",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        with rasterio.open(pred) as src:
            images.append(src.read())
    np.testing.assert_array_equal(images[0], images[1])


def test_predict_strength_scales_the_correction_without_the_check(tiny_scene, tmp_path):
    target = str(load_scene(tiny_scene).dates[2])
    images = {}
    for name, extra in {
        "base": ["--model", "fsdaf+consistency"],
        "0": ["--strength", "0"],
        "0.5": ["--strength", "0.5"],
        "1": ["--strength", "1"],
    }.items():
        pred = tmp_path / f"{name}.tif"
        res = run("predict", tiny_scene, "--date", target, "--out", pred, "--quiet", *extra)
        assert res.returncode == 0, res.stderr
        if name != "base":
            assert f"x{name} (--strength, unchecked)" in res.stdout
        with rasterio.open(pred) as src:
            images[name] = src.read().astype(np.int32)
    # 0: the base itself (float32 inside the network's method: a stored unit off at most)
    differ = images["0"] != images["base"]
    assert np.abs(images["0"] - images["base"]).max() <= 1 and differ.mean() < 0.01
    assert np.abs(images["1"] - images["0"]).max() > 10  # the network corrects it
    half = (images["0"] + images["1"]) / 2  # stored values, rounded once more at 0.5
    assert np.abs(images["0.5"] - half).max() <= 1
    res = run("predict", tiny_scene, "--date", target, "--out", tmp_path / "f.tif",
              "--model", "fsdaf", "--strength", "0.5")  # fmt: skip
    assert_user_error(res, "--strength scales a network's correction", "fsdaf")
    assert not (tmp_path / "f.tif").exists()
    res = run("predict", tiny_scene, "--date", target, "--out", tmp_path / "g.tif",
              "--strength", "1.5")  # fmt: skip
    assert res.returncode == 2 and not (tmp_path / "g.tif").exists()


def _rmse(pred: Path, truth: Path) -> float:
    """Overall RMSE of two int16 files in reflectance, straight from their stored values."""
    with rasterio.open(pred) as p, rasterio.open(truth) as t:
        a, b = p.read().astype(np.float64) * p.scales[0], t.read().astype(np.float64) * t.scales[0]
        valid = np.all(p.read() != p.nodata, 0) & np.all(t.read() != t.nodata, 0)
    return float(np.sqrt(np.mean((a - b)[:, valid] ** 2)))


def test_models_lists_presets():
    res = run("models")
    assert res.returncode == 0, res.stderr
    for name in ("est-stfm-tiny", "est-stfm-small", "est-stfm-base"):
        assert name in res.stdout


def test_missing_scene_file(tmp_path):
    assert_user_error(
        run(
            "predict",
            tmp_path / "nope.yaml",
            "--date",
            "2001-01-01",
            "--model",
            "naive-copy",
            "--out",
            tmp_path / "p.tif",
        ),
        "nope.yaml",
    )


def test_date_not_in_scene(tiny_scene, tmp_path):
    out = tmp_path / "p.tif"
    assert_user_error(
        run("predict", tiny_scene, "--date", "1999-01-01", "--model", "naive-copy", "--out", out),
        "1999-01-01",
    )
    assert not out.exists()


def test_bad_date_text(tiny_scene, tmp_path):
    assert_user_error(
        run(
            "predict",
            tiny_scene,
            "--date",
            "May 5",
            "--model",
            "naive-copy",
            "--out",
            tmp_path / "p.tif",
        ),
        "YYYY-MM-DD",
    )


def test_grids_of_different_sizes(tiny_scene, tmp_path):
    path = _copy_scene(tiny_scene, tmp_path / "scene")
    scene = yaml.safe_load(path.read_text())
    fine = list(scene["fine"].items())
    name = fine[1][1]  # a fine image: coarse grids may differ (they are resampled)
    target = fine[-1][0]  # another date: a prediction never opens its target's fine image
    src = path.parent / name
    with rasterio.open(src) as ds:
        profile, data = ds.profile, ds.read()
    profile.update(width=data.shape[2] - 5)
    with rasterio.open(src, "w", **profile) as ds:
        ds.write(data[:, :, :-5])
    assert_user_error(
        run(
            "predict",
            path,
            "--date",
            str(target),
            "--model",
            "naive-copy",
            "--out",
            tmp_path / "p.tif",
        ),
        Path(name).name,
    )


def test_existing_output_is_kept_on_error(tiny_scene, tmp_path):
    out = tmp_path / "p.tif"
    out.write_bytes(b"precious")
    res = run("predict", tiny_scene, "--date", "1999-01-01", "--model", "naive-copy", "--out", out)
    assert res.returncode == 2
    assert out.read_bytes() == b"precious"


def test_unknown_model_and_bad_override(tiny_scene, tmp_path):
    assert_user_error(
        run(
            "predict",
            tiny_scene,
            "--date",
            "2001-05-24",
            "--model",
            tmp_path / "none",
            "--out",
            tmp_path / "p.tif",
        ),
        "not found",
    )
    assert_user_error(
        run(
            "fit", tiny_scene, "--out", tmp_path / "m", "--model", "est-stfm-huge", "--epochs", "1"
        ),
        "est-stfm-huge",
    )
    assert_user_error(
        run(
            "fit",
            tiny_scene,
            "--out",
            tmp_path / "m",
            "--model",
            "est-stfm-tiny",
            "--epochs",
            "1",
            "--set",
            "attention=banana",
        ),
        "attention",
    )


def test_evaluate_different_grids(tiny_scene, tmp_path):
    scene = yaml.safe_load(tiny_scene.read_text())
    a = tiny_scene.parent / next(iter(scene["fine"].values()))
    b = tmp_path / "small.tif"
    with rasterio.open(a) as ds:
        profile, data = ds.profile, ds.read()
    profile.update(height=32)
    with rasterio.open(b, "w", **profile) as ds:
        ds.write(data[:, :32])
    bands = data.shape[0]
    sizes = (f"{bands}x64x64", f"{bands}x32x64")  # bands x rows x cols of each
    assert_user_error(run("evaluate", a, b), "small.tif", *sizes)
