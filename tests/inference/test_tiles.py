"""Tiled, streamed prediction: full coverage, no seam, bounded difference from one whole pass."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from est_stfm.errors import EstStfmError
from est_stfm.evaluation import read_reflectance
from est_stfm.inference.predict import fuse, predict_to_file
from est_stfm.inference.tiles import tile_rows, tile_starts
from est_stfm.methods import Method, ModelMethod, PairwiseMethod, resolve_method
from est_stfm.models import create_model
from est_stfm.scene import Scene, load_scene


@pytest.mark.parametrize(("length", "tile", "overlap"), [(10, 16, 4), (100, 32, 8), (97, 40, 0)])
def test_tiles_cover_every_pixel_with_the_overlap_asked(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    for a, b in zip(starts, starts[1:], strict=False):
        assert a + size - b >= overlap  # neighbours share at least `overlap` pixels
    weights = np.zeros(length)
    for row in tile_rows(length, 5, tile, overlap):
        t = row[0]
        weights[t.rows[0] : t.rows[1]] += t.weight[:, 0]
    assert (weights > 0).all()


def test_local_method_tiled_equals_whole(tiny_scene, tmp_path):
    """naive-change is per pixel: tiling, blending and streaming must reproduce it exactly."""
    scene = load_scene(tiny_scene)
    date = scene.pairs_dates()[2]
    whole = fuse(scene, date, resolve_method("naive-change"), pairs="1")
    out = tmp_path / "tiled.tif"
    written = predict_to_file(
        scene, date, resolve_method("naive-change"), out, pairs="1", tile=24, overlap=6, halo=3
    )
    assert written.tiles == 16  # 64 px: tiles start at 0, 18, 36, 40 on each axis
    tiled, valid = read_reflectance(out)
    assert valid.all()
    # equal up to the int16 quantisation of the file (scale 1e-4)
    np.testing.assert_allclose(tiled, whole.image, atol=0.5e-4 + 1e-6)


def _model_method(seed: int = 0) -> ModelMethod:
    torch.manual_seed(seed)
    model = create_model("est-stfm-tiny", bands=6)
    torch.nn.init.normal_(model.head.weight, std=0.02)  # a non-zero correction to compare
    return ModelMethod(model)


def test_model_tiled_close_to_whole(tiny_scene, tmp_path):
    scene = load_scene(tiny_scene)
    date = scene.pairs_dates()[1]
    method = _model_method()
    whole = fuse(scene, date, method, pairs="1")
    out = tmp_path / "tiled.tif"
    predict_to_file(scene, date, method, out, pairs="1", tile=40, overlap=12, halo=8)
    tiled, _ = read_reflectance(out)
    f1, _ = scene.read_fine(whole.reference)
    c1, _ = scene.read_coarse(whole.reference)
    c2, _ = scene.read_coarse(date)
    correction = whole.image - (f1 + c2 - c1)
    diff = tiled - whole.image
    rms = lambda a: float(np.sqrt(np.mean(a.astype(np.float64) ** 2)))  # noqa: E731
    # The channel attention normalises over the pixels it sees, so a tile is not bit-identical
    # to the whole image; the difference must stay a small part of the model's correction.
    assert rms(diff) < 0.35 * rms(correction)


SEAM_FACTOR = 1.5
"""How much rougher the tiling error may be across tile edges than inside the tiles."""
SEAM_FOUND = 2.0
"""A seam: steps across tile edges at least twice those inside the tiles."""


def _tile_edges(length: int, tile: int, overlap: int) -> list[int]:
    """Every position inside ``[0, length)`` where a tile begins or ends."""
    size = min(tile, length)
    starts = tile_starts(length, tile, overlap)
    return sorted({e for s in starts for e in (s, s + size) if 0 < e < length})


def _seam_ratios(image: np.ndarray, edges: list[int]) -> tuple[float, float]:
    """Mean absolute step of ``image`` (bands, H, W) across the ``edges`` over the mean absolute
    step everywhere else, across columns and across rows: about 1 where no seam shows."""
    ratios = []
    for axis in (2, 1):
        steps = np.abs(np.diff(image.astype(np.float64), axis=axis))
        per_gap = steps.mean(axis=(0, 3 - axis))  # gap j lies between pixels j and j + 1
        at_edge = np.zeros(per_gap.size, bool)
        at_edge[[e - 1 for e in edges]] = True
        ratios.append(float(per_gap[at_edge].mean() / per_gap[~at_edge].mean()))
    return ratios[0], ratios[1]


@pytest.fixture(scope="module")
def trained(tiny_scene) -> tuple[Scene, dt.date, Method, np.ndarray]:
    """The shipped trained weights on the tiny scene: scene, date, method, whole-image pass.

    Trained weights: their correction depends on context (convolutions, and channel attention
    normalised over the pixels a tile sees), so tiles disagree where they meet.
    """
    scene = load_scene(tiny_scene)
    date = scene.pairs_dates()[1]
    method = resolve_method("est-stfm-small-stf6", scene)
    return scene, date, method, fuse(scene, date, method, pairs="1").image


def _tiling_error(trained, out: Path, overlap: int) -> np.ndarray:
    """Tiled (32 px tiles, 8 px halo) minus whole-image prediction. A seam is measured on this
    difference because the scene's own edges would hide one of this size in the prediction."""
    scene, date, method, whole = trained
    predict_to_file(scene, date, method, out, pairs="1", tile=32, overlap=overlap, halo=8)
    tiled, valid = read_reflectance(out)
    assert valid.all()
    error = tiled - whole
    assert np.abs(error).max() > 1e-3  # the tiles do see different context
    return error


