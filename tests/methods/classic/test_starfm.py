"""STARFM (Gao et al. 2006): known answers, slow per-pixel references of both variants (the
reference code's rules and the earlier reading of the paper, ``starfm-fast``), pairs, masks, tiles,
the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from helpers import cli

from est_stfm.errors import EstStfmError
from est_stfm.inference.predict import fuse
from est_stfm.methods import resolve_method
from est_stfm.methods.classic import CLASSIC_METHODS, NAIVE_METHODS, Starfm, classic_method
from est_stfm.scene import load_scene


def _random(shape, seed=0, low=0.02, high=0.5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _fields(h: int, w: int, bands: int, seed: int = 0) -> np.ndarray:
    """A piecewise-constant image: 8 x 8 px fields at four well separated levels per band."""
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 4, size=(h // 8 + 1, w // 8 + 1))
    cells = np.kron(level, np.ones((8, 8), dtype=int))[:h, :w]
    return np.stack([0.1 + 0.1 * cells + 0.02 * b for b in range(bands)]).astype(np.float32)


def _blocks(image: np.ndarray, size: int) -> np.ndarray:
    b, h, w = image.shape
    means = image.reshape(b, h // size, size, w // size, size).mean(axis=(2, 4))
    return np.repeat(np.repeat(means, size, 1), size, 2).astype(np.float32)


def reference_fast(
    pairs,
    c2,
    *,
    window=31,
    num_classes=4,
    sigma_l=0.002,
    sigma_m=0.005,
    similarity="global",
    eps=1e-4,
    log_weights=False,
    log_scale=1e4,
):
    """The fast variant written the slow, obvious way: a loop over pixels, bands, pairs and
    neighbours (the behaviour this package shipped before the faithful variant)."""
    bands, h, w = c2.shape
    r, a = window // 2, window / 2
    sigma_lm = np.float32(np.hypot(sigma_l, sigma_m))
    sigma_mm = np.float32(np.sqrt(2.0) * sigma_m)
    out = np.zeros(c2.shape, dtype=np.float64)
    for b in range(bands):
        for i in range(h):
            for j in range(w):
                rows = slice(max(0, i - r), min(h, i + r + 1))
                cols = slice(max(0, j - r), min(w, j + r + 1))
                s_c = [abs(f[b, i, j] - c[b, i, j]) for c, f in pairs]
                t_c = [abs(c2[b, i, j] - c[b, i, j]) for c, _ in pairs]
                lv_c = [f[b, i, j] + (c2[b, i, j] - c[b, i, j]) for c, f in pairs]
                zero = [lv for lv, s, t in zip(lv_c, s_c, t_c, strict=True) if s == 0 or t == 0]
                if zero:
                    out[b, i, j] = np.mean(zero)
                    continue
                s_lim, t_lim = max(s_c) + sigma_lm, max(t_c) + sigma_mm
                num = den = 0.0
                for c, f in pairs:
                    if similarity == "global":
                        std = f[b].astype(np.float64).std()
                    else:
                        std = f[b, rows, cols].astype(np.float64).std()
                    threshold = np.float32(2 * std / num_classes)
                    for y in range(rows.start, rows.stop):
                        for x in range(cols.start, cols.stop):
                            s = abs(f[b, y, x] - c[b, y, x])
                            t = abs(c2[b, y, x] - c[b, y, x])
                            similar = abs(f[b, y, x] - f[b, i, j]) <= threshold
                            if not (similar and s <= s_lim and t <= t_lim):
                                continue
                            dist = 1 + np.hypot(y - i, x - j) / a
                            if log_weights:
                                cost = np.log(s * log_scale + 2) * np.log(t * log_scale + 2)
                            else:
                                cost = (float(s) + eps) * (float(t) + eps)
                            weight = 1 / (cost * dist)
                            num += weight * (f[b, y, x] + c2[b, y, x] - c[b, y, x])
                            den += weight
                out[b, i, j] = num / den
    return out


def reference_faithful(pairs, c2, *, window=31, num_classes=40, sigma_l=0.002, sigma_m=0.005):
    """The reference code's rules (StarFM v1.2.1) written the slow, obvious way."""
    bands, h, w = c2.shape
    r, a, u = window // 2, window / 2, np.float32(1e-4)
    sigma_lm = np.float32(np.hypot(sigma_l, sigma_m))
    sigma_mm = np.float32(np.sqrt(2.0) * sigma_m)
    combined = float(np.sqrt(sigma_l**2 + 3 * sigma_m**2)) / 1e-4
    out = np.zeros(c2.shape, dtype=np.float64)
    for b in range(bands):
        thresholds = [np.float32(2 * f[b].astype(np.float64).std() / num_classes) for _, f in pairs]
        for i in range(h):
            for j in range(w):
                s_lim = min(abs(f[b, i, j] - c[b, i, j]) for c, f in pairs) + sigma_lm
                t_lim = min(abs(c2[b, i, j] - c[b, i, j]) for c, _ in pairs) + sigma_mm
                num = den = 0.0
                for (c, f), threshold in zip(pairs, thresholds, strict=True):
                    for y in range(max(0, i - r), min(h, i + r + 1)):
                        for x in range(max(0, j - r), min(w, j + r + 1)):
                            s = abs(f[b, y, x] - c[b, y, x])
                            t = abs(c2[b, y, x] - c[b, y, x])
                            if not abs(f[b, y, x] - f[b, i, j]) < threshold:
                                continue
                            if s > s_lim and t > t_lim:  # kept if either is small enough
                                continue
                            cost = s / u + 1 if len(pairs) == 1 else (s / u + 1) * (t / u + 1)
                            dist = 1 + np.hypot(y - i, x - j) / a
                            weight = 1.0 if cost < combined else 1 / (float(cost) * dist)
                            num += weight * (f[b, y, x] + c2[b, y, x] - c[b, y, x])
                            den += weight
                out[b, i, j] = num / den
    return out


