"""The consistency step: known answers, radiometry, masks, the method suffix in the registry."""

from __future__ import annotations

import numpy as np
import pytest

from est_stfm.datasets.degrade import (
    blur_and_block_average,
    degrade_to_coarse,
    upsample_nearest,
)
from est_stfm.datasets.synthetic import synthetic_series
from est_stfm.errors import EstStfmError
from est_stfm.evaluation import read_reflectance
from est_stfm.inference.predict import fuse, predict_to_file
from est_stfm.methods import resolve_method
from est_stfm.methods.classic import AddCoarseChange, Fsdaf, Starfm
from est_stfm.methods.consistency import (
    Consistent,
    fit_radiometry,
    make_consistent,
    masked_blocks,
)
from est_stfm.methods.registry import is_classic_name
from est_stfm.scene import load_scene

SIZE, FACTOR = 64, 8
ALL = np.ones((SIZE, SIZE), dtype=bool)


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def truth() -> tuple[np.ndarray, np.ndarray]:
    """Two dates of a synthetic landscape (3 bands, 64 x 64): ``(F1, F2)``."""
    series = synthetic_series(
        height=SIZE, width=SIZE, factor=FACTOR, dates=["2001-05-08", "2001-06-25"], seed=1
    )
    return series.fine[0, :3], series.fine[1, :3]


def _block_coarse(fine: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """A coarse sensor without blur: ``gain * block mean + offset``, repeated over the block."""
    blocks = blur_and_block_average(fine, FACTOR, psf_sigma=0.0) * gain + offset
    return upsample_nearest(blocks, fine.shape[1:], FACTOR).astype(np.float32)


def _psf_coarse(fine: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """A MODIS-like coarse sensor (PSF, block mean, bilinear back), no noise."""
    return degrade_to_coarse(fine, FACTOR, gain=gain, bias=offset, noise=0.0)


@pytest.mark.parametrize(("gain", "offset"), [(1.0, 0.0), (1.1, 0.02)])
def test_the_truth_is_left_alone(truth, gain, offset):
    f1, f2 = truth
    c1, c2 = _block_coarse(f1, gain, offset), _block_coarse(f2, gain, offset)
    out = make_consistent(f2, [(c1, f1)], c2, [ALL], FACTOR)
    assert out.dtype == np.float32 and out.shape == f2.shape
    assert np.abs(out - f2).max() < 1e-4
    # a blurred, bilinearly resampled coarse sensor: both changes are compared through the same
    # view, so the truth moves a little (its change has detail the coarse change lacks)
    c1, c2 = _psf_coarse(f1, gain, offset), _psf_coarse(f2, gain, offset)
    naive = f1 + c2 - c1
    moved = _rmse(make_consistent(f2, [(c1, f1)], c2, [ALL], FACTOR), f2)
    assert moved < 0.25 * _rmse(naive, f2)


def test_radiometry_recovers_the_coarse_gain_and_offset(truth):
    f1, _ = truth
    fit = fit_radiometry([(_psf_coarse(f1, 1.1, 0.02), f1)], [ALL], FACTOR)
    assert fit.resampled and fit.sigma == pytest.approx(FACTOR / 4)
    np.testing.assert_allclose(fit.gain.ravel(), 1.1, atol=1e-4)
    np.testing.assert_allclose(fit.offset.ravel(), 0.02, atol=1e-4)
    plain = fit_radiometry([(_block_coarse(f1, 0.9, -0.01), f1)], [ALL], FACTOR)
    assert (plain.sigma, plain.resampled) == (0.0, False)
    np.testing.assert_allclose(plain.gain.ravel(), 0.9, atol=1e-4)


def test_dates_with_different_offsets_do_not_bias_the_gain(truth):
    """Pooled over two dates whose coarse offsets differ, a plain regression would read the
    offset step as gain; each date is centred on its own means."""
    f1, f2 = truth
    pairs = [(_psf_coarse(f1, 1.1, 0.0), f1), (_psf_coarse(f2, 1.1, 0.06), f2)]
    fit = fit_radiometry(pairs, [ALL, ALL], FACTOR)
    np.testing.assert_allclose(fit.gain.ravel(), 1.1, atol=1e-4)


def test_naive_change_from_two_pairs_is_left_alone_without_a_gain(truth):
    """The anchor weighs the pairs as the two-pair methods do, so F1 + C2 - C1 blended over two
    pairs agrees with the coarse change exactly."""
    f1, f2 = truth
    f0 = np.clip(f1 * 0.9 + 0.01, 0, None)
    c0, c1, c2 = (_psf_coarse(f, 1.0, 0.0) for f in (f0, f2, f1))
    pairs, valid = [(c0, f0), (c1, f2)], [ALL, ALL]
    pred = AddCoarseChange().predict_pairs(pairs, c2, valid)
    out = make_consistent(pred, pairs, c2, valid, FACTOR, fit_gain=False)
    np.testing.assert_allclose(out, pred, atol=1e-5)


def test_masked_blocks_leave_invalid_pixels_out():
    image = np.ones((2, 16, 16), np.float32)
    image[:, :8, :8] = 100.0  # garbage under the mask
    valid = np.ones((16, 16), bool)
    valid[:8, :8] = False
    means, cover = masked_blocks(image, valid, 8)
    np.testing.assert_allclose(means[:, 0, 0], 0.0)
    np.testing.assert_allclose(means[:, 1, 1], 1.0, atol=1e-6)
    np.testing.assert_allclose(cover, [[0.0, 1.0], [1.0, 1.0]], atol=1e-6)


def test_a_bias_in_one_coarse_pixel_is_corrected(truth):
    f1, f2 = truth
    c1, c2 = _block_coarse(f1, 1.0, 0.0), _block_coarse(f2, 1.0, 0.0)
    biased = f2.copy()
    biased[:, 16:24, 24:32] += 0.05
    out = make_consistent(biased, [(c1, f1)], c2, [ALL], FACTOR)
    block = (slice(None), slice(16, 24), slice(24, 32))
    assert _rmse(out[block], f2[block]) < 0.6 * _rmse(biased[block], f2[block])
    assert _rmse(out, f2) < 0.7 * _rmse(biased, f2)


@pytest.mark.parametrize("method", [AddCoarseChange(), Starfm(), Fsdaf(FACTOR)])
def test_a_coarse_gain_and_offset_do_not_make_things_worse(truth, method):
    """A coarse sensor reading 1.1 x fine + 0.02: the regression on the reference pair takes it
    out, so the step does not push the prediction towards the coarse radiometry."""
    f1, f2 = truth
    c1, c2 = _psf_coarse(f1, 1.1, 0.02), _psf_coarse(f2, 1.1, 0.02)
    pred = method.predict(c1, f1, c2)
    out = Consistent(method, FACTOR).predict(c1, f1, c2)
    assert _rmse(out, f2) <= 1.01 * _rmse(pred, f2)
    # without the calibration, C2 - view(P) carries the sensors' offset and the step hurts
    uncalibrated = pred + (c2 - _psf_coarse(pred, 1.0, 0.0))
    assert _rmse(uncalibrated, f2) > 1.5 * _rmse(pred, f2)


def test_invalid_pixels_two_pairs_and_shapes(truth):
    f1, f2 = truth
    f0 = np.clip(f1 * 0.9, 0, None)
    c0, c1, c2 = (_psf_coarse(f, 1.0, 0.0) for f in (f0, f1, f2))
    v0, v1 = ALL.copy(), ALL.copy()
    v0[:20] = False  # a cloud in the first pair
    v1[:10, :10] = False  # and in the second, partly over it
    f1_cloudy = f1.copy()
    f1_cloudy[:, :10, :10] = 0.0
    method = Consistent(AddCoarseChange(), FACTOR)
    pred = method.base.predict_pairs([(c0, f0), (c1, f1_cloudy)], c2, [v0, v1])
    out = method.predict_pairs([(c0, f0), (c1, f1_cloudy)], c2, [v0, v1])
    assert out.shape == f2.shape and out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, :10, :10], pred[:, :10, :10])  # no pair valid there
    assert np.abs(out - pred)[:, 30:].max() > 0  # corrected where the pairs are valid


