"""Spatial validation: held-out blocks in both directions that never enter a training loss, and
the score against the model's own base (RMSE ratio minus SSIM gain; 1.0 = the base)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from est_stfm.datasets import make_synthetic_scene
from est_stfm.models import create_model
from est_stfm.scene import load_scene
from est_stfm.training.samples import PatchDataset, held_out_blocks, load_stack, split_scene
from est_stfm.training.validate import Validator, base_state, scaled_state, starting_best


@pytest.fixture(scope="module")
def two_dates(tmp_path_factory):
    out = tmp_path_factory.mktemp("blocks")
    path = make_synthetic_scene(out, height=128, width=160, dates=["2001-05-08", "2001-06-09"])
    scene = load_scene(path)
    return load_stack(scene, scene.pairs_dates())


def test_blocks_are_spread_in_both_directions_and_cover_the_fraction():
    window, mask = held_out_blocks(300, 2000, 0.15)
    assert window[0] == slice(0, 300) and window[1] == slice(488, 1512)  # central 1024 columns
    assert not mask[:, :488].any() and not mask[:, 1512:].any()
    share = mask[window].mean()
    assert 0.08 < share < 0.22
    rows, cols = np.nonzero(mask)
    assert np.ptp(rows) > 150 and np.ptp(cols) > 700  # spread, not one strip


def test_spatial_split_keeps_held_out_targets_out_of_every_patch(two_dates):
    split = split_scene(two_dates, "auto", 0.15)
    assert split.mode == "spatial" and len(split.val_pairs) == 2  # both directions of the pair
    assert split.val_mask is not None and 0 < split.val_mask.mean() < 0.3
    data = PatchDataset([two_dates], [split], 48, 32, seed=0)
    assert all(data[i][4].any() for i in range(32))
    split.val_mask = np.ones_like(split.val_mask)  # everything held out: no pixel may train
    assert not any(data[i][4].any() for i in range(32))
    split.val_mask[:, :80] = False  # the left half trains: patches there keep their pixels
    kept = [int(data[i][4].sum()) for i in range(32)]
    assert max(kept) > 0 and min(kept) < 48 * 48


def test_the_score_is_one_for_the_base_and_sees_a_worse_model(two_dates):
    split = split_scene(two_dates, "spatial", 0.15)
    validator = Validator([two_dates], [split], torch.device("cpu"))
    model = create_model("est-stfm-any-tiny")
    model.load_state_dict(base_state(model))
    assert validator.score(model) == pytest.approx(1.0, abs=1e-5)
    torch.nn.init.normal_(model.head.weight, std=0.5)  # a large random correction
    assert validator.score(model) > 1.05


def test_a_fit_from_weights_also_validates_them_weaker(two_dates):
    split = split_scene(two_dates, "spatial", 0.15)
    validator = Validator([two_dates], [split], torch.device("cpu"))
    torch.manual_seed(0)
    model = create_model("est-stfm-any-tiny")
    torch.nn.init.normal_(model.head.weight, std=0.05)
    probe = create_model("est-stfm-any-tiny")
    scores, outputs = {}, {}
    c1, f1, c2 = (torch.from_numpy(two_dates.coarse[two_dates.dates[0]])[None] for _ in range(3))
    for strength in (0.0, 0.25, 0.5, 0.75, 1.0):
        probe.load_state_dict(scaled_state(model, strength))
        scores[strength] = validator.score(probe)
        outputs[strength] = probe.eval()(c1, f1 + 0.01, c2 + 0.02)
    # the head is the last linear layer: scaling it scales the correction exactly
    half = outputs[0.5] - outputs[0.0]
    assert torch.allclose(half, 0.5 * (outputs[1.0] - outputs[0.0]), atol=1e-6)
    best = starting_best(model, validator, from_init=True)
    expected = min(scores, key=lambda s: (scores[s], s))
    assert best.strength == expected and best.score == pytest.approx(scores[expected])
    assert best.is_base == (expected == 0.0) and best.start_score == pytest.approx(scores[1.0])


def test_date_validation_predicts_at_most_the_central_window():
    from est_stfm.training.samples import VALIDATION_WINDOW, central_window

    ys, xs = central_window(300, 2500)
    assert (ys.start, ys.stop) == (0, 300)
    assert xs.stop - xs.start == VALIDATION_WINDOW and xs.start == (2500 - VALIDATION_WINDOW) // 2
    assert central_window(64, 64) == (slice(0, 64), slice(0, 64))
