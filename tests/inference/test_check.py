"""Pretrained weights are checked on the scene's own pairs before their correction is trusted."""

from __future__ import annotations

import datetime as dt

import numpy as np
import torch

from est_stfm.inference.check import STRENGTHS, check_strength, checked
from est_stfm.inference.predict import fuse
from est_stfm.methods.model import ModelMethod
from est_stfm.methods.registry import classic_by_name
from est_stfm.models import create_model
from est_stfm.scene import load_scene


def _harmful_method() -> ModelMethod:
    """An any-band network whose correction is noise (a large random head) on the FSDAF base."""
    torch.manual_seed(0)
    model = create_model("est-stfm-any-tiny")
    torch.nn.init.normal_(model.head.weight, std=2.0)
    return ModelMethod(model, base=classic_by_name("fsdaf", 8), check=True)


def test_a_harmful_correction_is_switched_off_without_reading_the_target(tiny_scene):
    scene0 = load_scene(tiny_scene)
    target = scene0.pairs_dates()[2]
    scene = load_scene(tiny_scene, hidden_fine=[target])
    method = _harmful_method()
    result = check_strength(method, scene, target)
    assert result.strength == 0.0 and len(result.pairs) == 2
    assert all(target not in pair for pair in result.pairs)
    assert result.ratios[0.0] == 1.0 and result.ratios[1.0] > 1.0
    assert ("fine", target) in scene.hidden  # the target's fine image was never opened
    assert "kept 0" in result.summary()
    fused = fuse(scene, target, method, pairs="1")  # fuse runs the same check
    base = fuse(scene, target, method.base, pairs="1")
    np.testing.assert_allclose(fused.image, base.image, atol=1e-6)


def test_the_strength_scales_the_correction_and_two_dates_cannot_be_checked(tiny_scene):
    scene = load_scene(tiny_scene)
    method = _harmful_method()
    d = scene.pairs_dates()
    c1, f1, c2 = scene.read_coarse(d[0])[0], scene.read_fine(d[0])[0], scene.read_coarse(d[1])[0]
    base = method.base.predict(c1, f1, c2)
    full = method.with_strength(1.0).correct(c1, f1, c2, base, None)
    half = method.with_strength(0.5).correct(c1, f1, c2, base, None)
    np.testing.assert_allclose(half, (base + full) / 2, atol=1e-5)
    assert checked(method, scene, d[0]).name.endswith(" x0 (pair check)")
    two = load_scene(tiny_scene, hidden_fine=d[2:], hidden_coarse=d[2:])
    result = check_strength(method, two, d[0])  # one usable pair date besides the target
    assert result.strength == 0.0 and not result.pairs and "fewer than 2" in result.summary()
    assert checked(method.base, scene, d[0]) is method.base  # classic methods pass unchanged
    assert STRENGTHS[0] == 0.0 and STRENGTHS[-1] == 1.0
    assert isinstance(d[0], dt.date)
