"""``blend``: weights from coarse consistency, its candidates, the registry, a real run."""

from __future__ import annotations

import numpy as np
import pytest

from est_stfm.datasets.degrade import degrade_to_coarse
from est_stfm.datasets.synthetic import synthetic_series
from est_stfm.errors import EstStfmError
from est_stfm.inference.predict import fuse
from est_stfm.methods import method_names, resolve_method
from est_stfm.methods.classic import CLASSIC_METHODS, Blend, classic_method
from est_stfm.scene import load_scene

SIZE, FACTOR = 64, 8
ALL = np.ones((SIZE, SIZE), dtype=bool)


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def series() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Three dates of a synthetic landscape (3 bands, 64 x 64): ``(fine, coarse)`` lists, the
    coarse sensor reading 1.1 x fine + 0.02."""
    s = synthetic_series(
        height=SIZE,
        width=SIZE,
        factor=FACTOR,
        dates=["2001-05-08", "2001-06-09", "2001-07-11"],
        seed=2,
        flood_from=None,
    )
    fine = [s.fine[k, :3] for k in range(3)]
    coarse = [degrade_to_coarse(f, FACTOR, gain=1.1, bias=0.02, noise=0.0) for f in fine]
    return fine, coarse


def test_identical_candidates_give_that_candidate(series):
    (f1, f2, _), (c1, c2, _) = series
    blend = Blend(FACTOR)
    pred = f1 + (c2 - c1) / 1.1
    weights = blend.weights([pred, pred, pred], [(c1, f1)], c2, [ALL])
    np.testing.assert_allclose(weights, 1 / 3, atol=1e-6)
    out = blend.combine([pred, pred, pred], [(c1, f1)], c2, [ALL])
    np.testing.assert_allclose(out, pred, atol=1e-6)


@pytest.mark.parametrize("floor", [0.0, 1.0])
def test_the_candidate_off_at_the_coarse_scale_is_left_out(series, floor):
    (f1, f2, _), (c1, c2, _) = series
    wrong = f2.copy()
    wrong[:, 16:40, 16:40] += 0.08  # three coarse pixels across, far from the coarse change
    blend = Blend(FACTOR, floor=floor)
    out = blend.combine([wrong, f2], [(c1, f1)], c2, [ALL])
    area = (slice(None), slice(20, 36), slice(20, 36))
    assert _rmse(out[area], f2[area]) < 0.1 * _rmse(wrong[area], f2[area])
    weights = blend.weights([wrong, f2], [(c1, f1)], c2, [ALL])
    assert weights[0, 20:36, 20:36].max() < 0.1 and weights[0, 56:, :8].min() > 0.3


def test_one_and_two_pairs_with_clouds(series):
    (f0, f1, f2), (c0, c1, c2) = series
    blend = Blend(FACTOR)
    assert blend.halo >= max(m.halo for m in blend.one_pair)
    out = blend.predict(c0, f0, c1)
    assert out.shape == f1.shape and out.dtype == np.float32 and np.isfinite(out).all()
    v0, v2 = ALL.copy(), ALL.copy()
    v0[:12] = False
    f0_cloudy = f0.copy()
    f0_cloudy[:, :12] = 0.0
    pairs = [(c0, f0_cloudy), (c2, f2)]
    candidates = blend.candidates(pairs, c1, [v0, v2])
    assert list(candidates) == ["naive-change", "starfm", "fsdaf", "fit-fc", "estarfm"]
    two = blend.predict_pairs(pairs, c1, [v0, v2])
    assert two.shape == f1.shape and np.isfinite(two).all()
    # here the weighted mean is better than each candidate (the best, FSDAF, by 10 %)
    assert _rmse(two, f1) < min(_rmse(p, f1) for p in candidates.values())


def test_registry_and_bad_input(tiny_scene):
    assert "blend" in CLASSIC_METHODS
    assert "blend" in [n.name for n in method_names() if n.kind == "classic"]
    scene = load_scene(tiny_scene)
    assert isinstance(resolve_method("blend", scene), Blend)
    for call, match in (
        (lambda: classic_method("blend"), "coarse_factor"),
        (lambda: Blend(0.5), ">= 1"),
        (lambda: Blend(8, floor=-1.0), "floor"),
    ):
        with pytest.raises(EstStfmError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


def test_blend_on_the_tiny_scene_is_as_good_as_its_candidates(tiny_scene):
    scene = load_scene(tiny_scene)
    d = scene.pairs_dates()
    truth, _ = scene.read_fine(d[2])
    blended = fuse(scene, d[2], resolve_method("blend", scene), reference=d[1], pairs="1")
    errors = {}
    for name in ("naive-change", "starfm", "fsdaf", "fit-fc"):
        fused = fuse(scene, d[2], resolve_method(name, scene), reference=d[1], pairs="1")
        errors[name] = _rmse(fused.image, truth)
    copy = fuse(scene, d[2], resolve_method("naive-copy"), reference=d[1], pairs="1")
    error = _rmse(blended.image, truth)
    assert np.isfinite(blended.image).all() and error < _rmse(copy.image, truth)
    assert error <= np.mean(list(errors.values()))
