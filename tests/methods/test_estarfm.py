"""ESTARFM (Zhu et al. 2010): known answers, a slow per-pixel reference, masks, tiles, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import cli
from scipy.special import fdtrc

from est_stfm.errors import EstStfmError
from est_stfm.evaluation import read_reflectance
from est_stfm.inference.predict import fuse, predict_to_file
from est_stfm.methods import resolve_method
from est_stfm.methods.classic import CLASSIC_METHODS, Estarfm, classic_method
from est_stfm.scene import load_scene


def _random(shape, seed=0, low=0.02, high=0.5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _scene(bands=3, h=12, w=12, seed=0):
    """Two pairs and a target: fine images with structure, coarse ones near them."""
    rng = np.random.default_rng(seed)
    f0 = _random((bands, h, w), seed)
    f1 = np.clip(f0 + rng.normal(0, 0.03, f0.shape), 0.01, 0.6).astype(np.float32)
    c0 = (0.8 * f0 + 0.05 + rng.normal(0, 0.02, f0.shape)).astype(np.float32)
    c1 = (0.8 * f1 + 0.05 + rng.normal(0, 0.02, f0.shape)).astype(np.float32)
    c2 = (0.5 * (c0 + c1) + rng.normal(0, 0.02, f0.shape)).astype(np.float32)
    return c0, f0, c1, f1, c2


def reference_estarfm(pairs, c2, masks, *, window=5, num_classes=4, offset=1e-4, fitted=None):
    """ESTARFM written the slow, obvious way (float64): a loop over pixels and neighbours."""
    (c0, f0), (c1, f1) = [(c.astype(np.float64), f.astype(np.float64)) for c, f in pairs]
    c2 = c2.astype(np.float64)
    bands, h, w = c2.shape
    r = window // 2
    both = masks[0] & masks[1]
    th = [2 * f[:, m].std(axis=1) / num_classes for f, m in ((f0, masks[0]), (f1, masks[1]))]
    corr = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            fs, cs = [], []
            for (c, f), m in zip(((c0, f0), (c1, f1)), masks, strict=True):
                if m[i, j]:
                    fs += list(f[:, i, j])
                    cs += list(c[:, i, j])
            if len(fs) and np.std(fs) > 1e-7 and np.std(cs) > 1e-7:
                corr[i, j] = np.corrcoef(fs, cs)[0, 1]
    out = np.zeros((bands, h, w))
    for i in range(h):
        for j in range(w):
            if not both[i, j]:
                k = 0 if masks[0][i, j] else 1
                c, f = ((c0, f0), (c1, f1))[k]
                num, den = np.zeros(bands), 0.0
                for y in range(max(0, i - r), min(h, i + r + 1)):
                    for x in range(max(0, j - r), min(w, j + r + 1)):
                        if masks[k][y, x] and np.all(np.abs(f[:, y, x] - f[:, i, j]) <= th[k]):
                            d = 1 + np.hypot(y - i, x - j) / (window / 2)
                            wt = 1 / ((1 - corr[y, x] + offset) * d)
                            num += wt * (c2[:, y, x] - c[:, y, x])
                            den += wt
                out[:, i, j] = f[:, i, j] + num / den
                continue
            sim = []
            for y in range(max(0, i - r), min(h, i + r + 1)):
                for x in range(max(0, j - r), min(w, j + r + 1)):
                    ok = both[y, x]
                    for f, t in ((f0, th[0]), (f1, th[1])):
                        ok = ok and np.all(np.abs(f[:, y, x] - f[:, i, j]) <= t)
                    if ok:
                        sim.append((y, x))
            wts = np.array(
                [
                    1 / ((1 - corr[y, x] + offset) * (1 + np.hypot(y - i, x - j) / (window / 2)))
                    for y, x in sim
                ]
            )
            wts /= wts.sum()
            preds = [np.zeros(bands), np.zeros(bands)]
            for b in range(bands):
                xs = np.array([c0[b, y, x] for y, x in sim] + [c1[b, y, x] for y, x in sim])
                ys = np.array([f0[b, y, x] for y, x in sim] + [f1[b, y, x] for y, x in sim])
                v = 1.0
                if len(sim) >= 6 and xs.std() > 1e-7:
                    slope, intercept = np.polyfit(xs, ys, 1)
                    sse = np.sum((ys - slope * xs - intercept) ** 2)
                    ssr = np.sum((slope * xs + intercept - ys.mean()) ** 2)
                    n = len(xs)
                    p = fdtrc(1, n - 2, ssr / (sse / (n - 2))) if sse > 0 else 0.0
                    if p <= 0.05 and 0 < slope <= 5:
                        v = slope
                        if fitted is not None:
                            fitted.append(v)
                for k, (c, f) in enumerate(((c0, f0), (c1, f1))):
                    change = sum(
                        wt * (c2[b, y, x] - c[b, y, x]) for wt, (y, x) in zip(wts, sim, strict=True)
                    )
                    preds[k][b] = f[b, i, j] + v * change
            ys_, xs_ = slice(max(0, i - r), i + r + 1), slice(max(0, j - r), j + r + 1)
            box = both[ys_, xs_]
            s2 = (c2[:, ys_, xs_] * box).sum(axis=(1, 2))
            d0 = np.abs((c0[:, ys_, xs_] * box).sum(axis=(1, 2)) - s2)
            d1 = np.abs((c1[:, ys_, xs_] * box).sum(axis=(1, 2)) - s2)
            t0 = np.where(d0 + d1 > 0, d1 / np.where(d0 + d1 > 0, d0 + d1, 1), 0.5)
            out[:, i, j] = t0 * preds[0] + (1 - t0) * preds[1]
    return out


@pytest.mark.parametrize(("bands", "num_classes"), [(3, 4), (2, 1)])
def test_matches_slow_reference(bands, num_classes):
    c0, f0, c1, f1, c2 = _scene(bands=bands)
    masks = [np.ones((12, 12), bool), np.ones((12, 12), bool)]
    method = Estarfm(window=5, num_classes=num_classes)
    fast = method.predict_pairs([(c0, f0), (c1, f1)], c2, masks)
    fitted = []
    slow = reference_estarfm(
        [(c0, f0), (c1, f1)], c2, masks, num_classes=num_classes, fitted=fitted
    )
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    if num_classes == 1:  # many similar pixels: the regression's V is used, not only V = 1
        assert len(fitted) > 20 and np.std(fitted) > 0.02


def test_matches_slow_reference_with_masks():
    c0, f0, c1, f1, c2 = _scene(bands=2, seed=1)
    rng = np.random.default_rng(5)
    masks = [rng.random((12, 12)) > 0.2, rng.random((12, 12)) > 0.2]
    masks[1] |= ~masks[0]  # every pixel valid in at least one pair
    fast = Estarfm(window=5, num_classes=1).predict_pairs([(c0, f0), (c1, f1)], c2, masks)
    slow = reference_estarfm([(c0, f0), (c1, f1)], c2, masks, num_classes=1)
    np.testing.assert_allclose(fast, slow, atol=1e-5)


def test_regression_slope_is_used():
    """Fine changes twice as much as coarse everywhere: V = 2 is found and applied."""
    rng = np.random.default_rng(2)
    c0 = _random((2, 16, 16), 3, 0.1, 0.3)
    c1 = (c0 + rng.uniform(0.02, 0.1, c0.shape)).astype(np.float32)
    f0 = (2 * c0 - 0.05).astype(np.float32)
    f1 = (2 * c1 - 0.05).astype(np.float32)
    c2 = (0.5 * (c0 + c1)).astype(np.float32)
    out = Estarfm(window=31, num_classes=1).predict_pairs([(c0, f0), (c1, f1)], c2)
    ratio = (out - f0)[:, 4:-4, 4:-4].mean() / (c2 - c0)[:, 4:-4, 4:-4].mean()
    assert ratio == pytest.approx(2.0, rel=0.05)


def test_no_change_returns_the_fine_reference():
    c = _random((3, 20, 20), 1)
    f = _random((3, 20, 20), 2)
    np.testing.assert_allclose(Estarfm(window=7).predict_pairs([(c, f), (c, f)], c), f, atol=1e-7)
    f_other = _random((3, 20, 20), 3)
    out = Estarfm(window=7).predict_pairs([(c, f), (c, f_other)], c)
    np.testing.assert_allclose(out, 0.5 * (f + f_other), atol=1e-6)


def test_date_equal_to_one_reference_returns_that_reference():
    c0, f0, c1, f1, _ = _scene(h=16, w=16)
    out = Estarfm(window=7).predict_pairs([(c0, f0), (c1, f1)], c0)
    np.testing.assert_allclose(out, f0, atol=1e-7)


def test_uniform_coarse_change_is_added():
    """Coarse images uniform per band: no regression (V = 1), F_k + delta_k from each pair."""
    shape = (3, 16, 16)
    level = np.array([0.1, 0.2, 0.3], np.float32)[:, None, None]
    c0 = np.broadcast_to(level, shape).astype(np.float32)
    c2 = c0 + np.float32(0.04)
    f0, f1 = _random(shape, 4), _random(shape, 5)
    out = Estarfm(window=7).predict_pairs([(c0, f0), (c0, f1)], c2)
    np.testing.assert_allclose(out, 0.5 * (f0 + f1) + 0.04, atol=1e-6)
    # consistent linear change: F_1 = F_0 + 0.1 where C_1 = C_0 + 0.1 (V = 1, T = 1/2 each)
    out = Estarfm(window=7).predict_pairs([(c0, f0), (c0 + 0.1, f0 + 0.1)], c0 + 0.05)
    np.testing.assert_allclose(out, f0 + 0.05, atol=1e-6)


def test_one_sided_pixels_use_the_valid_pair():
    c0, f0, c1, f1, c2 = _scene(h=16, w=16)
    cloud = np.ones((16, 16), bool)
    cloud[4:9, 4:9] = False
    out = Estarfm(window=5).predict_pairs([(c0, f0), (c1, f1)], c2, [cloud, np.ones_like(cloud)])
    # inside the cloud the first pair's fine image is never read
    garbage = f0.copy()
    garbage[:, 4:9, 4:9] = 9.0
    again = Estarfm(window=5).predict_pairs(
        [(c0, garbage), (c1, f1)], c2, [cloud, np.ones_like(cloud)]
    )
    np.testing.assert_allclose(again, out, atol=1e-6)
    assert np.isfinite(out).all() and out.max() < 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda m, c, f: m.predict(c, f, c),
        lambda m, c, f: m.predict_pairs([(c, f)], c),
        lambda m, c, f: m.predict_pairs([(c, f)] * 3, c),
        lambda m, c, f: m.predict_pairs([(c, f), (c, f[:, :5])], c),
        lambda m, c, f: m.predict_pairs([(c, f), (c, f)], c[0]),
        lambda m, c, f: m.predict_pairs([(c, f), (c, f)], c, [None]),
        lambda m, c, f: m.predict_pairs([(c, f), (c, np.full_like(f, np.nan))], c),
        lambda m, c, f: Estarfm(window=4),
        lambda m, c, f: Estarfm(num_classes=0),
        lambda m, c, f: Estarfm(similarity="nearby"),
        lambda m, c, f: Estarfm(significance=2.0),
    ],
)
def test_bad_input_is_a_one_line_error(call):
    c, f = _random((2, 8, 8), 1), _random((2, 8, 8), 2)
    with pytest.raises(EstStfmError) as info:
        call(Estarfm(window=3), c, f)
    assert "\n" not in str(info.value)


def test_one_pair_error_names_the_fix():
    c, f = _random((2, 8, 8), 1), _random((2, 8, 8), 2)
    with pytest.raises(EstStfmError, match="--pairs 2"):
        Estarfm().predict_pairs([(c, f)], c)


def test_registered():
    assert "estarfm" in CLASSIC_METHODS
    method = classic_method("estarfm")
    assert isinstance(method, Estarfm) and method.name == "estarfm" and method.halo == 15


def test_tiled_equals_whole(tiny_scene, tmp_path):
    scene = load_scene(tiny_scene)
    date = scene.pairs_dates()[1]
    method = Estarfm(window=9, similarity="local")
    whole = fuse(scene, date, method, pairs="2")
    assert len(whole.references) == 2
    out = tmp_path / "tiled.tif"
    written = predict_to_file(scene, date, method, out, pairs="2", tile=24, overlap=6, halo=0)
    assert written.tiles > 1
    tiled, valid = read_reflectance(out)
    assert valid.all()
    np.testing.assert_allclose(tiled, whole.image, atol=0.5e-4 + 1e-6)


def test_cli_predict_two_pairs(tiny_scene, tmp_path, capsys):
    d = load_scene(tiny_scene).pairs_dates()
    out = tmp_path / "estarfm.tif"
    args = ["predict", tiny_scene, "--date", d[1], "--model", "estarfm", "--out", out]
    code, stdout, err = cli(capsys, *args, "--pairs", "2", "--quiet")
    assert code == 0, err
    assert out.exists() and "estarfm" in stdout
    image, valid = read_reflectance(out)
    whole = fuse(load_scene(tiny_scene), d[1], resolve_method("estarfm"), pairs="2")
    assert valid.all()
    # default tiles are larger than the scene here: one tile, the whole-image result
    np.testing.assert_allclose(image, whole.image, atol=0.5e-4 + 1e-6)


@pytest.mark.parametrize(("date_index", "pairs"), [(0, "auto"), (2, "1"), (0, "2")])
def test_cli_one_pair_is_a_one_line_error(tiny_scene, tmp_path, capsys, date_index, pairs):
    d = load_scene(tiny_scene).pairs_dates()
    out = tmp_path / "estarfm.tif"
    args = ["predict", tiny_scene, "--date", d[date_index], "--model", "estarfm", "--out", out]
    code, _, err = cli(capsys, *args, "--pairs", pairs, "--quiet")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--pairs 2" in lines[0], err
    assert not out.exists()