def test_name_halo_and_bands():
    method = Consistent(Fsdaf(FACTOR), FACTOR)
    assert method.name == "fsdaf+consistency"
    assert method.halo > Fsdaf(FACTOR).halo and method.bands is None
    with pytest.raises(EstStfmError, match=">= 1"):
        Consistent(AddCoarseChange(), 0.5)


def test_the_suffix_in_the_registry(tiny_scene):
    scene = load_scene(tiny_scene)
    for name in ("naive-change", "fsdaf", "blend"):
        method = resolve_method(f"{name}+consistency", scene)
        assert isinstance(method, Consistent) and method.name == f"{name}+consistency"
    assert is_classic_name("fsdaf+consistency") and is_classic_name("blend")
    assert not is_classic_name("est-stfm-small-stf6") and not is_classic_name("x+consistency")
    for spec, match in (("fsdaf+sharpen", "unknown suffix"), ("nope+consistency", "not found")):
        with pytest.raises(EstStfmError, match=match) as info:
            resolve_method(spec, scene)
        assert "\n" not in str(info.value)
    with pytest.raises(EstStfmError, match="coarse_factor") as info:
        resolve_method("naive-change+consistency")
    assert "\n" not in str(info.value)


def test_tiled_prediction_is_close_to_the_whole_image(tiny_scene, tmp_path):
    """The radiometry is fitted per tile and the blocks start at the tile's corner: tiles are
    close to one whole pass, not equal."""
    scene = load_scene(tiny_scene)
    d = scene.pairs_dates()
    method = resolve_method("naive-change+consistency", scene)
    whole = fuse(scene, d[2], method, reference=d[1], pairs="1")
    truth, _ = scene.read_fine(d[2])
    naive = fuse(scene, d[2], resolve_method("naive-change"), reference=d[1], pairs="1")
    assert _rmse(whole.image, truth) < 1.05 * _rmse(naive.image, truth)
    out = tmp_path / "tiled.tif"
    written = predict_to_file(
        scene, d[2], method, out, reference=d[1], pairs="1", tile=32, overlap=8
    )
    tiled, valid = read_reflectance(out)
    assert written.tiles > 1 and valid.all() and np.isfinite(tiled).all()
    assert _rmse(tiled, whole.image) < 0.2 * _rmse(naive.image, truth)
