"""Protocol version 2 (leave one date out): the expansion of scenes into cases, the quick subset,
one fit per held-out target shared by its cases, the aggregate table, and the v3 protocol file."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from benchmark_helpers import TINY_METHODS, scene_dates

from est_stfm.benchmark.leave_one_out import expand_scene
from est_stfm.benchmark.protocol import SceneSpec, load_protocol, plan_case
from est_stfm.benchmark.runner import run_benchmark
from est_stfm.errors import EstStfmError
from est_stfm.scene import load_scene

REPO = Path(__file__).resolve().parents[2]


def _protocol(path: Path, scenes: list[dict], methods: list[dict], **extra) -> Path:
    path.write_text(yaml.safe_dump({"version": 2, "scenes": scenes, "methods": methods, **extra}))
    return path


def test_every_pair_date_is_a_target_from_each_side(tiny_scene):
    scene = load_scene(tiny_scene)
    dates = scene.pairs_dates()
    n = len(dates)
    cases = expand_scene(SceneSpec(id="t", scene=str(tiny_scene), ergas_ratio=0.125), scene)
    assert len(cases) == 3 * n - 4  # first and last: one side; the others: earlier, later, both
    assert [c.id for c in cases[:2]] == [f"t.{dates[0]}.later", f"t.{dates[1]}.earlier"]
    for case in cases:
        plan = plan_case(case, scene)
        assert case.target not in plan.train and case.target in plan.holdout
        assert plan.train == [d for d in dates if d != case.target]
        before = [d for d in dates if d < case.target]
        after = [d for d in dates if d > case.target]
        expected = {
            "earlier": (before[-1],) if before else None,
            "later": (after[0],) if after else None,
            "both": (before[-1], after[0]) if before and after else None,
        }[case.pairs]
        assert plan.references == expected
        assert case.group == f"t.{case.target}"
    quick = [c for c in cases if c.quick]
    assert len(quick) == 1 and quick[0].pairs == "both"
    assert quick[0].target in (dates[1], dates[2])  # the middle of 4 dates


def test_two_dates_give_two_cases_and_one_date_is_an_error(tiny_scene, tmp_path):
    scene = load_scene(tiny_scene)
    dates = scene.pairs_dates()
    spec = SceneSpec(id="t", scene=str(tiny_scene), ergas_ratio=0.1, targets=dates[-1:])
    cases = expand_scene(spec, scene)
    assert [c.pairs for c in cases] == ["earlier"] and cases[0].quick
    with pytest.raises(EstStfmError, match="no fine and coarse pair"):
        expand_scene(spec.model_copy(update={"targets": [dt.date(1999, 1, 1)]}), scene)
    data = yaml.safe_load(tiny_scene.read_text())
    data["fine"] = {k: str(tiny_scene.parent / v) for k, v in list(data["fine"].items())[:1]}
    data["coarse"] = {k: str(tiny_scene.parent / v) for k, v in data["coarse"].items()}
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump(data))
    with pytest.raises(EstStfmError, match="at least 2 dates"):
        expand_scene(spec.model_copy(update={"targets": None}), load_scene(one))


def test_version_two_needs_scenes_and_version_one_cases(tmp_path, tiny_scene):
    scene = {"id": "t", "scene": str(tiny_scene), "ergas_ratio": 0.125}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"version": 2, "cases": [], "methods": [{"id": "naive-copy"}]}))
    with pytest.raises(EstStfmError, match="lists scenes"):
        load_protocol(bad)
    good = _protocol(tmp_path / "ok.yaml", [scene], [{"id": "fsdaf+consistency"}])
    assert load_protocol(good).scenes[0].id == "t"
    unknown = _protocol(tmp_path / "u.yaml", [scene], [{"id": "fsdaf+magic"}])
    with pytest.raises(EstStfmError, match="unknown method 'fsdaf\\+magic'"):
        load_protocol(unknown)


@pytest.fixture(scope="module")
def loo_run(tiny_scene, tmp_path_factory):
    """A leave-one-date-out run on two targets: (protocol, out, log lines, dates)."""
    root = tmp_path_factory.mktemp("loo")
    dates = scene_dates(tiny_scene)
    scene = {
        "id": "tiny",
        "scene": str(tiny_scene),
        "ergas_ratio": 0.125,
        "data_range": "truth",
        "targets": [dates[1], dates[-1]],
    }
    methods = [TINY_METHODS[1], TINY_METHODS[2]]  # naive-change and a one-epoch model
    protocol = _protocol(root / "p.yaml", [scene], methods, pairs=["earlier", "both"])
    log: list[str] = []
    run_benchmark(protocol, root / "out", log=log.append)
    return protocol, root / "out", log, dates


def test_one_fit_per_target_shared_by_its_cases(loo_run):
    _, out, log, dates = loo_run
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cases = [f"tiny.{dates[1]}.earlier", f"tiny.{dates[1]}.both", f"tiny.{dates[-1]}.earlier"]
    assert [r["case"] for r in rows] == [c for c in cases for _ in range(2)]
    assert all(r["status"] == "ok" for r in rows), [r["status"] for r in rows]
    assert sum(line.strip().startswith("fit {") for line in log) == 2  # one per target
    model = [r for r in rows if r["method"] == "est-stfm-tiny"]
    # the two cases of one target share its fit (same time and dates); the other has its own
    assert model[0]["fit_s"] == model[1]["fit_s"]
    assert model[0]["training_dates"] == model[1]["training_dates"] != model[2]["training_dates"]
    assert model[1]["reference"] == f"{dates[0]}+{dates[2]}"
    assert dates[1] not in model[0]["training_dates"]
    for row in rows:  # data_range `truth`: the truth's span, never the default 1
        assert 0 < float(row["data_range"]) < 1
    summary = (out / "summary.md").read_text()
    assert "| naive-change | 3 / 3 | 1.0000 | +0.0000 |" in summary
    assert "## Aggregate" in (out / "results.md").read_text()


def test_resume_keeps_rows_and_fits_and_quick_runs_one_case(loo_run, tmp_path):
    protocol, out, _, dates = loo_run
    log: list[str] = []
    run_benchmark(protocol, out, resume=True, log=log.append)
    assert not any(line.strip().startswith("fit {") for line in log)
    # adding (here: rerunning) one method keeps the other methods' rows in the results file
    before = (out / "results.csv").read_text()
    run_benchmark(protocol, out, resume=True, methods=["naive-change"], log=log.append)
    assert (out / "results.csv").read_text().count("est-stfm-tiny") == 3
    assert len((out / "results.csv").read_text().splitlines()) == len(before.splitlines())
    # completing one case (--only) keeps every other case's rows and tables
    one = f"tiny.{dates[-1]}.earlier"
    full = (out / "results.csv").read_text()
    res = run_benchmark(protocol, out, resume=True, only=[one], log=log.append)
    assert len(res.rows) == 2 and {r.case for r in res.rows} == {one}
    assert (out / "results.csv").read_text() == full
    report = (out / "results.md").read_text()
    assert all(f"tiny.{d}" in report for d in (f"{dates[1]}.earlier", f"{dates[1]}.both"))
    assert "3 cases" in (out / "summary.md").read_text()
    quick: list[str] = []
    res = run_benchmark(
        protocol, tmp_path / "q", quick=True, methods=["naive-change"], log=quick.append
    )
    assert [r.case for r in res.rows] == [f"tiny.{dates[1]}.both"]
    only = run_benchmark(
        protocol, tmp_path / "o", only=["tiny"], methods=["naive-change"], log=quick.append
    )
    assert len(only.rows) == 3


def test_the_v3_protocol_file_is_valid():
    protocol = load_protocol(REPO / "benchmarks" / "protocol-v3.yaml")
    assert protocol.version == 2 and len(protocol.scenes) == 7
    assert protocol.baseline in [m.id for m in protocol.methods]


def test_a_two_pair_method_is_skipped_not_failed_on_one_sided_cases(tiny_scene, tmp_path):
    dates = scene_dates(tiny_scene)
    scene = {"id": "t", "scene": str(tiny_scene), "ergas_ratio": 0.125, "targets": [dates[1]]}
    methods = [{"id": "naive-change"}, {"id": "estarfm"}]
    protocol = _protocol(tmp_path / "p.yaml", [scene], methods, pairs=["earlier", "both"])
    res = run_benchmark(protocol, tmp_path / "out", log=lambda _: None)
    status = {(r.case, r.method): r.status for r in res.rows}
    assert status[(f"t.{dates[1]}.both", "estarfm")] == "ok"
    assert status[(f"t.{dates[1]}.earlier", "estarfm")].startswith("skipped: needs two reference")
    assert not res.errors  # the command exits 0: nothing failed
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| estarfm | 1 / 2 |" in summary  # it ran on one case of two and lost the other


def test_weights_by_scene_predicts_each_scene_with_its_own_folder(tiny_scene, tmp_path):
    from est_stfm.models import create_model
    from est_stfm.models.checkpoint import save_model

    dates = scene_dates(tiny_scene)
    meta = {"bands": None, "scale": 1.0, "unit": "any", "band_descriptions": [], "pair_check": 1}
    save_model(tmp_path / "w-t", create_model("est-stfm-any-tiny"), meta)
    scenes = [
        {"id": i, "scene": str(tiny_scene), "ergas_ratio": 0.125, "targets": [dates[1]]}
        for i in ("t", "u")
    ]
    methods = [{"id": "naive-change"}, {"id": "held", "weights_by_scene": {"t": "w-t"}}]
    protocol = _protocol(tmp_path / "p.yaml", scenes, methods, pairs=["earlier"])
    res = run_benchmark(protocol, tmp_path / "out", log=lambda _: None)
    rows = {(r.case, r.method): r for r in res.rows}
    mine = rows[(f"t.{dates[1]}.earlier", "held")]
    assert mine.status == "ok"  # a zero-head network: exactly its base (naive-change)
    assert mine.metrics["RMSE"] == pytest.approx(
        rows[(f"t.{dates[1]}.earlier", "naive-change")].metrics["RMSE"], rel=1e-5
    )
    record = tmp_path / "out" / "runs" / f"t.{dates[1]}.earlier" / "held" / "predict.result.json"
    assert "(pair check)" in json.loads(record.read_text())["method"]  # the strength it kept
    assert rows[(f"u.{dates[1]}.earlier", "held")].status.startswith("skipped: no weights")
    with pytest.raises(EstStfmError, match="weights_by_scene alone"):
        bad = [{"id": "x", "method": "fsdaf", "weights_by_scene": {"t": "w"}}]
        load_protocol(_protocol(tmp_path / "q.yaml", scenes, bad))
