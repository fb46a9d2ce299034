"""The fine -> coarse operator of the synthetic scenes and the benchmark's simulated coarse."""

from __future__ import annotations

import numpy as np
import pytest

from est_stfm.datasets.degrade import (
    block_average,
    blur_and_block_average,
    degrade_to_coarse,
    gaussian_blur,
    upsample_bilinear,
    upsample_nearest,
)


def test_blur_and_block_average_handles_partial_blocks() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((2, 37, 50)).astype(np.float32)
    coarse = blur_and_block_average(image, 16, psf_sigma=0.0)
    assert coarse.shape == (2, 3, 4)
    assert coarse[0, 0, 0] == pytest.approx(image[0, :16, :16].mean(), abs=1e-6)
    assert coarse[1, 2, 3] == pytest.approx(image[1, 32:, 48:].mean(), abs=1e-6)
    constant = np.full((1, 37, 50), 0.3, dtype=np.float32)
    assert np.allclose(blur_and_block_average(constant, 16, 4.0), 0.3, atol=1e-6)
    back = upsample_bilinear(coarse, (37, 50), 16)
    assert back.shape == image.shape
    # bilinear interpolation never overshoots the coarse values
    assert back.min() >= coarse.min() - 1e-6 and back.max() <= coarse.max() + 1e-6


def test_blur_keeps_the_mean_and_smooths() -> None:
    image = np.random.default_rng(2).random((24, 24)).astype(np.float32)
    blurred = gaussian_blur(image, 2.0)
    assert blurred.shape == image.shape and blurred.dtype == np.float32
    assert float(blurred.mean()) == pytest.approx(float(image.mean()), abs=1e-3)
    assert blurred.std() < 0.5 * image.std()
    assert np.array_equal(gaussian_blur(image, 0.0), image)


def test_upsample_bilinear_aligns_pixel_centres() -> None:
    """Whole blocks: fine pixel ``i`` sits at ``(i + 0.5) / factor - 0.5`` coarse pixels."""
    coarse = np.array([[0.0, 8.0, 4.0]])
    fine = upsample_bilinear(coarse, (4, 12), 4)
    pos = np.clip((np.arange(12) + 0.5) / 4 - 0.5, 0, 2)
    assert np.allclose(fine[0], np.interp(pos, [0, 1, 2], coarse[0]))
    assert fine.dtype == np.float64  # computed in the input's float type
    assert (fine == fine[:1]).all()  # one coarse row: every fine row alike


def test_upsample_nearest_repeats_blocks_and_inverts_block_average() -> None:
    coarse = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    fine = upsample_nearest(coarse, (7, 10), 4)
    assert fine.shape == (1, 7, 10)
    assert (fine[0, :4, :4] == 0).all() and (fine[0, 4:, 8:] == 5).all()
    assert np.array_equal(block_average(fine, 4), coarse)


def test_degrade_without_gain_bias_noise_is_the_pure_operator() -> None:
    rng = np.random.default_rng(1)
    image = rng.random((3, 40, 40)).astype(np.float32)
    pure = upsample_bilinear(blur_and_block_average(image, 8, 2.0), (40, 40), 8)
    degraded = degrade_to_coarse(image, 8, 2.0, gain=1.0, bias=0.0, noise=0.0)
    assert degraded.shape == image.shape and degraded.dtype == np.float32
    assert np.allclose(degraded, pure, atol=1e-6)
    noisy = degrade_to_coarse(image, 8, 2.0, rng=3)
    assert np.array_equal(noisy, degrade_to_coarse(image, 8, 2.0, rng=3))
    assert not np.allclose(noisy, pure, atol=1e-4)


def test_factor_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="factor"):
        blur_and_block_average(np.zeros((4, 4)), 0)
