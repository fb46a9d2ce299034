"""The clustering application: k-means agreement of a fused image with the real image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, make_grid
from sklearn import metrics

from est_stfm.evaluation.cluster import (
    adjusted_rand_index,
    adjusted_rand_score,
    agreement_scores,
    cluster_agreement,
    contingency,
    kmeans,
)
from est_stfm.io import write_raster


def _scene(seed: int = 0, bands: int = 4, shape=(36, 44), classes: int = 4) -> np.ndarray:
    """Blocky land cover: ``classes`` well-separated spectra plus a little noise."""
    rng = np.random.default_rng(seed)
    cover = rng.integers(0, classes, (shape[0] // 6, shape[1] // 4)).repeat(6, 0).repeat(4, 1)
    spectra = np.linspace(0.05, 0.5, classes)[:, None] * np.linspace(1.0, 1.6, bands)[None]
    spectra = rng.permuted(spectra, axis=0).T  # (bands, classes)
    img = spectra[:, cover] + rng.normal(0, 0.005, (bands, *shape))
    return img.astype(np.float32)


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def test_identical_images_agree_perfectly():
    truth = _scene()
    rep = cluster_agreement(truth, truth, None, k=4, seed=0)
    assert (rep.agreement, rep.kappa, rep.ari) == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(rep.pred_labels, rep.truth_labels)
    assert sum(rep.truth_fractions) == pytest.approx(1.0)
    assert json.loads(json.dumps(rep.to_dict()))["k"] == 4


def test_permuted_labels_are_matched():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 5, 1000)
    perm = np.array([3, 0, 4, 1, 2])
    pred = perm[truth]  # the same partition under other names
    agreement, kappa, ari, matching = agreement_scores(contingency(pred, truth, 5))
    assert (agreement, kappa, ari) == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(matching[perm], np.arange(5))  # fused perm[c] -> real c


def test_hand_computed_agreement_kappa_ari():
    truth = np.array([0, 0, 0, 1, 1, 1])
    pred = np.array([1, 1, 0, 0, 0, 0])  # swapped names, one pixel wrong
    agreement, kappa, ari, matching = agreement_scores(contingency(pred, truth, 2))
    assert list(matching) == [1, 0]
    assert agreement == pytest.approx(5 / 6)
    p_e = (2 / 6) * (3 / 6) + (4 / 6) * (3 / 6)  # matched fused sizes 2, 4; real 3, 3
    assert kappa == pytest.approx((5 / 6 - p_e) / (1 - p_e))
    # Hubert-Arabie by hand: table [[1, 3], [2, 0]] -> index 3 + 1 = 4, rows 6 + 1 = 7,
    # columns 3 + 3 = 6, pairs 15: (4 - 42/15) / (6.5 - 42/15)
    assert ari == pytest.approx((4 - 42 / 15) / (6.5 - 42 / 15))


def test_ari_known_values():
    assert adjusted_rand_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(0.8 / 3.3)
    assert adjusted_rand_score([0, 0, 1, 1], [5, 5, 2, 2]) == 1.0
    assert adjusted_rand_index(np.array([[7]])) == 1.0  # one cluster in both: defined as 1
    assert adjusted_rand_score([0, 1, 0, 1], [0, 0, 1, 1]) == pytest.approx(-0.5)


def test_ari_and_kappa_match_scikit_learn():
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 6, 500), rng.integers(0, 4, 500)
    assert adjusted_rand_score(a, b) == pytest.approx(metrics.adjusted_rand_score(a, b), abs=1e-12)
    truth = rng.integers(0, 4, 400)
    pred = np.where(rng.random(400) < 0.7, (truth + 1) % 4, rng.integers(0, 4, 400))
    agreement, kappa, _, matching = agreement_scores(contingency(pred, truth, 4))
    assert agreement == pytest.approx(metrics.accuracy_score(truth, matching[pred]), abs=1e-12)
    assert kappa == pytest.approx(metrics.cohen_kappa_score(matching[pred], truth), abs=1e-12)


def test_kmeans_finds_separated_groups_and_is_deterministic():
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 5.0]])
    x = np.concatenate([c + rng.normal(0, 0.1, (50, 2)) for c in centres]).T
    found = kmeans(x, 3, seed=4)
    np.testing.assert_allclose(np.sort(found, 0), np.sort(centres, 0), atol=0.1)
    np.testing.assert_array_equal(kmeans(x, 3, seed=4), found)


def test_same_seed_same_result_and_chunking_changes_nothing():
    truth = _scene(4)
    pred = truth + np.random.default_rng(5).normal(0, 0.03, truth.shape).astype(np.float32)
    a = cluster_agreement(pred, truth, None, k=4, seed=7, max_samples=500)
    b = cluster_agreement(pred, truth, None, k=4, seed=7, max_samples=500, chunk_rows=5)
    assert a == b
    np.testing.assert_array_equal(a.pred_labels, b.pred_labels)
    assert a.sample_pixels == 500
    assert 0.5 < a.agreement <= 1.0


def test_masked_pixels_are_ignored():
    truth = _scene(6)
    pred = truth.copy()
    valid = np.ones(truth.shape[1:], bool)
    valid[10:20, 5:30] = False
    clean = cluster_agreement(pred, truth, valid, k=4)
    wild_p, wild_t = pred.copy(), truth.copy()
    wild_p[:, ~valid] = np.nan
    wild_t[:, ~valid] = 1e6
    wild = cluster_agreement(wild_p, wild_t, valid, k=4)
    assert wild == clean
    assert (wild.truth_labels[~valid] == -1).all()
    assert wild.valid_pixels == valid.sum()


def test_cluster_command(tmp_path: Path, capsys):
    pytest.importorskip("matplotlib")
    truth = _scene(8)
    grid = make_grid(truth.shape[2], truth.shape[1], truth.shape[0])
    write_raster(tmp_path / "truth.tif", truth, grid, scale=1e-4)
    write_raster(tmp_path / "pred.tif", truth * 1.01, grid, scale=1e-4)
    code, out, err = cli(
        capsys,
        "cluster",
        tmp_path / "pred.tif",
        tmp_path / "truth.tif",
        "--k",
        "4",
        "--json",
        tmp_path / "c.json",
        "--figure",
        tmp_path / "c.png",
    )
    assert code == 0, err
    assert "agreement" in out and "kappa" in out and "ARI" in out
    report = json.loads((tmp_path / "c.json").read_text(), parse_constant=_not_json)
    assert report["agreement"] > 0.99 and report["k"] == 4
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_cluster_command_rejects_different_grids(tmp_path: Path, capsys):
    truth = _scene(9)
    b, h, w = truth.shape
    write_raster(tmp_path / "truth.tif", truth, make_grid(w, h, b), scale=1e-4)
    write_raster(tmp_path / "moved.tif", truth, make_grid(w, h, b, x0=600_000.0), scale=1e-4)
    code, out, err = cli(capsys, "cluster", tmp_path / "moved.tif", tmp_path / "truth.tif")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "transform" in lines[0]
    code, _, err = cli(
        capsys, "cluster", tmp_path / "truth.tif", tmp_path / "truth.tif", "--k", "1"
    )
    assert code == 2 and "k must be between" in err


def test_negative_seed_is_a_one_line_error(capsys, tmp_path):
    """Found by the fuzz suite: ``cluster --seed -1`` ended in numpy's ValueError traceback."""
    from est_stfm.io import write_raster

    grid = make_grid(8, 8, 2)
    image = np.linspace(0.0, 0.5, 128, dtype=np.float32).reshape(2, 8, 8)
    write_raster(tmp_path / "a.tif", image, grid, scale=0.0001)
    code, _, err = cli(capsys, "cluster", tmp_path / "a.tif", tmp_path / "a.tif", "--seed", -1)
    assert code == 2 and err.startswith("error: seed must be") and err.count("\n") == 1
