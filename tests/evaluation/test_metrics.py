"""The metric suite against independent references and hand-computed cases."""

from __future__ import annotations

import csv
import io
import math
import warnings

import numpy as np
import pytest
import torch

from est_stfm.evaluation.metrics import (
    METRIC_NAMES,
    evaluate_arrays,
    spectral_angle,
    ssim_map,
    uiqi_map,
)
from est_stfm.evaluation.table import csv_text
from est_stfm.training.losses import ssim as torch_ssim


def _pair(seed: int = 0, shape=(4, 40, 37)):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.02, 0.5, shape).astype(np.float32)
    pred = (truth + rng.normal(0, 0.03, shape)).astype(np.float32)
    return pred, truth


def test_ssim_map_matches_scikit_image():
    from skimage.metrics import structural_similarity

    pred, truth = _pair()
    for b in range(pred.shape[0]):
        _, ref = structural_similarity(
            truth[b].astype(np.float64),
            pred[b].astype(np.float64),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            full=True,
        )
        np.testing.assert_allclose(ssim_map(pred[b], truth[b]), ref, atol=1e-6)


def test_sam_and_ergas_match_torchmetrics():
    from torchmetrics.functional.image import (
        error_relative_global_dimensionless_synthesis as tm_ergas,
    )
    from torchmetrics.functional.image import spectral_angle_mapper as tm_sam

    pred, truth = _pair(1)
    rep = evaluate_arrays(pred, truth, ergas_ratio=1 / 16)
    p, t = torch.from_numpy(pred)[None].double(), torch.from_numpy(truth)[None].double()
    assert rep.overall["SAM"] == pytest.approx(math.degrees(float(tm_sam(p, t))), rel=1e-6)
    # torchmetrics' `ratio` is our ratio inverted (it multiplies by 100 / ratio) ... its ERGAS uses
    # the per-band mean of the *prediction*? No: of the target; it takes ratio = high/low as a
    # divisor. We pass 16 so that 100 / 16 equals our 100 * (1 / 16).
    assert rep.overall["ERGAS"] == pytest.approx(float(tm_ergas(p, t, ratio=16)), rel=1e-5)


def test_hand_computed_tiny_case():
    truth = np.array([[[0.1, 0.2], [0.3, 0.4]], [[0.2, 0.2], [0.2, 0.2]]], np.float64)
    pred = truth.copy()
    pred[0, 0, 0] += 0.1  # one error of 0.1 in band 1
    rep = evaluate_arrays(pred, truth, ergas_ratio=0.5)
    assert rep.per_band[0]["RMSE"] == pytest.approx(math.sqrt(0.01 / 4))
    assert rep.per_band[1]["RMSE"] == 0.0
    assert rep.overall["RMSE"] == pytest.approx(math.sqrt(0.01 / 8))
    assert rep.overall["MAE"] == pytest.approx(0.1 / 8)
    assert rep.overall["bias"] == pytest.approx(0.1 / 8)
    assert rep.overall["PSNR"] == pytest.approx(10 * math.log10(1 / (0.01 / 8)))
    mean_b1 = 0.25
    ergas = 100 * 0.5 * math.sqrt(((0.01 / 4) / mean_b1**2 + 0) / 2)
    assert rep.overall["ERGAS"] == pytest.approx(ergas)
    angle = math.degrees(
        math.acos((0.2 * 0.1 + 0.2 * 0.2) / (math.hypot(0.2, 0.2) * math.hypot(0.1, 0.2)))
    )
    assert rep.overall["SAM"] == pytest.approx(angle / 4)
    assert rep.per_band[1]["PSNR"] == math.inf


def test_identical_images_are_perfect():
    _, truth = _pair(2)
    rep = evaluate_arrays(truth, truth)
    assert rep.overall["RMSE"] == 0
    assert rep.overall["SSIM"] == pytest.approx(1.0)
    assert rep.overall["CC"] == pytest.approx(1.0)
    assert rep.overall["SAM"] == pytest.approx(0.0, abs=1e-3)


