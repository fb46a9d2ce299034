"""``fit --tensorboard``: the scalars of train_log.csv, step by step, in OUT/tensorboard; and
a one-line hint when the tensorboard package is missing."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
from helpers import cli

FIT = ["--model", "est-stfm-tiny", "--epochs", 2, "--patch-size", 32, "--batch-size", 8]
LOGGED = ("train_loss", "val_score", "lr")
"""The scalars fit logs after every epoch, under the names of train_log.csv's columns."""


def _fit(capsys: pytest.CaptureFixture[str], scene: Path, out: Path) -> tuple[int, str]:
    code, _, err = cli(capsys, "fit", scene, "--out", out, *FIT, "--threads", 1, "--tensorboard")
    return code, err


def test_tensorboard_events_hold_the_logged_scalars(tiny_scene, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "m"
    code, err = _fit(capsys, tiny_scene, out)
    assert code == 0, err
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == sorted(LOGGED)
    with open(out / "train_log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(r["val_score"] for r in rows)  # two validated epochs
    for tag in LOGGED:
        logged = [(e.step, e.value) for e in events.Scalars(tag)]
        expected = [(int(r["step"]), float(r[tag])) for r in rows]
        assert [s for s, _ in logged] == [s for s, _ in expected], tag
        for (_, value), (_, want) in zip(logged, expected, strict=True):
            assert value == pytest.approx(want, rel=1e-6), tag  # stored as float32


def test_missing_tensorboard_is_a_one_line_hint(tiny_scene, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    code, err = _fit(capsys, tiny_scene, tmp_path / "m")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ") and "pip install tensorboard" in line
    assert not list(tmp_path.rglob("events.out.tfevents.*"))