@pytest.mark.parametrize("window", [7, 31])  # 31: larger than the image, clipped everywhere
def test_faithful_matches_the_per_pixel_reference(window):
    f1, c1 = _random((2, 20, 20), 1), _random((2, 20, 20), 2)
    c2 = c1 + _random((2, 20, 20), 3, -0.05, 0.05)
    c1[:, :6] = f1[:, :6] + _random((2, 6, 20), 4, -0.004, 0.004)  # some weights at the maximum
    fast = Starfm(window=window).predict(c1, f1, c2)
    slow = reference_faithful([(c1, f1)], c2, window=window)
    np.testing.assert_allclose(fast, slow, atol=1e-5, rtol=0)


def test_faithful_two_pairs_match_the_per_pixel_reference():
    f1, c1, f3, c3 = (_random((2, 20, 20), s) for s in (4, 5, 6, 7))
    c2 = c1 + _random((2, 20, 20), 8, -0.05, 0.05)
    fast = Starfm(window=9, num_classes=4).predict_pairs([(c1, f1), (c3, f3)], c2)
    slow = reference_faithful([(c1, f1), (c3, f3)], c2, window=9, num_classes=4)
    np.testing.assert_allclose(fast, slow, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "options",
    [
        {"window": 7},
        {"window": 7, "similarity": "local"},
        {"window": 5, "log_weights": True},
        {"window": 31},  # larger than the image: the window is clipped everywhere
    ],
)
def test_fast_matches_the_per_pixel_reference(options):
    f1, c1 = _random((2, 20, 20), 1), _random((2, 20, 20), 2)
    c2 = c1 + _random((2, 20, 20), 3, -0.05, 0.05)
    fast = Starfm(variant="fast", **options).predict(c1, f1, c2)
    slow = reference_fast([(c1, f1)], c2, **options)
    np.testing.assert_allclose(fast, slow, atol=1e-5, rtol=0)


def test_fast_two_pairs_match_the_per_pixel_reference():
    f1, c1, f3, c3 = (_random((2, 20, 20), s) for s in (4, 5, 6, 7))
    c2 = _random((2, 20, 20), 8)
    fast = Starfm(window=9, variant="fast").predict_pairs([(c1, f1), (c3, f3)], c2)
    slow = reference_fast([(c1, f1), (c3, f3)], c2, window=9)
    np.testing.assert_allclose(fast, slow, atol=1e-5, rtol=0)


def test_starfm_fast_is_the_previous_implementation():
    """``starfm-fast`` is the earlier implementation: its output on a small input, computed by
    the per-pixel reference of that behaviour, and the registry's factory."""
    f1, c1 = _random((2, 16, 16), 11), _random((2, 16, 16), 12)
    c2 = c1 + _random((2, 16, 16), 13, -0.05, 0.05)
    method = classic_method("starfm-fast")
    assert isinstance(method, Starfm) and method.variant == "fast"
    expected = reference_fast([(c1, f1)], c2)
    np.testing.assert_allclose(method.predict(c1, f1, c2), expected, atol=1e-5, rtol=0)
    assert classic_method("starfm").variant == "faithful"


