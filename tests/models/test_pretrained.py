"""Shipped pretrained weights: loaded by name after a SHA-256 check, usable by predict with no
fit, and as the starting point of fit --init."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import rasterio
import torch
from helpers import cli

from est_stfm.errors import EstStfmError
from est_stfm.models.checkpoint import load_model
from est_stfm.models.pretrained import PRETRAINED, PretrainedWeights, load_pretrained
from est_stfm.scene import load_scene
from est_stfm.training import FitConfig, fit

NAME = "est-stfm-small-stf6"


def test_shipped_weights_load_match_their_entry_and_are_small():
    entry = PRETRAINED[NAME]
    model, meta = load_pretrained(NAME)
    assert meta["preset"] == entry.preset and model.config.bands == len(entry.bands)
    assert (entry.directory / "model.safetensors").stat().st_size < 20 * 2**20
    # trained: the correction head is not the zero initialisation
    assert model.head.weight.abs().sum() > 0
    # the benchmark targets were held out
    assert "2001-11-02" not in meta["training_dates"] and "2020-04-02" not in meta["training_dates"]


def test_damaged_weights_are_refused(tmp_path, monkeypatch):
    copy = tmp_path / "damaged"
    shutil.copytree(PRETRAINED[NAME].directory, copy)
    with open(copy / "model.safetensors", "r+b") as fh:
        fh.seek(-4, 2)
        fh.write(b"\x00\x01\x02\x03")

    @dataclasses.dataclass(frozen=True)
    class Local(PretrainedWeights):
        @property
        def directory(self) -> Path:
            return copy

    entry = Local(**{f.name: getattr(PRETRAINED[NAME], f.name) for f in dataclasses.fields(Local)})
    monkeypatch.setitem(PRETRAINED, "damaged", entry)
    with pytest.raises(EstStfmError, match="damaged; reinstall"):
        load_pretrained("damaged")
    with pytest.raises(EstStfmError, match="no pretrained weights named 'nope'"):
        load_pretrained("nope")


def test_predict_with_pretrained_weights_needs_no_fit(tiny_scene, tmp_path, capsys):
    out = tmp_path / "p.tif"
    code, stdout, err = cli(
        capsys, "predict", tiny_scene, "--date", "2001-06-09", "--model", NAME, "--out", out
    )
    assert code == 0, err
    assert NAME in stdout
    with rasterio.open(out) as src:
        assert src.count == 6 and src.crs is not None


def test_fit_init_starts_from_the_pretrained_weights(tiny_scene, tmp_path):
    cfg = FitConfig(
        init=NAME, epochs=1, patch_size=32, lr=1e-12, warmup_steps=0, validation="none", threads=1
    )
    fit(load_scene(tiny_scene), tmp_path / "m", cfg, progress=False)
    tuned, meta = load_model(tmp_path / "m")
    pretrained, _ = load_pretrained(NAME)
    assert meta["fit"]["init"] == NAME and meta["preset"] == "est-stfm-small"
    for key, value in pretrained.state_dict().items():
        torch.testing.assert_close(tuned.state_dict()[key], value, atol=1e-6, rtol=0)
    with pytest.raises(EstStfmError, match="not a pretrained model"):
        fit(load_scene(tiny_scene), tmp_path / "x", cfg.model_copy(update={"init": "nope"}))
