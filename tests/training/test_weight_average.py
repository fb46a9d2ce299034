"""The moving average of the weights a fit from weights keeps (``ema_decay``): its update, that
it is what is saved, and that a resumed run restores it."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from est_stfm.models.checkpoint import load_model
from est_stfm.scene import load_scene
from est_stfm.training import FitConfig, fit
from est_stfm.training.loop import update_average
from est_stfm.training.state import STATE_FILE

TINY = {"model": "est-stfm-tiny", "patch_size": 32, "batch_size": 4, "threads": 1}


def test_the_average_moves_every_float_entry_by_one_minus_the_decay():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    average = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    model[1].running_mean.fill_(2.0)
    model[1].num_batches_tracked.fill_(7)
    before = {k: v.clone() for k, v in average.state_dict().items()}
    update_average(average, model, 0.9)
    after, current = average.state_dict(), model.state_dict()
    for key, value in after.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.9 * before[key] + 0.1 * current[key])
        else:  # a counter is not averaged
            assert torch.equal(value, before[key])


def _distance(a: torch.nn.Module, b: torch.nn.Module) -> float:
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    return float(sum(((p.detach() - q.detach()) ** 2).sum() for p, q in pairs))


class _Stop(Exception):
    pass


def test_a_fit_from_weights_saves_the_average_and_a_resumed_run_restores_it(tiny_scene, tmp_path):
    scene = load_scene(tiny_scene)
    fit(scene, tmp_path / "start", FitConfig(**TINY, epochs=1, validation="none"), progress=False)
    start, _ = load_model(tmp_path / "start")
    options = {**TINY, "init": str(tmp_path / "start"), "epochs": 3, "validation": "none"}
    options["lr"] = 1e-2
    averaged, result = fit(scene, tmp_path / "avg", FitConfig(**options), progress=False)
    assert result.config.ema_decay is None  # the default: on, from weights
    last, _ = fit(scene, tmp_path / "last", FitConfig(**options, ema_decay=0.0), progress=False)
    # the same steps; the average trails the last weights, nearer the start
    assert 0 < _distance(averaged, start) < 0.5 * _distance(last, start)

    per_epoch = result.metrics.steps // result.metrics.epochs

    def stop_in_epoch_two(step: int) -> None:
        if step == per_epoch + 1:
            raise _Stop

    out = tmp_path / "resumed"
    with pytest.raises(_Stop):
        fit(scene, out, FitConfig(**options), progress=False, on_step=stop_in_epoch_two)
    with safe_open(str(out / STATE_FILE), framework="pt") as fh:
        assert any(key.startswith("average.") for key in fh.keys())
    resumed, _ = fit(scene, out, progress=False, resume=True)
    saved_a, saved_b = averaged.state_dict(), resumed.state_dict()
    assert all(torch.equal(saved_a[k], saved_b[k]) for k in saved_a)
