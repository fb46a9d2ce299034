"""Shipped pretrained weights: loaded by name after a SHA-256 check, usable by predict with no
fit, and as the starting point of fit --init."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import rasterio
import torch
from helpers import cli

from est_stfm.errors import EstStfmError
from est_stfm.models.checkpoint import load_model
from est_stfm.models.pretrained import (
    PRETRAINED,
    PretrainedWeights,
    describe_pretrained,
    load_pretrained,
)
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


def _local_entry(copy: Path) -> PretrainedWeights:
    """The registry entry of NAME, pointing at the folder ``copy``."""

    @dataclasses.dataclass(frozen=True)
    class Local(PretrainedWeights):
        @property
        def directory(self) -> Path:
            return copy

    return Local(**{f.name: getattr(PRETRAINED[NAME], f.name) for f in dataclasses.fields(Local)})


def _expected_description(meta: dict) -> list[str]:
    """What the one-line description must say, in the words of the weights' model.json."""
    metrics, fit = meta["metrics"], meta["fit"]
    return [
        f"{len(meta['band_descriptions'])} bands ({', '.join(meta['band_descriptions'])})",
        f"{metrics['steps']} steps (batch {fit['batch_size']} x {fit['patch_size']} px, "
        f"{metrics['seconds'] / 60:.0f} min, seed {fit['seed']})",
        f"{len(meta['training_dates'])} training dates, held out {', '.join(meta['holdout'])}",
        f"validation {metrics['validation_score_best']:.3f} x naive-change RMSE",
    ]


def test_registry_facts_are_read_from_the_weights_metadata(tmp_path, monkeypatch):
    entry = PRETRAINED[NAME]
    meta = json.loads((entry.directory / "model.json").read_text())
    record = entry.record
    assert (record.preset, record.bands) == (meta["preset"], tuple(meta["band_descriptions"]))
    assert record.validation_score == meta["metrics"]["validation_score_best"]
    assert record.training_dates == tuple(meta["training_dates"])
    assert record.holdout == tuple(meta["holdout"])
    assert record.steps == meta["metrics"]["steps"] and record.seed == meta["fit"]["seed"]
    assert record.validation_modes == tuple(v["mode"] for v in meta["validation"])
    described = {name: (preset, line) for name, preset, line in describe_pretrained()}
    preset, line = described[NAME]
    assert preset == meta["preset"]
    for part in _expected_description(meta):
        assert part in line
    # the description follows the file: other numbers in model.json, other numbers printed
    copy = tmp_path / "other"
    shutil.copytree(entry.directory, copy)
    meta["metrics"] = {**meta["metrics"], "validation_score_best": 0.5, "steps": 7}
    meta["holdout"] = ["2001-01-01"]
    (copy / "model.json").write_text(json.dumps(meta))
    monkeypatch.setitem(PRETRAINED, NAME, _local_entry(copy))
    line = {name: line for name, _, line in describe_pretrained()}[NAME]
    assert "validation 0.500 x naive-change" in line and "7 steps" in line
    assert "held out 2001-01-01;" in line
    for part in _expected_description(meta):
        assert part in line


def test_damaged_weights_are_refused(tmp_path, monkeypatch):
    copy = tmp_path / "damaged"
    shutil.copytree(PRETRAINED[NAME].directory, copy)
    with open(copy / "model.safetensors", "r+b") as fh:
        fh.seek(-4, 2)
        fh.write(b"\x00\x01\x02\x03")

    monkeypatch.setitem(PRETRAINED, "damaged", _local_entry(copy))
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