def test_trained_model_tiles_meet_without_a_seam(trained, tmp_path):
    error = _tiling_error(trained, tmp_path / "tiled.tif", overlap=12)
    across_columns, across_rows = _seam_ratios(error, _tile_edges(64, 32, 12))
    assert across_columns < SEAM_FACTOR and across_rows < SEAM_FACTOR


def test_seam_measure_finds_the_seam_of_tiles_that_do_not_overlap(trained, tmp_path):
    """Without overlap blending the same model's tiles meet in a step the measure sees."""
    error = _tiling_error(trained, tmp_path / "tiled.tif", overlap=0)
    across_columns, across_rows = _seam_ratios(error, _tile_edges(64, 32, 0))
    assert across_columns > SEAM_FOUND and across_rows > SEAM_FOUND


class TileMean(PairwiseMethod):
    """A deliberately tile-dependent method: each tile becomes its own mean value."""

    name = "tile-mean"

    def predict(self, c1, f1, c2):
        return np.full_like(f1, f1.mean(), dtype=np.float32)


@pytest.mark.parametrize("overlap", [0, 16])
def test_overlap_blending_leaves_no_seam(tiny_scene, tmp_path, overlap):
    """Tiles that disagree meet in a gradual ramp when they overlap, and in a step when not."""
    scene = load_scene(tiny_scene)
    date = scene.pairs_dates()[1]
    out = tmp_path / "pred.tif"
    predict_to_file(scene, date, TileMean(), out, tile=32, overlap=overlap, halo=0)
    image, _ = read_reflectance(out)
    step = np.abs(np.diff(image[0], axis=1)).max()
    spread = image[0].max() - image[0].min()  # how much the tiles disagree
    assert spread > 1e-3
    if overlap:
        assert step < spread / 4  # spread over the 16-pixel overlap, no visible edge
    else:
        assert step > spread / 2  # without overlap the same tiles meet in a hard seam


def test_failed_prediction_leaves_existing_output(tiny_scene, tmp_path):
    scene = load_scene(tiny_scene)
    date = scene.pairs_dates()[1]
    out = tmp_path / "pred.tif"
    out.write_bytes(b"old")

    class Broken(PairwiseMethod):
        name = "broken"

        def predict(self, c1, f1, c2):
            raise EstStfmError("boom")

    with pytest.raises(EstStfmError):
        predict_to_file(scene, date, Broken(), out, tile=24, overlap=6)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["pred.tif"]


def test_cloud_optimized_geotiff(tiny_scene, tmp_path):
    scene = load_scene(tiny_scene)
    date = scene.pairs_dates()[1]
    out = tmp_path / "pred_cog.tif"
    predict_to_file(scene, date, resolve_method("naive-copy"), out, cog=True)
    with rasterio.open(out) as ds, rasterio.open(scene.fine[scene.pairs_dates()[0]]) as ref:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.crs == ref.crs and ds.transform == ref.transform
