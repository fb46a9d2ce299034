"""Two reference pairs (one before, one after the target) blended by their coarse change."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import rasterio

from est_stfm.errors import EstStfmError
from est_stfm.inference.predict import fuse
from est_stfm.inference.references import choose_references
from est_stfm.methods import pair_weights, resolve_method
from est_stfm.scene import load_scene

NAIVE = resolve_method("naive-change")


def test_reference_choice(tiny_scene):
    scene = load_scene(tiny_scene)
    d = scene.pairs_dates()  # four dates
    assert choose_references(scene, d[1], NAIVE, pairs="auto")[1] == (d[0], d[2])
    assert choose_references(scene, d[1], NAIVE, pairs="2")[1] == (d[0], d[2])
    assert len(choose_references(scene, d[1], NAIVE, pairs="1")[1]) == 1
    assert choose_references(scene, d[3], NAIVE, pairs="auto")[1] == (d[2],)  # nothing after
    assert choose_references(scene, d[1], NAIVE, reference=d[3])[1] == (d[3],)
    with pytest.raises(EstStfmError, match="before and after"):
        choose_references(scene, d[3], NAIVE, pairs="2")
    with pytest.raises(EstStfmError, match="1, 2 or auto"):
        choose_references(scene, d[1], NAIVE, pairs="3")


def test_weights_favour_the_pair_whose_coarse_image_changed_less():
    rng = np.random.default_rng(0)
    c2 = rng.uniform(0, 0.4, (3, 40, 40)).astype(np.float32)
    same = c2 + 0.001
    changed = c2 + 0.05
    w_same, w_changed = pair_weights(c2, [same, changed], window=9)
    np.testing.assert_allclose(w_same + w_changed, 1.0, rtol=1e-6)
    assert (w_same > 0.95).all()


def test_two_pairs_blend_and_fill_a_cloudy_reference(tiny_scene, tmp_path):
    folder = tmp_path / "scene"
    shutil.copytree(tiny_scene.parent, folder)
    scene = load_scene(folder / tiny_scene.name)
    d = scene.pairs_dates()
    # a "cloud": nodata in the earlier reference's fine image
    with rasterio.open(scene.fine[d[0]], "r+") as ds:
        data = ds.read()
        data[:, 10:30, 10:30] = ds.nodata
        ds.write(data)
    one_a = fuse(scene, d[1], NAIVE, reference=d[0])
    one_b = fuse(scene, d[1], NAIVE, reference=d[2])
    two = fuse(scene, d[1], NAIVE, pairs="2")
    assert two.references == (d[0], d[2])
    assert not one_a.valid[10:30, 10:30].any()
    assert two.valid.all()  # the cloud is filled from the later pair
    np.testing.assert_allclose(two.image[:, 10:30, 10:30], one_b.image[:, 10:30, 10:30], atol=1e-6)
    # elsewhere each pixel lies between the two single-pair predictions
    lo = np.minimum(one_a.image, one_b.image) - 1e-6
    hi = np.maximum(one_a.image, one_b.image) + 1e-6
    outside = one_a.valid
    assert ((two.image >= lo) & (two.image <= hi))[:, outside].all()
