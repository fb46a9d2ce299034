"""FSDAF (Zhu et al. 2016), both variants: known answers, a fractional coarse factor, tiles, the
synthetic scene, the scene context. Its parts: test_fsdaf_parts.py and test_isodata.py."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import cli
from scipy.optimize import lsq_linear

from est_stfm.errors import EstStfmError
from est_stfm.evaluation import read_reflectance
from est_stfm.inference.predict import fuse, predict_to_file
from est_stfm.methods import resolve_method
from est_stfm.methods.classic import Fsdaf, classic_method
from est_stfm.methods.classic.coarse import CoarseGrid
from est_stfm.methods.classic.fsdaf import bounded_least_squares, kmeans
from est_stfm.scene import load_scene
from est_stfm.scene.save import save_scene


def _random(shape, seed=0, low=0.02, high=0.5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


@pytest.mark.parametrize(
    ("variant", "spatial"), [("faithful", "tps"), ("fast", "tps"), ("fast", "cubic")]
)
def test_no_coarse_change_gives_back_the_reference(variant, spatial):
    f1, c1 = _random((3, 48, 48), 1), _random((3, 48, 48), 2)
    out = Fsdaf(8, variant=variant, spatial=spatial).predict(c1, f1, c1.copy())
    assert out.dtype == np.float32 and out.shape == f1.shape
    np.testing.assert_allclose(out, f1, atol=1e-6, rtol=0)


@pytest.mark.parametrize("variant", ["faithful", "fast"])
def test_uniform_coarse_offset_is_added_to_the_reference(variant):
    f1, c1 = _random((3, 48, 48), 1), _random((3, 48, 48), 2)
    out = Fsdaf(8, variant=variant).predict(c1, f1, c1 + np.float32(0.05))
    np.testing.assert_allclose(out, f1 + 0.05, atol=1e-5, rtol=0)


def test_non_integer_factor_and_tiny_images_give_finite_float32():
    f1, c1, c2 = (_random((2, 50, 47), s) for s in (1, 2, 3))
    fast = Fsdaf(14.7, variant="fast")
    assert fast.block == 15 and fast.window == 31
    assert fast.halo == 4 * 15 + 15
    method = Fsdaf(14.7)
    assert method.factor == 14.7 and method.window == 41 and method.halo == 15 + 20
    for m in (method, fast):
        out = m.predict(c1, f1, c2)
        assert out.shape == (2, 50, 47) and out.dtype == np.float32 and np.isfinite(out).all()
        # a single row of coarse pixels: the spatial prediction falls back to the block values
        thin = Fsdaf(16, variant=m.variant).predict(c1[:, :10], f1[:, :10], c2[:, :10])
        assert thin.shape == (2, 10, 47) and np.isfinite(thin).all()


def _stripes(grid: CoarseGrid, period: int = 40):
    """Two classes in vertical stripes ``period / 2`` px wide, each with its own change, and
    the coarse images of ``grid`` (its area means on the fine grid)."""
    h, w = grid.shape
    classes = (np.arange(w)[None, :] % period < period // 2) * np.ones((h, 1), dtype=int)
    f1 = np.stack([0.1 + 0.3 * classes, 0.4 - 0.2 * classes]).astype(np.float32)
    change = np.stack([0.02 + 0.06 * classes, -0.03 + 0.0 * classes]).astype(np.float32)
    c1 = grid.expand(grid.means(f1)).astype(np.float32)
    c2 = grid.expand(grid.means(f1 + change)).astype(np.float32)
    return f1, change, c1, c2


@pytest.mark.parametrize("variant", ["faithful", "fast"])
def test_unmixing_recovers_class_changes(variant):
    # pure and mixed 8 x 8 coarse pixels; each class changes by its own amount
    f1, change, c1, c2 = _stripes(CoarseGrid(8, (64, 64)))
    out = Fsdaf(8, num_classes=2, variant=variant).predict(c1, f1, c2)
    np.testing.assert_allclose(out, f1 + change, atol=2e-3)


def test_a_fractional_factor_is_not_rounded_away():
    """Coarse pixels of 14.7 fine pixels: the faithful variant unmixes them exactly; rounding
    the factor to 15 (the fast variant) misplaces every coarse boundary after the first."""
    grid = CoarseGrid(14.7, (90, 150))
    f1, change, c1, c2 = _stripes(grid, period=36)
    exact = Fsdaf(14.7).predict(c1, f1, c2)
    np.testing.assert_allclose(exact, f1 + change, atol=2e-3)
    rounded = Fsdaf(14.7, variant="fast", num_classes=2).predict(c1, f1, c2)
    assert _rmse(rounded, f1 + change) > 3 * _rmse(exact, f1 + change)


def test_fsdaf_fast_is_the_earlier_implementation():
    """``fsdaf-fast`` keeps the earlier behaviour and name: k-means, the rounded factor, the
    moving-window unmixing and all similar pixels."""
    f1, c1, c2 = (_random((2, 40, 40), s) for s in (4, 5, 6))
    method = classic_method("fsdaf-fast", coarse_factor=8)
    assert isinstance(method, Fsdaf) and method.variant == "fast" and method.name == "fsdaf-fast"
    expected = Fsdaf(8, variant="fast").predict(c1, f1, c2)
    np.testing.assert_array_equal(method.predict(c1, f1, c2), expected)
    faithful = classic_method("fsdaf", coarse_factor=8)
    assert faithful.variant == "faithful" and faithful.name == "fsdaf"
    assert not np.allclose(faithful.predict(c1, f1, c2), expected, atol=1e-4)


def test_tiles_stay_close_to_the_whole_image(tiny_scene, tmp_path):
    """Each tile is classified and unmixed on its own (as each block of the authors' code):
    tiles with the method's halo differ from a whole-image run far less than either errs."""
    scene = load_scene(tiny_scene)
    d = scene.pairs_dates()
    method = resolve_method("fsdaf", scene)
    whole = fuse(scene, d[2], method, reference=d[1], pairs="1")
    out = tmp_path / "tiled.tif"
    written = predict_to_file(
        scene, d[2], method, out, reference=d[1], pairs="1", tile=48, overlap=8
    )
    assert written.tiles > 1
    tiled, _ = read_reflectance(out)
    truth, _ = scene.read_fine(d[2])
    assert _rmse(tiled, whole.image) < 0.3 * _rmse(whole.image, truth)


def test_bounded_least_squares_matches_scipy():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (6, 25, 4))
    b = rng.normal(0, 1, (6, 25))
    gram = np.einsum("nij,nik->njk", a, a)
    rhs = np.einsum("nij,ni->nj", a, b)[:, None]
    low, high = np.full((6, 1, 1), -0.3), np.full((6, 1, 1), 0.4)
    ours = bounded_least_squares(gram, rhs, low, high, iterations=5000, tol=1e-13)
    for n in range(6):
        ref = lsq_linear(a[n], b[n], bounds=(-0.3, 0.4), tol=1e-12).x
        np.testing.assert_allclose(ours[n, 0], ref, atol=1e-6)


