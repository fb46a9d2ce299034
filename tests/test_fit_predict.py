"""Training and prediction end to end on a tiny synthetic scene written to disk."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import yaml
from helpers import cli

from est_stfm.errors import EstStfmError
from est_stfm.inference.predict import predict_to_file
from est_stfm.methods import resolve_method
from est_stfm.models.checkpoint import load_model
from est_stfm.scene import load_scene
from est_stfm.training import FitConfig, FitResult, fit
from est_stfm.training.losses import fusion_loss
from est_stfm.training.samples import PatchDataset, load_stack, split_scene


def test_short_fit_lowers_the_loss(tiny_scene, tmp_path):
    scene = load_scene(tiny_scene)
    holdout = scene.pairs_dates()[2]
    cfg = FitConfig(
        model="est-stfm-tiny",
        epochs=6,
        patch_size=32,
        batch_size=4,
        lr=2e-3,
        holdout=[holdout],
        warmup_steps=5,
        patience=100,
        validation="none",
    )
    # The loss of a fixed batch before and after training.
    dates = [d for d in scene.pairs_dates() if d != holdout]
    stack = load_stack(scene, dates)
    patches = PatchDataset([stack], [split_scene(stack, "none", 0)], 32, 8, seed=99)
    c1, f1, c2, f2, valid = (
        torch.from_numpy(np.stack([patches[i][k] for i in range(8)])) for k in range(5)
    )

    from est_stfm.models import create_model

    torch.manual_seed(cfg.seed)
    with torch.no_grad():  # the untrained model: exactly the naive 'fine + coarse change'
        before = float(fusion_loss(create_model("est-stfm-tiny", bands=6)(c1, f1, c2), f2, valid))
    model, result = fit(scene, tmp_path / "m", cfg, progress=False)
    with torch.no_grad():
        after = float(fusion_loss(model(c1, f1, c2), f2, valid))
    assert after < before
    assert holdout not in result.training_dates
    log = (tmp_path / "m" / "train_log.csv").read_text()
    assert log.count("\n") == result.metrics.epochs + 1
    reloaded, _ = load_model(tmp_path / "m")
    for (k, a), (_, b) in zip(
        model.state_dict().items(), reloaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k


def test_predict_writes_a_georeferenced_geotiff(tiny_scene, tmp_path):
    scene = load_scene(tiny_scene)
    target = scene.pairs_dates()[1]
    out = tmp_path / "pred.tif"
    fused = predict_to_file(scene, target, resolve_method("naive-change"), out, pairs="1")
    assert fused.reference != target
    with rasterio.open(scene.fine[target]) as ref, rasterio.open(out) as got:
        assert got.crs == ref.crs
        assert got.transform == ref.transform
        assert got.dtypes == ref.dtypes
        assert got.nodata == ref.nodata
        assert got.descriptions == ref.descriptions
        assert (got.width, got.height, got.count) == (ref.width, ref.height, ref.count)
    f1, _ = scene.read_fine(fused.reference)
    c1, _ = scene.read_coarse(fused.reference)
    c2, _ = scene.read_coarse(target)
    from est_stfm.evaluation import read_reflectance

    got, _ = read_reflectance(out)
    np.testing.assert_allclose(got, f1 + c2 - c1, atol=1e-4 + 1e-6)


def _scene_copy(tiny_scene: Path, folder: Path) -> tuple[Path, list[dt.date]]:
    """A copy of the tiny scene in ``folder`` (its files may then be broken); its dates."""
    shutil.copytree(tiny_scene.parent, folder)
    dates = sorted(
        dt.date.fromisoformat(str(d)) for d in yaml.safe_load(tiny_scene.read_text())["fine"]
    )
    return folder / tiny_scene.name, dates


def _garble(folder: Path, kind: str, day: dt.date) -> Path:
    """Replace the synthetic scene's ``kind`` image of ``day`` by bytes no reader can open."""
    path = folder / f"{kind}_{day.isoformat()}.tif"
    path.write_bytes(b"not a raster at all " * 50)
    return path


def test_fit_never_opens_the_held_out_fine_or_coarse_image(tiny_scene, tmp_path, capsys):
    scene_path, dates = _scene_copy(tiny_scene, tmp_path / "scene")
    held = dates[0]  # also the first fine date: the grid comes from the next one
    fine, coarse = (_garble(scene_path.parent, kind, held) for kind in ("fine", "coarse"))
    args = ["--model", "est-stfm-tiny", "--epochs", 1, "--patch-size", 32, "--threads", 1]
    out = tmp_path / "m"
    code, _, err = cli(capsys, "fit", scene_path, "--out", out, *args, "--holdout", held, "--quiet")
    assert code == 0, err
    result = FitResult.read(out)
    assert result.holdout == [held] and result.training_dates == dates[1:]
    # the held-out images are still broken: they were skipped, not read
    code, _, err = cli(capsys, "fit", scene_path, "--out", tmp_path / "n", *args, "--quiet")
    assert code == 2 and fine.name in err and len(err.splitlines()) == 1
    fine.unlink()
    coarse.unlink()
    again = tmp_path / "m2"
    code, _, err = cli(
        capsys, "fit", scene_path, "--out", again, *args, "--holdout", held, "--quiet"
    )
    assert code == 0, err  # a deleted held-out file is not needed either


def test_a_held_out_image_is_checked_only_when_someone_reads_it(tiny_scene, tmp_path):
    scene_path, dates = _scene_copy(tiny_scene, tmp_path / "scene")
    held = dates[1]
    fine = _garble(scene_path.parent, "fine", held)
    scene = load_scene(scene_path, hidden_fine=[held], hidden_coarse=[held])
    cfg = FitConfig(model="est-stfm-tiny", epochs=1, patch_size=32, threads=1, holdout=[held])
    _, result = fit(scene, tmp_path / "m", cfg, progress=False)
    assert held not in result.training_dates
    coarse, _ = scene.read_coarse(held)  # an intact hidden image reads as any other
    np.testing.assert_array_equal(coarse, load_scene(tiny_scene).read_coarse(held)[0])
    with pytest.raises(EstStfmError, match=fine.name) as exc:
        scene.read_fine(held)
    assert "\n" not in str(exc.value)


def test_predict_never_opens_the_target_fine_image(tiny_scene, tmp_path, capsys):
    scene_path, dates = _scene_copy(tiny_scene, tmp_path / "scene")
    target = dates[2]
    truth = _garble(scene_path.parent, "fine", target)  # listed to evaluate later, unreadable
    out = tmp_path / "pred.tif"
    args = ["--date", target, "--model", "naive-change", "--pairs", "1", "--out", out, "--quiet"]
    code, stdout, err = cli(capsys, "predict", scene_path, *args)
    assert code == 0, err
    assert f"-> {target}" in stdout
    from est_stfm.evaluation import read_reflectance

    intact = load_scene(tiny_scene)
    ref = intact.nearest_reference(target)
    expected = intact.read_fine(ref)[0] + intact.read_coarse(target)[0] - intact.read_coarse(ref)[0]
    np.testing.assert_allclose(read_reflectance(out)[0], expected, atol=1e-4 + 1e-6)
    truth.unlink()
    code, _, err = cli(capsys, "predict", scene_path, *args)
    assert code == 0, err  # a target without its fine file at all: the same
