"""Fit-FC (Wang & Atkinson 2018): known answers, tiling, bad input, the CLI on the tiny scene."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import cli

from est_stfm.errors import EstStfmError
from est_stfm.evaluation import read_reflectance
from est_stfm.inference.predict import fuse, predict_to_file
from est_stfm.methods import resolve_method
from est_stfm.methods.classic import CLASSIC_METHODS, FitFc, classic_method
from est_stfm.methods.classic.fsdaf import block_means, expand_blocks
from est_stfm.scene import load_scene

SLOPE = np.array([1.2, 0.9, 1.1], dtype=np.float32)[:, None, None]
OFFSET = np.array([0.03, -0.01, 0.0], dtype=np.float32)[:, None, None]


def _random(shape, seed=0, low=0.02, high=0.5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)))


def _coarse(fine: np.ndarray, factor: int) -> np.ndarray:
    """``fine`` as a coarse image (block means) resampled back onto the fine grid."""
    return expand_blocks(block_means(fine, factor), factor, fine.shape[1:]).astype(np.float32)


def _checkerboard(seed: int, size: int = 64) -> np.ndarray:
    """Two cover types in 6 px squares: every pixel has >= 20 of its own type in its 9 x 9
    window (away from the bottom and right edges, where the squares are cut to 4 px)."""
    y, x = np.mgrid[:size, :size]
    classes = ((y // 6) + (x // 6)) % 2
    return _random((3, 2), seed, 0.05, 0.5)[:, classes]


def test_no_coarse_change_gives_back_the_reference():
    f1, c1 = _random((3, 48, 48), 1), _random((3, 48, 48), 2)
    out = FitFc(8).predict(c1, f1, c1.copy())
    assert out.dtype == np.float32 and out.shape == f1.shape
    np.testing.assert_allclose(out, f1, atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_change_is_recovered(seed):
    f1 = _checkerboard(seed)
    c1 = _coarse(f1, 8)
    out = FitFc(8).predict(c1, f1, SLOPE * c1 + OFFSET)
    f2 = SLOPE * f1 + OFFSET
    # the squares cut at the bottom and right edges leave some pixels fewer than 20 of their
    # own type: the filter then mixes in the other type's change
    np.testing.assert_allclose(out[:, :60, :60], f2[:, :60, :60], atol=1e-4, rtol=0)
    exact = FitFc(8, ridge=0.0).predict(c1, f1, SLOPE * c1 + OFFSET)
    np.testing.assert_allclose(exact[:, :60, :60], f2[:, :60, :60], atol=1e-5, rtol=0)


def test_linear_change_on_random_texture_is_close():
    """Similar pixels that differ in F1 carry slightly different changes: close, not exact."""
    f1 = _random((3, 64, 64), 4)
    c1 = _coarse(f1, 8)
    out = FitFc(8).predict(c1, f1, SLOPE * c1 + OFFSET)
    f2 = SLOPE * f1 + OFFSET
    assert _rmse(out, f2) < 0.2 * _rmse(f1, f2)


def test_paper_filter_smooths_the_reference():
    f1, c1 = _random((3, 48, 48), 1), _random((3, 48, 48), 2)
    method = FitFc(8, target="prediction")
    out = method.predict(c1, f1, c1.copy())
    np.testing.assert_allclose(out, method.similar_filter(f1, f1), atol=1e-6)
    assert np.abs(out - f1).max() > 1e-3  # the paper's form averages F1 over similar pixels


def test_defaults_and_halo():
    method = FitFc(16)
    assert (method.block, method.similar, method.window) == (16, 20, 17)
    assert method.regression_window == 49 and method.residual_window == 17
    assert method.halo == 24 + 8
    assert FitFc(14.7).block == 15


def test_tiled_prediction_matches_the_whole_image(tiny_scene, tmp_path):
    """Every step is a moving window on the fine grid and the halo covers them all, so tiles
    equal one whole pass up to the int16 quantisation of the file (scale 1e-4)."""
    scene = load_scene(tiny_scene)
    d = scene.pairs_dates()
    method = resolve_method("fit-fc", scene)
    whole = fuse(scene, d[2], method, reference=d[1], pairs="1")
    out = tmp_path / "tiled.tif"
    written = predict_to_file(
        scene, d[2], method, out, reference=d[1], pairs="1", tile=24, overlap=6, halo=0
    )
    assert written.tiles > 1
    tiled, valid = read_reflectance(out)
    assert valid.all()
    np.testing.assert_allclose(tiled, whole.image, atol=0.5e-4 + 1e-6, rtol=0)


def test_bad_input_is_a_one_line_error():
    a = _random((2, 20, 20))
    cases = [
        (lambda: FitFc(0.5), ">= 1"),
        (lambda: FitFc("16"), "number"),  # type: ignore[arg-type]
        (lambda: FitFc(8, similar=0), "similar"),
        (lambda: FitFc(8, window=4), "odd"),
        (lambda: FitFc(8, regression_window=0), "odd"),
        (lambda: FitFc(8, ridge=-1.0), "ridge"),
        (lambda: FitFc(8, target="coarse"), "target"),
        (lambda: FitFc(8).predict(a, a, a[:, :10]), "resample"),
        (lambda: FitFc(8).predict(a, a[0], a), "band axis"),
        (lambda: FitFc(8).predict(a, a, np.full_like(a, np.nan)), "NaN"),
        (lambda: classic_method("fit-fc"), "coarse_factor"),
    ]
    for call, match in cases:
        with pytest.raises(EstStfmError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


def test_cli_predict_beats_naive_copy(tiny_scene, tmp_path, capsys):
    assert "fit-fc" in CLASSIC_METHODS
    scene = load_scene(tiny_scene)
    d = scene.pairs_dates()
    out = tmp_path / "fitfc.tif"
    args = ["--date", d[2], "--reference", d[1], "--pairs", "1", "--model", "fit-fc"]
    code, _, err = cli(capsys, "predict", tiny_scene, *args, "--out", out)
    assert code == 0, err
    image, valid = read_reflectance(out)
    truth, _ = scene.read_fine(d[2])
    copy = fuse(scene, d[2], resolve_method("naive-copy"), reference=d[1], pairs="1")
    assert valid.all() and image.shape == truth.shape
    assert _rmse(copy.image, truth) > 0.03  # a date with change
    assert _rmse(image, truth) < 0.9 * _rmse(copy.image, truth)
    code, listing, _ = cli(capsys, "models")
    assert code == 0 and "fit-fc" in listing
