"""The pretraining scenes' coarse sensor (misregistration, gain, bias, band mix, point-spread
function) and abrupt changes (a fire darkens the NIR in its area, from its date on)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import ndimage

from est_stfm.datasets.degrade import blur_and_block_average, upsample_bilinear
from est_stfm.datasets.pretraining import (
    PretrainingSettings,
    make_pretraining_scene,
    pretraining_series,
)
from est_stfm.scene import load_scene

EXACT = {  # a coarse sensor without the differences a test does not look at
    "n_events": 0,
    "cloud_probability": 0.0,
    "coarse_cloud_probability": 0.0,
    "band_mix": 0.0,
    "noise": (0.0005, 0.0005),
}


def read_all(scene_file: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Fine and coarse stacks ``(dates, bands, H, W)`` and the generator's record."""
    scene = load_scene(scene_file)
    fine = np.stack([scene.read_fine(d)[0] for d in scene.dates])
    coarse = np.stack([scene.read_coarse(d)[0] for d in scene.dates])
    return fine, coarse, yaml.safe_load((scene_file.parent / "generator.yaml").read_text())


def degraded(fine: np.ndarray, factor: int, sigma: float, shift=(0, 0)) -> np.ndarray:
    """``fine`` moved by a whole number of pixels and seen by the pure coarse operator."""
    moved = ndimage.shift(fine, (0,) * (fine.ndim - 2) + tuple(shift), order=0, mode="nearest")
    return upsample_bilinear(blur_and_block_average(moved, factor, sigma), fine.shape[-2:], factor)


@pytest.mark.parametrize(("dy", "dx"), [(0.5, -0.25), (-0.375, 0.125)])
def test_misregistration_is_the_cross_correlation_peak(
    tmp_path: Path, dy: float, dx: float
) -> None:
    factor = 8
    path = make_pretraining_scene(
        tmp_path,
        seed=2,
        height=96,
        width=96,
        n_dates=1,
        bands=2,
        factor=factor,
        misregistration=(dy, dx),
        gain=1.0,
        bias=0.0,
        **EXACT,
    )
    fine, coarse, record = read_all(path)
    assert record["coarse"]["misregistration_fine_px"] == [dy * factor, dx * factor]
    sigma = record["coarse"]["psf_sigma_fine_px"]
    inner = (slice(None), slice(None), slice(16, -16), slice(16, -16))
    target = coarse[inner] - coarse[inner].mean()
    scores = {}
    for sy in range(-factor, factor + 1):
        for sx in range(-factor, factor + 1):
            guess = degraded(fine, factor, sigma, (sy, sx))[inner]
            guess = guess - guess.mean()
            scores[(sy, sx)] = float((guess * target).sum() / np.sqrt((guess**2).sum()))
    best = max(scores, key=scores.get)
    assert best == (round(dy * factor), round(dx * factor))
    assert scores[best] > scores[(0, 0)]


def test_gain_and_bias_are_applied_per_band(tmp_path: Path) -> None:
    gain, bias = (1.06, 0.93), (0.012, -0.02)
    path = make_pretraining_scene(
        tmp_path,
        seed=3,
        height=96,
        width=96,
        n_dates=2,
        bands=("B04", "B08"),
        factor=8,
        misregistration=(0.0, 0.0),
        gain=gain,
        bias=bias,
        **EXACT,
    )
    fine, coarse, record = read_all(path)
    assert record["coarse"]["gain"] == list(gain) and record["coarse"]["bias"] == list(bias)
    expected = degraded(fine, 8, record["coarse"]["psf_sigma_fine_px"])
    for b in range(2):
        x, y = expected[:, b].ravel(), coarse[:, b].ravel()
        slope, intercept = np.polyfit(x, y, 1)
        assert slope == pytest.approx(gain[b], abs=0.01)
        assert intercept == pytest.approx(bias[b], abs=0.003)


def test_coarse_bands_leak_into_their_neighbour_by_the_band_mix(tmp_path: Path) -> None:
    options = {**EXACT, "band_mix": 0.3}
    path = make_pretraining_scene(
        tmp_path,
        seed=3,
        height=96,
        width=96,
        n_dates=2,
        bands=("B04", "B05"),
        factor=8,
        misregistration=(0.0, 0.0),
        gain=1.0,
        bias=0.0,
        **options,
    )
    fine, coarse, record = read_all(path)
    assert record["coarse"]["band_mix"]["B04"] == ["B05", 0.3]
    sigma = record["coarse"]["psf_sigma_fine_px"]
    mixed = degraded(0.7 * fine[:, 0] + 0.3 * fine[:, 1], 8, sigma)
    plain = degraded(fine[:, 0], 8, sigma)
    error_mixed = np.abs(coarse[:, 0] - mixed).mean()
    assert error_mixed < 0.002 < np.abs(coarse[:, 0] - plain).mean()


def test_a_fire_darkens_the_nir_in_its_area_only_from_its_date_on(tmp_path: Path) -> None:
    common = {
        "seed": 21,
        "height": 96,
        "width": 96,
        "n_dates": 4,
        "bands": ("B04", "B08"),
        "factor": 8,
        "cloud_probability": 0.0,
        "coarse_cloud_probability": 0.0,
    }
    series = pretraining_series(PretrainingSettings(**common, n_events=1, event_kinds=("fire",)))
    (fire,) = series.events
    assert fire.kind == "fire" and fire.area > 20 and 1 <= fire.first <= 3
    nir = series.world.channels.index("B08")
    r0, r1, c0, c1 = fire.box
    burnt = np.zeros((96, 96), bool)
    burnt[r0:r1, c0:c1] = fire.fraction > 0.5
    touched = np.zeros((96, 96), bool)
    touched[r0:r1, c0:c1] = fire.fraction > 0
    for i in range(4):
        change = series.surface(i, events=True) - series.surface(i, events=False)
        assert not change[:, ~touched].any()
        if i < fire.first:
            assert not change.any()
        else:
            assert (change[nir][burnt] < -0.02).mean() > 0.9

    # on disk: the same scene without its fire is bit-identical outside the burnt area
    with_fire = make_pretraining_scene(
        tmp_path / "fire", n_events=1, event_kinds=("fire",), **common
    )
    without = make_pretraining_scene(tmp_path / "none", n_events=0, **common)
    fine_fire, _, record = read_all(with_fire)
    fine_none, _, _ = read_all(without)
    assert [e["kind"] for e in record["events"]] == ["fire"]
    assert record["events"][0]["first_date"] == series.dates[fire.first].isoformat()
    assert np.array_equal(fine_fire[:, :, ~touched], fine_none[:, :, ~touched])
    before = fine_fire[: fire.first, 1][:, burnt] - fine_none[: fire.first, 1][:, burnt]
    after = fine_fire[fire.first :, 1][:, burnt] - fine_none[fire.first :, 1][:, burnt]
    assert np.abs(before).max() == 0 and after.mean() < -0.05


def test_event_sizes_range_from_under_one_coarse_pixel_to_many() -> None:
    series = pretraining_series(
        PretrainingSettings(
            seed=8,
            height=160,
            width=160,
            n_dates=3,
            bands=1,
            factor=16,
            n_events=16,
            cloud_probability=0.0,
        )
    )
    areas = np.array([e.area for e in series.events]) / 16**2
    assert {e.kind for e in series.events} == {"flood", "fire", "harvest", "construction"}
    assert areas.min() < 1.0 and areas.max() > 3.0
    assert all(1 <= e.first <= e.last <= 2 for e in series.events)