@pytest.mark.parametrize("variant", ["faithful", "fast"])
def test_no_coarse_change_gives_back_the_reference(variant):
    f1 = _fields(40, 40, 3)
    c1 = _blocks(f1, 8) + _random((3, 40, 40), 2, -0.01, 0.01)
    out = Starfm(variant=variant).predict(c1, f1, c1.copy())
    assert out.dtype == np.float32 and out.shape == f1.shape
    # the fast variant copies F1 where T = 0; the faithful one averages F1 over similar
    # neighbours, equal to the centre in these piecewise-constant fields (float32 sums)
    np.testing.assert_allclose(out, f1, atol=1e-5, rtol=0)


@pytest.mark.parametrize("variant", ["faithful", "fast"])
def test_uniform_coarse_offset_is_added_to_the_reference(variant):
    f1 = _fields(48, 48, 3)
    c1 = _blocks(f1, 16)  # mixed coarse pixels: S != 0, so the weighting is used
    out = Starfm(variant=variant).predict(c1, f1, c1 + np.float32(0.05))
    np.testing.assert_allclose(out, f1 + 0.05, atol=1e-5, rtol=0)


def test_a_pair_identical_to_the_target_gives_its_fine_image():
    f2, c2 = _random((3, 32, 32), 1), _random((3, 32, 32), 2)
    other_f, other_c = _random((3, 32, 32), 3), _random((3, 32, 32), 4)
    fast = Starfm(variant="fast")
    out = fast.predict_pairs([(other_c, other_f), (c2.copy(), f2)], c2)
    np.testing.assert_allclose(out, f2, atol=1e-6, rtol=0)
    # without the zero-difference rule the identical pair still dominates the weights
    soft = Starfm(copy_on_zero=False, variant="fast")
    alone = soft.predict(other_c, other_f, c2)
    soft = soft.predict_pairs([(other_c, other_f), (c2.copy(), f2)], c2)
    assert np.sqrt(np.mean((soft - f2) ** 2)) < 0.2 * np.sqrt(np.mean((alone - f2) ** 2))


def test_one_pair_is_the_predict_pairs_case_and_output_is_finite_float32():
    f1, c1, c2 = (_random((4, 30, 25), s) for s in (1, 2, 3))
    one = Starfm(window=11).predict(c1, f1, c2)
    np.testing.assert_array_equal(one, Starfm(window=11).predict_pairs([(c1, f1)], c2))
    assert one.shape == (4, 30, 25) and one.dtype == np.float32 and np.isfinite(one).all()


@pytest.mark.parametrize("variant", ["faithful", "fast"])
def test_a_crop_with_the_halo_equals_the_whole_image_inside(variant):
    """Every step is a moving window of ``window`` (the local similarity threshold too), so a
    crop read with ``halo`` pixels of context predicts its interior exactly as the whole image."""
    f1, c1 = _random((2, 48, 40), 1), _random((2, 48, 40), 2)
    c2 = c1 + _random((2, 48, 40), 3, -0.05, 0.05)
    method = Starfm(window=9, similarity="local", variant=variant)
    whole = method.predict(c1, f1, c2)
    rows, cols = slice(10 - method.halo, 30 + method.halo), slice(8 - method.halo, 24 + method.halo)
    tile = method.predict(c1[:, rows, cols], f1[:, rows, cols], c2[:, rows, cols])
    inside = (slice(None), slice(method.halo, -method.halo), slice(method.halo, -method.halo))
    np.testing.assert_allclose(tile[inside], whole[:, 10:30, 8:24], atol=1e-6, rtol=0)


@pytest.mark.parametrize("variant", ["faithful", "fast"])
def test_invalid_pixels_are_never_used(variant):
    f1, c1, c2 = (_random((2, 30, 30), s) for s in (1, 2, 3))
    valid = np.ones((30, 30), dtype=bool)
    valid[5:15, 5:15] = False
    dirty_a, dirty_b = f1.copy(), f1.copy()
    dirty_a[:, 5:15, 5:15], dirty_b[:, 5:15, 5:15] = 0.0, 9.0  # nodata filled differently
    method = Starfm(window=9, similarity="local", variant=variant)
    out_a = method.predict_pairs([(c1, dirty_a)], c2, valid=[valid])
    out_b = method.predict_pairs([(c1, dirty_b)], c2, valid=[valid])
    np.testing.assert_array_equal(out_a[:, valid], out_b[:, valid])
    # a second, clear pair fills the hole, whatever the first holds there
    f3, c3 = _random((2, 30, 30), 4), _random((2, 30, 30), 5)
    two = method.predict_pairs([(c1, dirty_a), (c3, f3)], c2, valid=[valid, None])
    again = method.predict_pairs([(c1, dirty_b), (c3, f3)], c2, valid=[valid, None])
    np.testing.assert_array_equal(two, again)
    if variant == "fast":  # the same weights as alone (the faithful ones depend on the count)
        alone = method.predict(c3, f3, c2)
        np.testing.assert_allclose(two[:, ~valid], alone[:, ~valid], atol=1e-6)


