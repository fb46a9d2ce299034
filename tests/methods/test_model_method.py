"""A network as a fusion method on top of a classic base: one base for all pairs, masks passed."""

from __future__ import annotations

import numpy as np
import torch

from est_stfm.datasets.degrade import degrade_to_coarse
from est_stfm.datasets.synthetic import synthetic_series
from est_stfm.methods.classic import Fsdaf
from est_stfm.methods.consistency import Consistent
from est_stfm.methods.model import NETWORK_CONTEXT, ModelMethod
from est_stfm.methods.registry import classic_by_name
from est_stfm.models import create_model

SIZE, FACTOR = 64, 8
DATES = ["2001-05-08", "2001-06-25", "2001-08-12"]


def _pairs():
    series = synthetic_series(height=SIZE, width=SIZE, factor=FACTOR, dates=DATES, seed=3)
    fine = [f[:3].astype(np.float32) for f in series.fine]
    coarse = [degrade_to_coarse(f, FACTOR, gain=1.05, bias=0.01, noise=0.0) for f in fine]
    return fine, coarse


def test_an_untrained_network_returns_exactly_its_base_with_one_or_two_pairs():
    fine, coarse = _pairs()
    base = classic_by_name("fsdaf+consistency", FACTOR)
    assert isinstance(base, Consistent) and isinstance(base.base, Fsdaf)
    torch.manual_seed(0)
    method = ModelMethod(create_model("est-stfm-any-tiny"), base=base)  # zero head
    pairs = [(coarse[0], fine[0]), (coarse[2], fine[2])]
    valid = [np.ones((SIZE, SIZE), dtype=bool)] * 2
    for used in (pairs[:1], pairs):
        expected = base.predict_pairs(used, coarse[1], valid[: len(used)])
        got = method.predict_pairs(used, coarse[1], valid[: len(used)])
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_trained_network_sees_the_valid_mask():
    fine, coarse = _pairs()
    torch.manual_seed(0)
    model = create_model("est-stfm-any-tiny")
    torch.nn.init.normal_(model.head.weight, std=0.05)  # a network that corrects something
    method = ModelMethod(model, base=classic_by_name("fsdaf", FACTOR))
    pair = [(coarse[0], fine[0])]
    all_valid = [np.ones((SIZE, SIZE), dtype=bool)]
    cloud = [all_valid[0].copy()]
    cloud[0][:16, :16] = False
    a = method.predict_pairs(pair, coarse[1], all_valid)
    b = method.predict_pairs(pair, coarse[1], cloud)
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert np.abs(a - b).max() > 0  # the mask changed what the network saw


def test_with_a_core_the_network_sees_only_the_core_and_its_context():
    fine, coarse = _pairs()
    torch.manual_seed(0)
    model = create_model("est-stfm-any-tiny")
    torch.nn.init.normal_(model.head.weight, std=0.05)
    base = classic_by_name("naive-change")  # one pair: F1 + C2 - C1, pixel by pixel
    method = ModelMethod(model, base=base)
    pairs = [(coarse[0], fine[0])]
    valid = [np.ones((SIZE, SIZE), dtype=bool)]
    core = (slice(20, 40), slice(0, 30))  # the network sees rows 4-56, columns 0-46
    rows, cols = slice(20 - NETWORK_CONTEXT, 40 + NETWORK_CONTEXT), slice(0, 30 + NETWORK_CONTEXT)
    got = method.predict_pairs(pairs, coarse[1], valid, core=core)
    crop = method.predict_pairs(
        [(c[:, rows, cols], f[:, rows, cols]) for c, f in pairs],
        coarse[1][:, rows, cols],
        [v[rows, cols] for v in valid],
    )
    np.testing.assert_array_equal(got[:, rows, cols], crop)
    outside = base.predict_pairs(pairs, coarse[1], valid)
    np.testing.assert_array_equal(got[:, :4], outside[:, :4])
    np.testing.assert_array_equal(got[:, :, 46:], outside[:, :, 46:])
    whole = method.predict_pairs(pairs, coarse[1], valid)
    assert np.abs(got[:, core[0], core[1]] - whole[:, core[0], core[1]]).max() > 0