def test_masked_pixels_are_ignored():
    pred, truth = _pair(3)
    valid = np.ones(truth.shape[1:], bool)
    valid[5:15, 3:20] = False
    wild = pred.copy()
    wild[:, ~valid] = 1e6  # garbage where invalid must not matter
    a = evaluate_arrays(pred, truth, valid)
    b = evaluate_arrays(wild, truth, valid)
    for k in a.overall:
        assert a.overall[k] == pytest.approx(b.overall[k], rel=1e-9), k
    assert a.valid_pixels == valid.sum()


def test_zero_norm_spectra_do_not_give_nan():
    pred, truth = _pair(4)
    pred[:, 0, :] = 0.0
    truth[:, 1, :] = 0.0
    sam = spectral_angle(pred, truth, np.ones(truth.shape[1:], bool))
    assert np.isfinite(sam)


def test_torch_ssim_agrees_with_metric_inside_the_border():
    pred, truth = _pair(5, (1, 48, 48))
    valid = torch.ones(1, 1, 48, 48)
    t = float(torch_ssim(torch.from_numpy(pred)[None], torch.from_numpy(truth)[None], valid))
    ref = ssim_map(pred[0], truth[0]).mean()
    assert t == pytest.approx(ref, abs=5e-3)  # only the 5-pixel border pads differently


