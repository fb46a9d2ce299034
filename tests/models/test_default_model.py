"""The shipped default: band-agnostic weights that predict with no fit and that fit refines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import cli

from est_stfm.benchmark.protocol import load_protocol
from est_stfm.errors import EstStfmError
from est_stfm.methods.model import ModelMethod
from est_stfm.methods.registry import classic_by_name
from est_stfm.models.pretrained import DEFAULT_MODEL, PRETRAINED, load_pretrained
from est_stfm.scene import load_scene
from est_stfm.training import FitConfig, fit

REPO = Path(__file__).resolve().parents[2]


def test_the_default_weights_are_shipped_band_agnostic_and_say_what_they_saw():
    entry = PRETRAINED[DEFAULT_MODEL]
    model, meta = load_pretrained(DEFAULT_MODEL)
    assert entry.any_bands and model.config.bands is None
    assert (entry.directory / "model.safetensors").stat().st_size < 20 * 2**20
    assert model.head.weight.abs().sum() > 0  # trained, not the zero initialisation
    assert meta["fit"]["base"] == "fsdaf+consistency"
    assert {name.split(":")[0] for name in meta["scene"]} == {"synthetic", "real"}
    real = {name.split(":")[1] for name in meta["scene"] if name.startswith("real:")}
    protocol = load_protocol(REPO / "benchmarks" / "protocol-v3.yaml")
    assert real == {s.id for s in protocol.scenes}  # every benchmark scene: so the benchmark
    held_out = next(m for m in protocol.methods if m.weights_by_scene)  # scores it per scene
    assert set(held_out.weights_by_scene) == real  # with weights that never saw that scene


@pytest.mark.parametrize("bands", [1, 4, 10])
def test_the_default_predicts_any_band_count(bands):
    rng = np.random.default_rng(bands)
    f1 = rng.uniform(0.05, 0.4, size=(bands, 48, 48)).astype(np.float32)
    c1 = np.repeat(np.repeat(f1.reshape(bands, 6, 8, 6, 8).mean((2, 4)), 8, 1), 8, 2)
    c2 = c1 + 0.03
    model, _ = load_pretrained(DEFAULT_MODEL)  # no scene to read the coarse factor from
    method = ModelMethod(model, base=classic_by_name("fsdaf+consistency", 8))
    pred = method.predict(c1, f1, c2)
    assert pred.shape == f1.shape and np.isfinite(pred).all()
    assert abs(float((pred - f1).mean()) - 0.03) < 0.02  # it follows the coarse change


def test_predict_without_model_uses_the_default(tiny_scene, tmp_path, capsys):
    out = tmp_path / "p.tif"
    code, stdout, err = cli(capsys, "predict", tiny_scene, "--date", "2001-06-09", "--out", out)
    assert code == 0, err
    assert DEFAULT_MODEL in stdout
    with rasterio.open(out) as src:
        assert src.count == 6 and src.crs is not None
    code, stdout, _ = cli(capsys, "models")
    line = next(x for x in stdout.splitlines() if DEFAULT_MODEL in x)
    assert "(predict's default)" in line and "any band count" in line


def test_fit_starts_from_the_default_weights_on_their_base(tiny_scene, tmp_path):
    scene = load_scene(tiny_scene)
    cfg = FitConfig(epochs=1, patch_size=32, validation="none", threads=1)
    _, result = fit(scene, tmp_path / "m", cfg, progress=False)
    assert result.config.init == DEFAULT_MODEL and result.config.model == "est-stfm-any-tiny"
    assert result.config.base == "fsdaf+consistency" and result.config.lr == 2e-4
    with pytest.raises(EstStfmError, match="corrects the base fsdaf\\+consistency"):
        fit(scene, tmp_path / "x", FitConfig(epochs=1, base="change"), progress=False)


def test_a_scene_without_coarse_factor_gets_a_one_line_hint(tiny_scene, tmp_path, capsys):
    text = tiny_scene.read_text()
    assert "coarse_factor:" in text
    bare = tiny_scene.parent / "no_factor.yaml"
    bare.write_text("\n".join(x for x in text.splitlines() if "coarse_factor" not in x) + "\n")
    out = tmp_path / "p.tif"
    code, _, err = cli(capsys, "predict", bare, "--date", "2001-06-09", "--out", out)
    assert code != 0 and not out.exists()
    assert "corrects fsdaf+consistency" in err and "coarse_factor" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
