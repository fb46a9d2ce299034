"""ISODATA (FSDAF's classifier): clusters found, the split and merge rules, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest

from est_stfm.errors import EstStfmError
from est_stfm.methods.classic.isodata import Isodata

CENTRES = np.array([[0.1, 0.1], [0.5, 0.5], [0.1, 0.5]])


def _blobs(spread: float = 0.01, count: int = 400, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([c + spread * rng.standard_normal((count, 2)) for c in CENTRES])


def _purity(labels: np.ndarray, count: int = 400) -> list[int]:
    """Number of distinct labels within each true cluster."""
    return [len(np.unique(labels[i * count : (i + 1) * count])) for i in range(len(CENTRES))]


def test_separable_clusters_are_found_whatever_the_starting_count():
    pixels = _blobs()
    for low, high in ((2, 3), (2, 6), (3, 3)):
        found = Isodata(min_classes=low, max_classes=high, min_pixels=20).classify(pixels)
        assert found.count == 3, (low, high)
        assert _purity(found.labels) == [1, 1, 1]
        assert len(np.unique(found.labels)) == 3
        order = np.argsort(found.centres.sum(1))
        np.testing.assert_allclose(
            found.centres[order], CENTRES[np.argsort(CENTRES.sum(1))], atol=0.01
        )


def test_close_clusters_are_merged_and_far_ones_kept():
    # two blobs 0.02 apart and one far away; merge distance 0.05 joins the close pair
    rng = np.random.default_rng(2)
    centres = np.array([[0.10, 0.10], [0.12, 0.10], [0.60, 0.60]])
    pixels = np.concatenate([c + 0.003 * rng.standard_normal((300, 2)) for c in centres])
    merged = Isodata(min_classes=1, max_classes=4, min_pixels=20).classify(pixels)
    assert merged.count == 2
    assert len(np.unique(merged.labels[:600])) == 1
    # a split threshold below the pair's spread and no merging (distance 0) keeps them apart
    apart = Isodata(
        min_classes=1, max_classes=4, min_pixels=20, split_std=0.005, merge_distance=0.0
    )
    found = apart.classify(pixels)
    assert found.count == 3
    assert [len(np.unique(found.labels[i : i + 300])) for i in (0, 300, 600)] == [1, 1, 1]


def test_a_spread_out_cluster_is_split_up_to_max_classes():
    # one elongated cloud, std 0.2 along x: splits while the count is below max_classes
    rng = np.random.default_rng(3)
    pixels = np.stack([rng.uniform(0, 0.7, 3000), 0.3 + 0.002 * rng.standard_normal(3000)], 1)
    split = Isodata(min_classes=1, max_classes=4, min_pixels=20, merge_distance=0.0)
    found = split.classify(pixels)
    assert found.count == 4
    # a split threshold above the spread keeps the classes it started with... merged to one
    whole = Isodata(min_classes=1, max_classes=4, min_pixels=20, split_std=1.0, merge_distance=1.0)
    assert whole.classify(pixels).count == 1


def test_small_classes_are_dissolved():
    pixels = np.concatenate([_blobs(count=400), [[0.9, 0.9]] * 5])  # 5 outliers
    found = Isodata(min_classes=1, max_classes=6, min_pixels=50).classify(pixels)
    assert found.count == 3
    assert np.bincount(found.labels).min() >= 50


def test_deterministic_with_a_seed_and_a_sample():
    pixels = np.random.default_rng(5).uniform(0, 0.5, (30_000, 3))
    method = Isodata(sample=5_000, seed=7)
    first, again = method.classify(pixels), method.classify(pixels)
    np.testing.assert_array_equal(first.labels, again.labels)
    np.testing.assert_array_equal(first.centres, again.centres)
    assert 4 <= first.count <= 6
    other = Isodata(sample=5_000, seed=8).classify(pixels)
    assert not np.array_equal(other.centres, first.centres)  # the seed picks the sample


def test_labels_are_nearest_centres_in_increasing_order():
    found = Isodata(min_pixels=20).classify(_blobs())
    assert np.all(np.diff(found.centres.sum(1)) > 0)
    dist = ((_blobs()[:, None] - found.centres[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(found.labels, dist.argmin(1))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_classes": 0}, "min_classes"),
        ({"min_classes": 5, "max_classes": 4}, "max_classes"),
        ({"split_std": -1.0}, "split_std"),
        ({"seed": -1}, "seed"),
        ({"iterations": 2.5}, "iterations"),
    ],
)
def test_bad_settings_are_one_line_errors(options, message):
    with pytest.raises(EstStfmError, match=message):
        Isodata(**options)


def test_empty_input_is_an_error():
    with pytest.raises(EstStfmError, match="non-empty"):
        Isodata().classify(np.zeros((0, 3)))
