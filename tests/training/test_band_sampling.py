"""Band sampling for band-agnostic training: patches of scenes with different band counts share
a batch, each patch taking the same number of its own scene's bands."""

from __future__ import annotations

import numpy as np

from est_stfm.scene import load_scene
from est_stfm.training.samples import PatchDataset, band_choice, load_stack, split_scene


def test_band_choice_is_distinct_when_it_can_be_and_covers_every_band_when_it_cannot():
    rng = np.random.default_rng(0)
    pick = band_choice(rng, 6, 4)
    assert len(set(pick.tolist())) == 4 and pick.max() < 6
    pick = band_choice(rng, 2, 5)
    assert sorted(set(pick.tolist())) == [0, 1] and len(pick) == 5
    assert band_choice(rng, 1, 3).tolist() == [0, 0, 0]


def test_patches_take_the_same_bands_of_every_image_of_the_pair(tiny_scene):
    scene = load_scene(tiny_scene)
    stack = load_stack(scene, scene.pairs_dates())
    split = split_scene(stack, "none", 0.0)
    plain = PatchDataset([stack], [split], 32, 8, seed=2)
    sampled = PatchDataset([stack], [split], 32, 8, seed=2, bands_per_sample=3)
    for i in range(8):
        full, some = plain[i], sampled[i]
        assert some[0].shape[0] == 3 and some[4].shape == full[4].shape  # valid: one plane
        np.testing.assert_array_equal(some[4], full[4])  # same patch, same turn and flip
        # every sampled band is one of the full patch's bands, the same one in C1, F1, C2, F2
        for b in range(3):
            matches = [j for j in range(full[1].shape[0]) if np.array_equal(some[1][b], full[1][j])]
            assert matches
            j = matches[0]
            for k in (0, 2, 3):
                np.testing.assert_array_equal(some[k][b], full[k][j])