def _q_reference(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Wang-Bovik Q by a plain double loop over 8x8 windows (sample statistics, as in the paper),
    with the documented conventions: fully valid windows only, 0/0 factors are 1."""
    out = np.full((x.shape[0] - 7, x.shape[1] - 7), np.nan)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            if not valid[i : i + 8, j : j + 8].all():
                continue
            a = x[i : i + 8, j : j + 8].astype(np.float64).ravel()
            b = y[i : i + 8, j : j + 8].astype(np.float64).ravel()
            ma, mb = a.mean(), b.mean()
            va = 0.0 if a.min() == a.max() else a.var(ddof=1)
            vb = 0.0 if b.min() == b.max() else b.var(ddof=1)
            cab = 0.0 if va == 0 or vb == 0 else ((a - ma) * (b - mb)).sum() / 63
            den = (va + vb) * (ma**2 + mb**2)
            if den > 0:
                out[i, j] = 4 * cab * ma * mb / den
            else:
                f_s = 2 * cab / (va + vb) if va + vb > 0 else 1.0
                f_m = 2 * ma * mb / (ma**2 + mb**2) if ma**2 + mb**2 > 0 else 1.0
                out[i, j] = f_s * f_m
    return out


def _masked_pair(seed: int = 6, shape=(3, 29, 23)):
    pred, truth = _pair(seed, shape)
    pred[:, 18:27, 2:12] = truth[:, 18:27, 2:12] = 0.25  # constant, equal windows: Q = 1
    pred[1, 18:27, 12:] = 0.1  # a constant prediction over a textured truth: Q = 0
    valid = np.ones(shape[1:], bool)
    valid[3:6, 4:9] = False
    valid[14, 20] = False
    return pred, truth, valid


def test_uiqi_matches_a_direct_window_loop():
    pred, truth, valid = _masked_pair()
    for b in range(pred.shape[0]):
        ref = _q_reference(pred[b], truth[b], valid)
        got = uiqi_map(pred[b], truth[b], valid, chunk_rows=4)
        assert got.shape == ref.shape
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_allclose(got, ref, atol=1e-12, equal_nan=True)
    rep = evaluate_arrays(pred, truth, valid)
    for b in range(pred.shape[0]):
        expected = np.nanmean(_q_reference(pred[b], truth[b], valid))
        assert rep.per_band[b]["UIQI"] == pytest.approx(expected, abs=1e-12)
    assert rep.overall["UIQI"] == pytest.approx(np.mean([r["UIQI"] for r in rep.per_band]))


def test_uiqi_hand_computed_windows():
    checker = np.where((np.arange(8)[:, None] + np.arange(8)) % 2 == 0, 0.1, 0.3)
    flat = np.full((8, 8), 0.2)

    def q(x, y):
        return float(uiqi_map(x, y)[0, 0])

    assert q(checker + 0.1, checker) == pytest.approx(2 * 0.3 * 0.2 / (0.3**2 + 0.2**2))
    assert q(2 * checker, checker) == pytest.approx(0.8 * 0.8)  # contrast 0.8 x luminance 0.8
    assert q(0.4 - checker, checker) == pytest.approx(-1.0)  # perfectly anti-correlated
    assert q(checker, checker) == pytest.approx(1.0)
    assert q(flat, flat) == 1.0  # both constant and equal
    assert q(2 * flat, flat) == pytest.approx(2 * 0.4 * 0.2 / (0.4**2 + 0.2**2))
    assert q(flat, checker) == 0.0  # constant against textured
    assert q(np.zeros((8, 8)), np.zeros((8, 8))) == 1.0
    assert uiqi_map(checker, checker).shape == (1, 1)
    small = evaluate_arrays(checker[None, :7], checker[None, :7])
    assert math.isnan(small.overall["UIQI"])  # no 8x8 window fits


def test_garbage_in_masked_pixels_changes_nothing():
    pred, truth, valid = _masked_pair(7)
    clean = evaluate_arrays(pred, truth, valid)
    for garbage in (1e6, np.nan, np.inf, -3.0):
        p, t = pred.copy(), truth.copy()
        p[:, ~valid] = garbage
        t[:, ~valid] = -garbage
        np.testing.assert_equal(evaluate_arrays(p, t, valid).to_dict(), clean.to_dict())
    assert all(np.isfinite(clean.overall[m]) for m in METRIC_NAMES)


def test_chunked_equals_unchunked_bit_for_bit():
    pred, truth, valid = _masked_pair(8, (4, 53, 29))
    whole = evaluate_arrays(pred, truth, valid, chunk_rows=10_000).to_dict()
    for rows in (1, 4, 7, 13):
        np.testing.assert_equal(
            evaluate_arrays(pred, truth, valid, chunk_rows=rows).to_dict(), whole
        )
        np.testing.assert_array_equal(
            ssim_map(pred[0], truth[0], valid, chunk_rows=rows), ssim_map(pred[0], truth[0], valid)
        )
        np.testing.assert_array_equal(
            uiqi_map(pred[1], truth[1], valid, chunk_rows=rows), uiqi_map(pred[1], truth[1], valid)
        )


def test_masked_ssim_map_is_unchanged_inside_fully_valid_windows():
    pred, truth = _pair(9, (1, 30, 30))
    valid = np.ones((30, 30), bool)
    valid[:4] = False
    full = ssim_map(pred[0], truth[0])
    masked = ssim_map(pred[0], truth[0], valid)
    np.testing.assert_allclose(masked[10:], full[10:], atol=1e-12)  # windows reach 5 rows


def test_zero_norm_spectra_give_finite_metrics_without_warnings():
    pred, truth = _pair(10)
    pred[:, 0, :] = 0.0
    truth[:, 0, :] = 0.0
    truth[:, 1, :] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep = evaluate_arrays(pred, truth)
    assert all(np.isfinite(rep.overall[m]) for m in METRIC_NAMES)


def test_csv_has_a_row_per_band_and_overall():
    pred, truth = _pair(11, (2, 16, 16))
    rep = evaluate_arrays(pred, truth)
    rows = list(csv.DictReader(io.StringIO(csv_text(rep, ["red", "nir"]))))
    assert [r["band"] for r in rows] == ["red", "nir", "overall"]
    assert float(rows[1]["UIQI"]) == rep.per_band[1]["UIQI"]
    assert float(rows[2]["RMSE"]) == rep.overall["RMSE"]
    assert set(METRIC_NAMES) <= set(rows[0])