def test_bad_input_is_a_clear_error():
    a = _random((3, 10, 10))
    with pytest.raises(EstStfmError, match="resample"):
        Starfm().predict(a, a, a[:, :5])
    with pytest.raises(EstStfmError, match="bands, height, width"):
        Starfm().predict(a[0], a[0], a[0])
    with pytest.raises(EstStfmError, match="NaN"):
        Starfm().predict(a, np.full_like(a, np.nan), a)
    with pytest.raises(EstStfmError, match="odd"):
        Starfm(window=10)
    with pytest.raises(EstStfmError, match="at least one"):
        Starfm().predict_pairs([], a)
    with pytest.raises(EstStfmError, match="one valid mask per pair"):
        Starfm().predict_pairs([(a, a)], a, valid=[None, None])
    with pytest.raises(EstStfmError, match="variant"):
        Starfm(variant="paper")
    with pytest.raises(EstStfmError, match="log_weights"):
        Starfm(log_weights=True)


def test_registry_keeps_the_naive_methods():
    assert set(NAIVE_METHODS) <= set(CLASSIC_METHODS)
    assert {"starfm", "starfm-fast", "fsdaf", "fsdaf-fast"} <= set(CLASSIC_METHODS)
    assert classic_method("naive-copy") is NAIVE_METHODS["naive-copy"]
    assert classic_method("starfm").halo == 15
    with pytest.raises(EstStfmError, match="unknown classic method"):
        classic_method("starfn")


def test_fuse_two_pairs_pools_the_candidates_of_both(tiny_scene):
    scene = load_scene(tiny_scene)
    d = scene.pairs_dates()
    method = resolve_method("starfm", scene)
    truth, _ = scene.read_fine(d[1])
    two = fuse(scene, d[1], method, pairs="2")
    assert two.references == (d[0], d[2]) and two.valid.all()
    one = [fuse(scene, d[1], method, reference=r).image for r in (d[0], d[2])]

    def rmse(image):
        return float(np.sqrt(np.mean((image - truth) ** 2)))

    # the pooled weights follow the pair whose coarse image changed less: better than the worse
    assert rmse(two.image) < max(rmse(one[0]), rmse(one[1]))
    assert not np.allclose(two.image, 0.5 * (one[0] + one[1]), atol=1e-4)  # not a plain blend


def test_cli_predict_with_starfm_writes_a_georeferenced_geotiff(tiny_scene, tmp_path, capsys):
    scene = load_scene(tiny_scene)
    d = scene.pairs_dates()
    out = tmp_path / "starfm.tif"
    code, stdout, err = cli(
        capsys,
        "predict",
        tiny_scene,
        "--date",
        d[2],
        "--model",
        "starfm",
        "--out",
        out,
        "--pairs",
        "1",
        "--tile",
        "40",
        "--overlap",
        "8",
        "--halo",
        "0",
        "--quiet",
    )
    assert code == 0, err
    assert "starfm" in stdout
    with rasterio.open(out) as ds, rasterio.open(scene.fine[d[2]]) as ref:
        assert ds.crs == ref.crs and ds.transform == ref.transform
        assert (ds.count, ds.height, ds.width) == (ref.count, ref.height, ref.width)
    written = rasterio.open(out).read().astype(np.float32) * scene.scale
    whole = fuse(scene, d[2], Starfm(), pairs="1")
    truth, _ = scene.read_fine(d[2])
    # tiles read the method's halo (15 px), so they differ from the whole image only through the
    # per-tile standard deviation of the similarity threshold (and int16 rounding): far less
    # than the prediction's own error
    seam = np.sqrt(np.mean((written - whole.image) ** 2))
    assert seam < 0.2 * np.sqrt(np.mean((whole.image - truth) ** 2))
