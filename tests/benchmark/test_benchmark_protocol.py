"""The protocol file: validation with one-line errors, the dates of a case, the holdout guard."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from benchmark_helpers import TINY_METHODS, scene_dates, write_protocol

from est_stfm.benchmark.protocol import (
    case_dates,
    check_training_dates,
    load_protocol,
    plan_case,
)
from est_stfm.errors import EstStfmError
from est_stfm.scene import load_scene

REPO = Path(__file__).resolve().parents[2]
CASE = "cases: [{id: a, scene: s.yaml, target: 2001-01-01, ergas_ratio: 0.1}]\n"


def test_listed_train_dates_hold_out_the_rest(tiny_scene, tmp_path):
    dates = scene_dates(tiny_scene)
    case = {
        "id": "c",
        "scene": str(tiny_scene),
        "target": dates[-1],
        "train_dates": dates[:2],
        "ergas_ratio": 0.1,
    }
    protocol = load_protocol(write_protocol(tmp_path / "p.yaml", [case], TINY_METHODS[:1]))
    train, holdout = case_dates(protocol.cases[0], load_scene(tiny_scene))
    assert [d.isoformat() for d in train] == dates[:2]
    assert [d.isoformat() for d in holdout] == dates[2:]


def test_plan_takes_the_nearest_reference_and_rejects_a_date_not_in_the_scene(tiny_scene, tmp_path):
    dates = scene_dates(tiny_scene)
    case = {"id": "c", "scene": str(tiny_scene), "target": dates[-1], "ergas_ratio": 0.1}
    path = write_protocol(tmp_path / "p.yaml", [case], TINY_METHODS[:1])
    scene = load_scene(tiny_scene)
    plan = plan_case(load_protocol(path).cases[0], scene)
    assert plan.reference.isoformat() == dates[-2]
    assert dt.date.fromisoformat(dates[-1]) in plan.holdout
    gone = load_protocol(write_protocol(path, [{**case, "target": "1999-01-01"}], TINY_METHODS))
    with pytest.raises(EstStfmError, match="needs a fine"):
        plan_case(gone.cases[0], scene)


def test_training_on_the_target_or_an_unlisted_date_is_refused():
    target, allowed = dt.date(2001, 3, 1), [dt.date(2001, 1, 1), dt.date(2001, 2, 1)]
    check_training_dates(["2001-01-01", "2001-02-01"], allowed, target)
    with pytest.raises(EstStfmError, match="holdout violated.*target 2001-03-01"):
        check_training_dates(["2001-01-01", "2001-03-01"], allowed, target)
    with pytest.raises(EstStfmError, match="holdout violated.*2001-02-01, not allowed"):
        check_training_dates(["2001-01-01", "2001-02-01"], allowed[:1], target)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("version: 3\ncases: []\nmethods: []\n", "version 3 is not supported"),
        ("version: 1\nmethods: [{id: naive-copy}]\n", "cases"),
        (f"version: 1\n{CASE}methods: [{{id: magicfm}}]\n", "unknown method 'magicfm'"),
        (
            f"version: 1\n{CASE}methods: [{{id: m, fit: {{model: est-stfm-tiny, minutes: -1}}}}]\n",
            "fit.minutes",
        ),
        (
            "version: 1\ncases: [{id: a, scene: s.yaml, target: 2001-13-01, ergas_ratio: 0.1}]\n"
            "methods: [{id: naive-copy}]\n",
            "protocol",
        ),
        (
            "version: 1\ncases: [{id: a, scene: s.yaml, target: 2001-01-01}]\n"
            "methods: [{id: naive-copy}]\n",
            "ergas_ratio",
        ),
        (
            f"version: 1\n{CASE}methods: [{{id: naive-copy}}, {{id: naive-copy}}]\n",
            "method id 'naive-copy' appears more than once",
        ),
        (f"version: 1\nversion: 1\n{CASE}methods: [{{id: naive-copy}}]\n", "duplicate key"),
        ("version: [1\n", "not valid YAML"),
        ("- 1\n- 2\n", "mapping"),
    ],
)
def test_bad_protocol_is_one_line(tmp_path, body, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(EstStfmError) as info:
        load_protocol(path)
    message = str(info.value)
    assert "\n" not in message and needle in message, message


def test_missing_protocol_file_is_one_line(tmp_path):
    with pytest.raises(EstStfmError, match="protocol not found"):
        load_protocol(tmp_path / "nowhere.yaml")


def test_repository_protocols_are_valid():
    protocol = load_protocol(REPO / "benchmarks" / "protocol-v1.yaml")
    assert protocol.version == 1
    assert [m.id for m in protocol.methods][:3] == ["naive-copy", "naive-change", "est-stfm-tiny"]
    assert len(protocol.cases) == len({c.id for c in protocol.cases}) == 7
    v2 = load_protocol(REPO / "benchmarks" / "protocol-v2.yaml")
    assert [c.id for c in v2.cases] == [c.id for c in protocol.cases]
    models = {m.fit["model"] for m in v2.methods if m.trainable}
    assert {"est-stfm-small", "edcstfn", "swinstfm-small"} <= models
    assert {"starfm", "fsdaf"} <= {m.id for m in v2.methods if not m.trainable}
    # one training budget for every trainable method
    assert len({m.fit["minutes"] for m in v2.methods if m.trainable}) == 1
