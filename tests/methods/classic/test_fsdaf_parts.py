"""FSDAF's parts: the coarse grid with a fractional factor, the purest-pixel unmixing and the
similar-pixel filters, each against a slow, obvious reference."""

from __future__ import annotations

import numpy as np
import pytest

from est_stfm.methods.classic import similar
from est_stfm.methods.classic.coarse import CoarseGrid, block_means
from est_stfm.methods.classic.similar import most_similar_mean, similar_mean
from est_stfm.methods.classic.threads import available_cores, get_threads, set_threads
from est_stfm.methods.classic.unmixing import purest_unmixing


def _random(shape, seed=0, low=0.02, high=0.5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


# --- the coarse grid ---------------------------------------------------------------------------


def test_an_integer_factor_is_plain_blocks():
    image = _random((3, 50, 47), 1)
    grid = CoarseGrid(8, (50, 47))
    assert grid.size == (7, 6)
    np.testing.assert_allclose(grid.means(image), block_means(image, 8), atol=1e-12)
    np.testing.assert_allclose(grid.owner_means(image), block_means(image, 8), atol=1e-6)
    rows, cols = grid.index
    np.testing.assert_array_equal(rows, np.arange(50) // 8)
    np.testing.assert_array_equal(cols, np.arange(47) // 8)


def test_a_fractional_factor_weighs_fine_pixels_by_area():
    grid = CoarseGrid(2.5, (5, 5))  # two coarse pixels per axis: [0, 2.5) and [2.5, 5)
    assert grid.size == (2, 2)
    image = np.arange(5, dtype=np.float64)[None, :] * np.ones((5, 1))  # value = column
    # first coarse column: columns 0, 1 whole and half of column 2 -> (0 + 1 + 1) / 2.5
    np.testing.assert_allclose(grid.means(image), [[0.8, 3.2], [0.8, 3.2]])
    # a pixel belongs to the coarse pixel holding its centre: column 2 (centre 2.5) -> second
    np.testing.assert_array_equal(grid.index[1], [0, 0, 1, 1, 1])
    np.testing.assert_allclose(grid.owner_means(image), [[0.5, 3.0], [0.5, 3.0]])
    np.testing.assert_allclose(grid.centres[0], [0.75, 3.25])
    np.testing.assert_allclose(grid.expand(np.array([[1.0, 2.0], [3.0, 4.0]]))[0], [1, 1, 2, 2, 2])


def test_a_sliver_of_under_half_a_pixel_joins_the_last_coarse_pixel():
    grid = CoarseGrid(9.98, (100, 100))  # 10 x 9.98 = 99.8: a 0.2 px sliver
    assert grid.size == (10, 10)
    assert grid.edges[0][-1] == 100
    assert np.bincount(grid.index[0]).min() == 10
    assert CoarseGrid(14.7, (444, 444)).size == (31, 31)  # 3 px left over: a partial pixel
    np.testing.assert_allclose(grid.means(np.ones((100, 100))), 1.0)


# --- the purest-pixel unmixing -----------------------------------------------------------------


def test_purest_unmixing_recovers_class_changes_despite_changed_pixels():
    rng = np.random.default_rng(3)
    k, n = 3, 20
    fractions = rng.dirichlet(np.ones(k) * 0.3, size=(n, n)).transpose(2, 0, 1)
    truth = np.array([[0.05, -0.02, 0.10], [0.0, 0.03, -0.04]])  # (bands, classes)
    change = np.einsum("bk,kij->bij", truth, fractions)
    change[:, 2, 3] += 0.5  # a land-cover change: outside the middle 80 %, not used
    out = purest_unmixing(fractions, change, num_pure=100, block=30)
    assert out.shape == (2, k, n, n)
    np.testing.assert_allclose(out[:, :, 0, 0], truth, atol=1e-4)
    assert np.ptp(out, axis=(2, 3)).max() == 0  # one block: constant


def test_purest_unmixing_is_per_block_and_bounded():
    fractions = np.zeros((2, 4, 8))
    fractions[0, :, :4], fractions[1, :, 4:] = 1.0, 1.0
    change = np.zeros((1, 4, 8))
    change[0, :, :4], change[0, :, 4:] = 0.1, -0.1
    change[0, :, 4:] += np.linspace(0, 0.01, 16).reshape(4, 4)  # a spread within the right block
    out = purest_unmixing(fractions, change, num_pure=10, block=4, margin=0)
    np.testing.assert_allclose(out[0, 0, :, :4], 0.1, atol=1e-6)
    assert out[0, 1, 0, 5] == pytest.approx(np.median(change[0, :, 4:]), abs=2e-3)
    assert out[0, 1, 0, 0] == pytest.approx(0.1, abs=1e-6)  # absent there: held in the bounds
    # the bounds: the change range of the block widened by its standard deviation
    narrow = np.full((1, 4, 4), 0.1)
    bounded = purest_unmixing(np.ones((1, 4, 4)), narrow, num_pure=10, block=4)
    assert bounded.max() <= 0.1 + 1e-12


# --- the similar-pixel filters -----------------------------------------------------------------


def _most_similar_slow(fine, values, radius, count, thresholds, i, j):
    """The authors' selection at one pixel, written out."""
    _, h, w = fine.shape
    rows = slice(max(0, i - radius), min(h, i + radius + 1))
    cols = slice(max(0, j - radius), min(w, j + radius + 1))
    window = fine[:, rows, cols].astype(np.float64)
    diff = np.abs(window - fine[:, i, j][:, None, None])
    candidate = (diff < thresholds[:, None, None]).all(0).ravel()
    spectral = (diff / (np.abs(fine[:, i, j])[:, None, None] + 1e-8)).sum(0).ravel()
    yy, xx = np.mgrid[rows, cols]
    distance = np.hypot(yy - i, xx - j).ravel()
    key = np.where(candidate, (spectral + 1e-5) * (10 + distance / radius), np.inf)
    order = np.argsort(key, kind="stable")[:count]
    order = order[np.isfinite(key[order])]
    weight = 1 / ((1 + distance[order] / radius) * (spectral[order] + 1))
    flat = values[:, rows, cols].reshape(len(values), -1)[:, order]
    return (flat * weight).sum(1) / weight.sum()


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("low", [0.02, -0.5])  # reflectance, and NDVI-like negative values
def test_most_similar_mean_matches_the_per_pixel_selection(low, compiled):
    fine, values = _random((3, 30, 26), 1, low), _random((3, 30, 26), 2, -0.1, 0.1)
    thresholds = fine.reshape(3, -1).std(1) * 2 / 4
    out = most_similar_mean(fine, values, 6, 20, thresholds, compiled=compiled)
    for i, j in [(0, 0), (5, 7), (29, 25), (15, 0), (12, 13)]:
        slow = _most_similar_slow(fine, values, 6, 20, thresholds, i, j)
        np.testing.assert_allclose(out[:, i, j], slow, atol=1e-6)


@pytest.mark.parametrize("compiled", [True, False])
def test_most_similar_mean_without_candidates_keeps_the_value(compiled):
    fine, values = _random((2, 12, 12), 1), _random((2, 12, 12), 2)
    zero = np.zeros(2)  # a zero threshold: nothing is similar
    out = most_similar_mean(fine, values, 3, 20, zero, compiled=compiled)
    np.testing.assert_array_equal(out, values)


@pytest.mark.parametrize("kind", ["continuous", "blocks"])
def test_the_compiled_filter_chooses_as_the_array_version(kind):
    fine, values = _random((4, 40, 33), 7, -0.3), _random((4, 40, 33), 8, -0.1, 0.1)
    if kind == "blocks":  # 5 x 5 blocks of two values: equal keys, the earlier neighbour wins
        blocks = (np.arange(40)[:, None] // 5 + np.arange(33)[None, :] // 5) % 2
        fine = np.stack([0.2 + 0.1 * b * blocks for b in range(1, 5)]).astype(np.float32)
    thresholds = fine.reshape(4, -1).std(1) * 2 / 4
    arrays = most_similar_mean(fine, values, 7, 20, thresholds, compiled=False)
    compiled = most_similar_mean(fine, values, 7, 20, thresholds)
    np.testing.assert_allclose(compiled, arrays, rtol=0, atol=2e-7)


@pytest.mark.parametrize("kind", ["most", "all"])
def test_a_crop_with_the_radius_equals_the_whole_image_inside(kind):
    fine, values = _random((2, 40, 36), 3), _random((2, 40, 36), 4)
    thresholds = np.full(2, 0.08, dtype=np.float32)

    def run(f, v):
        if kind == "most":
            return most_similar_mean(f, v, 5, 20, thresholds)
        return similar_mean(f, v, 11, thresholds[:, None, None])

    whole = run(fine, values)
    crop = run(fine[:, 5:35, 5:31], values[:, 5:35, 5:31])
    np.testing.assert_allclose(crop[:, 5:-5, 5:-5], whole[:, 10:30, 10:26], atol=1e-6)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("threads", [2, 3])
def test_most_similar_mean_on_threads_equals_one_thread(monkeypatch, threads, compiled):
    # small strips (a few rows each), so the rows are split between the threads
    monkeypatch.setattr(similar, "WORK", 26 * 13 * 13 * 4)
    fine, values = _random((3, 30, 26), 5), _random((3, 30, 26), 6)
    thresholds = fine.reshape(3, -1).std(1) * 2 / 4
    try:
        set_threads(1)
        one = most_similar_mean(fine, values, 6, 20, thresholds, compiled=compiled)
        set_threads(threads)
        assert get_threads() == threads
        many = most_similar_mean(fine, values, 6, 20, thresholds, compiled=compiled)
    finally:
        set_threads(None)
    np.testing.assert_array_equal(many, one)
    assert get_threads() == available_cores()
