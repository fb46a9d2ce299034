"""The fit result: what fit returns is what model.json holds, read back as typed attributes;
the learning-rate schedule the loop follows; when a trained epoch replaces the best."""

from __future__ import annotations

import json

import pytest

from est_stfm.errors import EstStfmError
from est_stfm.scene import load_scene
from est_stfm.training import FitConfig, FitResult, fit
from est_stfm.training.loop import learning_rate
from est_stfm.training.validate import REFINE_MARGIN, improves


def test_model_json_holds_the_fit_result_and_reads_back(tiny_scene, tmp_path):
    scene = load_scene(tiny_scene)
    held_out = scene.pairs_dates()[0]
    cfg = FitConfig(
        model="est-stfm-tiny",
        patch_size=32,
        epochs=1,
        threads=1,
        holdout=[held_out],
        validation="none",
    )
    _, result = fit(scene, tmp_path / "m", cfg, progress=False)
    saved = json.loads((tmp_path / "m" / "model.json").read_text())
    assert list(saved) == ["format", "version", "preset", "config", *result.to_json()]
    assert {k: saved[k] for k in result.to_json()} == result.to_json()
    assert saved["scene"] == str(tiny_scene)  # one scene: a path, not a list
    assert FitResult.read(tmp_path / "m") == result
    assert result.holdout == [held_out] and held_out not in result.training_dates
    assert result.validation_modes == ["none"]
    assert not result.metrics.best_is_base  # nothing validates: the trained weights are kept
    assert result.metrics.epochs == 1 and result.metrics.steps > 0
    assert result.world_size == 1 and len(result.rank_weight_sha256) == 1


def test_reading_a_directory_without_a_fit_result_is_a_one_line_error(tmp_path):
    with pytest.raises(EstStfmError, match="no saved model") as missing:
        FitResult.read(tmp_path)
    (tmp_path / "model.json").write_text('{"format": "something-else"}')
    with pytest.raises(EstStfmError, match="is not an est-stfm-model/1 file") as other:
        FitResult.read(tmp_path)
    (tmp_path / "model.json").write_text('{"format": "est-stfm-model/1", "bands": 3}')
    with pytest.raises(EstStfmError, match="does not describe a fitted model") as partial:
        FitResult.read(tmp_path)
    assert all(len(str(e.value).splitlines()) == 1 for e in (missing, other, partial))


def test_learning_rate_warms_up_then_decays_to_zero_or_halves_on_plateau():
    cosine = FitConfig(lr=1e-3, warmup_steps=10)
    assert learning_rate(cosine, 0, 0.0, 1.0) == pytest.approx(1e-4)
    assert learning_rate(cosine, 9, 0.0, 1.0) == pytest.approx(1e-3)
    assert learning_rate(cosine, 50, 0.5, 1.0) == pytest.approx(5e-4)
    assert learning_rate(cosine, 99, 1.0, 1.0) == pytest.approx(0.0, abs=1e-12)
    plateau = cosine.model_copy(update={"schedule": "plateau", "warmup_steps": 0})
    assert learning_rate(plateau, 99, 0.9, 0.25) == pytest.approx(2.5e-4)


def test_a_trained_epoch_must_beat_the_start_by_the_margin_and_a_trained_best_by_anything():
    just_under = 1.0 - REFINE_MARGIN / 2
    assert not improves(just_under, 1.0, best_is_start=True)
    assert improves(1.0 - 2 * REFINE_MARGIN, 1.0, best_is_start=True)
    assert improves(just_under, 1.0, best_is_start=False)
    assert not improves(1.0, 1.0, best_is_start=False)
    assert improves(5.0, None, best_is_start=True)  # nothing validated yet