def test_kmeans_is_deterministic_and_separates_clusters():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    pixels = np.concatenate([c + 0.05 * rng.standard_normal((300, 2)) for c in centres])
    labels, found = kmeans(pixels, 3, seed=4)
    again, _ = kmeans(pixels, 3, seed=4)
    np.testing.assert_array_equal(labels, again)
    for i in range(3):  # each true cluster is one label
        assert len(np.unique(labels[i * 300 : (i + 1) * 300])) == 1
    assert np.abs(np.sort(found, axis=0) - np.sort(centres, axis=0)).max() < 0.05


def test_beats_naive_copy_on_the_synthetic_scene(tiny_scene):
    scene = load_scene(tiny_scene)
    assert scene.coarse_factor == 8
    d = scene.pairs_dates()
    method = resolve_method("fsdaf", scene)
    assert isinstance(method, Fsdaf) and method.block == 8
    truth, _ = scene.read_fine(d[2])
    fsdaf = fuse(scene, d[2], method, reference=d[1])
    copy = fuse(scene, d[2], resolve_method("naive-copy"), reference=d[1])
    assert _rmse(copy.image, truth) > 0.03  # a date with change
    assert _rmse(fsdaf.image, truth) < 0.8 * _rmse(copy.image, truth)


def test_fsdaf_without_coarse_factor_is_a_clear_error(tiny_scene, tmp_path, capsys):
    scene = load_scene(tiny_scene)
    bare = save_scene(tmp_path / "scene.yaml", scene.fine, scene.coarse, scale=scene.scale)
    bare_scene = load_scene(bare)
    assert bare_scene.coarse_factor is None
    with pytest.raises(
        EstStfmError, match=r"FSDAF needs the coarse pixel size: add `coarse_factor: N`"
    ):
        resolve_method("fsdaf", bare_scene)
    with pytest.raises(EstStfmError, match="coarse pixel size"):
        classic_method("fsdaf")
    d = bare_scene.pairs_dates()
    code, _, err = cli(
        capsys, "predict", bare, "--date", d[1], "--model", "fsdaf", "--out", tmp_path / "x.tif"
    )
    assert code == 2
    assert "coarse_factor" in err and "Traceback" not in err
    assert not (tmp_path / "x.tif").exists()


def test_bad_input_is_a_clear_error():
    a = _random((2, 20, 20))
    with pytest.raises(EstStfmError, match=">= 1"):
        Fsdaf(0.5)
    with pytest.raises(EstStfmError, match="number"):
        Fsdaf("16")  # type: ignore[arg-type]
    with pytest.raises(EstStfmError, match="num_classes"):
        Fsdaf(8, num_classes=0)
    with pytest.raises(EstStfmError, match="spatial"):
        Fsdaf(8, spatial="kriging")
    with pytest.raises(EstStfmError, match="resample"):
        Fsdaf(8).predict(a, a, a[:, :10])
    with pytest.raises(EstStfmError, match="variant"):
        Fsdaf(8, variant="paper")
    with pytest.raises(EstStfmError, match="similar"):
        Fsdaf(8, similar=0)


def test_protocol_methods_starfm_and_fsdaf_predict(tiny_scene, tmp_path):
    from est_stfm.benchmark.child import PredictJob, run_job
    from est_stfm.benchmark.protocol import MethodSpec

    scene = load_scene(tiny_scene)
    d = scene.pairs_dates()
    for name in ("starfm", "fsdaf"):
        MethodSpec(id=name)  # a protocol may name them
        out = tmp_path / f"{name}.tif"
        result = run_job(PredictJob(str(tiny_scene), d[2].isoformat(), name, str(out)))
        assert result.method == name and out.exists()
