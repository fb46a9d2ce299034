"""``est-stfm fit --resume``: the original command with ``--resume`` appended continues the run;
a setting that differs from the saved one is refused in one line and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import cli

from est_stfm.scene import load_scene
from est_stfm.training import FitConfig, FitResult, fit
from est_stfm.training.state import STATE_FILE

SETTINGS = {"model": "est-stfm-tiny", "patch_size": 32, "threads": 1, "validation": "none"}
"""The part of the original command kept in a --config file."""

OPTIONS = ["--epochs", "3", "--seed", "4"]
"""The part of the original command given as options."""


class _Stop(Exception):
    """Ends a run part way, as a crash would."""


def _stop_at(step: int) -> None:
    if step == 15:  # in the second epoch (12 steps an epoch), after the first was saved
        raise _Stop


@pytest.fixture
def interrupted(tiny_scene: Path, tmp_path: Path) -> tuple[Path, Path]:
    """``(output folder, config file)`` of a run of the original command that stopped early."""
    config = tmp_path / "fit.yaml"
    config.write_text(yaml.safe_dump(SETTINGS))
    out = tmp_path / "run"
    cfg = FitConfig(**SETTINGS, epochs=3, seed=4)
    with pytest.raises(_Stop):
        fit(load_scene(tiny_scene), out, cfg, progress=False, on_step=_stop_at)
    assert (out / STATE_FILE).is_file() and not (out / "model.json").exists()
    return out, config


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_original_command_with_resume_appended_continues_the_run(
    tiny_scene, interrupted, capsys
):
    out, config = interrupted
    args = ["--config", config, *OPTIONS, "--model", "est-stfm-tiny", "--quiet"]
    code, stdout, err = cli(capsys, "fit", tiny_scene, "--out", out, *args, "--resume")
    assert code == 0, err
    assert "3 epochs" in stdout
    result = FitResult.read(out)
    assert result.config == FitConfig(**SETTINGS, epochs=3, seed=4)
    log = (out / "train_log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["1", "2", "3"]
    assert not (out / STATE_FILE).exists()


def test_a_conflicting_setting_is_refused_naming_saved_and_given_values(
    tiny_scene, interrupted, capsys, tmp_path
):
    out, config = interrupted
    before = _contents(out)
    args = ["--config", config, "--epochs", "5", "--seed", "4", "--model", "est-stfm-small"]
    code, _, err = cli(capsys, "fit", tiny_scene, "--out", out, *args, "--resume", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert "epochs saved 3, given 5" in err
    assert "model saved est-stfm-tiny, given est-stfm-small" in err
    assert "seed" not in err  # equal to the saved value
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({**SETTINGS, "lr": 0.01}))
    code, _, err = cli(capsys, "fit", tiny_scene, "--out", out, "--config", changed, "--resume")
    assert code == 2 and "lr saved 0.001, given 0.01" in err
    assert _contents(out) == before  # the refused commands touched nothing


def test_resume_without_a_run_to_resume_says_so(tiny_scene, tmp_path, capsys):
    code, _, err = cli(capsys, "fit", tiny_scene, "--out", tmp_path, "--resume", *OPTIONS)
    assert code == 2 and "nothing to resume" in err and len(err.splitlines()) == 1
