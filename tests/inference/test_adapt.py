"""Test-time adaptation: it lowers the coarse-change inconsistency of the target date, leaves
the saved model alone, and is refused where it cannot work."""

from __future__ import annotations

import numpy as np
import rasterio
import torch
from helpers import cli

from est_stfm.inference.adapt import adapt_method, adapt_model
from est_stfm.methods import ModelMethod, PairwiseMethod
from est_stfm.models import create_model
from est_stfm.models.checkpoint import save_model
from est_stfm.scene import load_scene
from est_stfm.training.losses import coarse_consistency


def _biased_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("est-stfm-tiny", bands=6)
    with torch.no_grad():  # a correction with a coarse-scale bias
        model.head.bias.fill_(0.02)
    return model.eval()


def _inconsistency(model, scene, date, ref) -> float:
    f1, v1 = scene.read_fine(ref)
    c1, _ = scene.read_coarse(ref)
    c2, _ = scene.read_coarse(date)
    t = [torch.from_numpy(a)[None] for a in (c1, f1, c2)]
    valid = torch.from_numpy(v1[None, None].astype(np.float32))
    with torch.no_grad():
        return float(coarse_consistency(model(*t), t[1], t[0], t[2], valid, scene.coarse_factor))


def test_adaptation_lowers_the_inconsistency_and_copies_the_model(tiny_scene):
    scene = load_scene(tiny_scene)
    ref, date = scene.pairs_dates()[1], scene.pairs_dates()[2]
    model = _biased_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tuned = adapt_model(model, scene, date, (ref,), steps=30, lr=1e-3, patch=32)
    assert _inconsistency(tuned, scene, date, ref) < 0.5 * _inconsistency(model, scene, date, ref)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_cli_predict_with_adaptation(tiny_scene, tmp_path, capsys):
    save_model(tmp_path / "m", _biased_model(), {"bands": 6})
    out = tmp_path / "p.tif"
    args = ["predict", tiny_scene, "--date", "2001-06-09", "--out", out, "--quiet"]
    code, stdout, err = cli(capsys, *args, "--model", tmp_path / "m", "--adapt-steps", 2)
    assert code == 0, err
    assert "+adapt2" in stdout
    with rasterio.open(out) as src:
        assert src.crs is not None and src.count == 6
    code, _, err = cli(capsys, *args, "--model", "naive-change", "--adapt-steps", 2)
    assert code == 2 and "needs a trained model" in err


class _OffsetBase(PairwiseMethod):
    """A classic base with a coarse-scale bias: F1 + C2 - C1 + 0.02."""

    name = "offset"

    def predict(self, c1, f1, c2):
        return f1 + (c2 - c1) + np.float32(0.02)


def test_adaptation_corrects_the_prediction_on_a_classic_base(tiny_scene):
    """With ``--base``, the prediction is network + (base - naive-change): adaptation must tune
    that sum, not the bare network (which alone is already consistent here)."""
    scene = load_scene(tiny_scene)
    ref, date = scene.pairs_dates()[1], scene.pairs_dates()[2]
    torch.manual_seed(0)
    method = ModelMethod(create_model("est-stfm-tiny", bands=6), base=_OffsetBase())

    def inconsistency(m: ModelMethod) -> float:
        f1, v1 = scene.read_fine(ref)
        c1, _ = scene.read_coarse(ref)
        c2, _ = scene.read_coarse(date)
        pred = torch.from_numpy(m.predict(c1, f1, c2))[None]
        t = [torch.from_numpy(a)[None] for a in (c1, f1, c2)]
        valid = torch.from_numpy(v1[None, None].astype(np.float32))
        return float(coarse_consistency(pred, t[1], t[0], t[2], valid, scene.coarse_factor))

    tuned = adapt_model(method.model, scene, date, (ref,), 30, base=method.base, lr=1e-3, patch=32)
    assert inconsistency(method.with_model(tuned, "a")) < 0.5 * inconsistency(method)
    adapted = adapt_method(method, scene, date, steps=5, reference=ref)
    assert adapted.base is method.base and adapted.name.endswith("+adapt5")
    assert inconsistency(adapted) < inconsistency(method)
