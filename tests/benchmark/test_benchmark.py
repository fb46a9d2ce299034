"""The benchmark runner: a tiny protocol end to end, protocol validation, the holdout guard, and
the real-data scenes of benchmarks/prepare_data.py (skipped when ../shared/data is absent)."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import SHARED_DATA  # tests/ is on sys.path (pytest rootdir conftest)

from est_stfm.benchmark.runner import (
    CSV_COLUMNS,
    case_dates,
    check_training_dates,
    load_protocol,
    run_benchmark,
    splice_markdown,
)
from est_stfm.errors import EstStfmError
from est_stfm.evaluation.metrics import METRIC_NAMES
from est_stfm.inference.predict import predict_to_file
from est_stfm.io import read_raster
from est_stfm.methods import resolve_method
from est_stfm.scene import load_scene

REPO = Path(__file__).resolve().parents[2]


def _load_script(name: str):
    """Import a script of benchmarks/ as a module (registered, as dataclasses need)."""
    key = f"_benchmarks_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def _dates(scene_yaml: Path) -> list[str]:
    return sorted(str(d) for d in yaml.safe_load(scene_yaml.read_text())["fine"])


def _write_protocol(path: Path, cases: list[dict], methods: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"version": 1, "cases": cases, "methods": methods}))
    return path


TINY_METHODS = [
    {"id": "naive-copy"},
    {"id": "naive-change"},
    {"id": "est-stfm-tiny", "fit": {"model": "est-stfm-tiny", "epochs": 1, "patch_size": 32}},
]


@pytest.fixture(scope="module")
def tiny_run(tiny_scene, tmp_path_factory):
    """The CLI run once over the synthetic scene: (protocol, out dir, target date, process)."""
    root = tmp_path_factory.mktemp("bench")
    target = _dates(tiny_scene)[-1]
    case = {"id": "tiny", "scene": str(tiny_scene), "target": target, "ergas_ratio": 0.125}
    protocol = _write_protocol(root / "protocol.yaml", [case], TINY_METHODS)
    out = root / "results"
    res = subprocess.run(
        [sys.executable, "-m", "est_stfm", "benchmark", str(protocol), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    return protocol, out, target, res


def test_cli_end_to_end(tiny_run):
    _, out, target, res = tiny_run
    assert res.returncode == 0, res.stdout + res.stderr
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["method"] for r in rows] == ["naive-copy", "naive-change", "est-stfm-tiny"]
    assert tuple(rows[0]) == CSV_COLUMNS
    for row in rows:
        assert row["status"] == "ok", row["status"]
        assert row["target"] == target
        assert float(row["predict_s"]) > 0 and float(row["predict_peak_mib"]) > 0
        assert 0 < float(row["RMSE"]) < 1 and -1 <= float(row["SSIM"]) <= 1
        assert int(row["valid_pixels"]) > 0
    trained = rows[2]
    assert float(trained["fit_s"]) > 0 and float(trained["fit_peak_mib"]) > 0
    assert target not in trained["training_dates"].split(";")
    assert rows[0]["fit_s"] == "" and rows[0]["training_dates"] == ""

    md = (out / "results.md").read_text()
    assert "### tiny" in md and "CPU cores" in md and "version 1" in md
    table = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert len(table) == 1 + 3  # header + one row per method
    assert all(m in table[0] for m in ("RMSE", "SSIM", "fit (s)", "predict peak (MiB)"))
    assert md.count("**") >= 4  # best RMSE and best SSIM in bold


def test_holdout_is_enforced(tiny_run):
    _, out, target, _ = tiny_run
    meta = json.loads(
        (out / "runs" / "tiny" / "est-stfm-tiny" / "model" / "model.json").read_text()
    )
    assert target not in meta["training_dates"]
    assert target in meta["holdout"]
    allowed = [dt.date.fromisoformat(d) for d in meta["training_dates"]]
    check_training_dates(meta["training_dates"], allowed, dt.date.fromisoformat(target))
    with pytest.raises(EstStfmError, match="holdout violated"):
        check_training_dates(
            [*meta["training_dates"], target], allowed, dt.date.fromisoformat(target)
        )
    with pytest.raises(EstStfmError, match="holdout violated"):
        check_training_dates(meta["training_dates"], allowed[:1], dt.date.fromisoformat(target))


def test_listed_train_dates_hold_out_the_rest(tiny_scene, tmp_path):
    dates = _dates(tiny_scene)
    case = {
        "id": "c",
        "scene": str(tiny_scene),
        "target": dates[-1],
        "train_dates": dates[:2],
        "ergas_ratio": 0.1,
    }
    protocol = load_protocol(_write_protocol(tmp_path / "p.yaml", [case], TINY_METHODS[:1]))
    train, holdout = case_dates(protocol.cases[0], load_scene(tiny_scene))
    assert [d.isoformat() for d in train] == dates[:2]
    assert [d.isoformat() for d in holdout] == dates[2:]


def test_too_few_training_dates_is_skipped(tiny_scene, tmp_path):
    dates = _dates(tiny_scene)
    case = {"id": "one", "scene": str(tiny_scene), "target": dates[-1], "ergas_ratio": 0.1}
    case["train_dates"] = dates[:1]
    protocol = _write_protocol(tmp_path / "p.yaml", [case], TINY_METHODS)
    result = run_benchmark(
        protocol, tmp_path / "out", methods=["est-stfm-tiny"], log=lambda _: None
    )
    (row,) = result.rows
    assert row.status.startswith("skipped: needs 2 training dates")
    assert not result.errors and row.fit_s is None


def test_missing_scene_is_skipped_not_fatal(tmp_path):
    case = {"id": "gone", "scene": "nowhere/scene.yaml", "target": "2001-01-01", "ergas_ratio": 0.1}
    protocol = _write_protocol(tmp_path / "p.yaml", [case], TINY_METHODS[:2])
    result = run_benchmark(protocol, tmp_path / "out", log=lambda _: None)
    assert [r.status.split(" ")[0] for r in result.rows] == ["skipped:", "skipped:"]
    assert "All methods: skipped" in (tmp_path / "out" / "results.md").read_text()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("version: 2\ncases: []\nmethods: []\n", "version 2 is not supported"),
        ("version: 1\nmethods: [{id: naive-copy}]\n", "cases"),
        (
            "version: 1\ncases: [{id: a, scene: s.yaml, target: 2001-01-01, ergas_ratio: 0.1}]\n"
            "methods: [{id: estarfm}]\n",
            "unknown method 'estarfm'",
        ),
        (
            "version: 1\ncases: [{id: a, scene: s.yaml, target: 2001-01-01, ergas_ratio: 0.1}]\n"
            "methods: [{id: m, fit: {model: est-stfm-tiny, minutes: -1}}]\n",
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


def test_bad_protocol_cli_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\ncases: []\nmethods: [{id: naive-copy}]\nextra: 1\n")
    res = subprocess.run(
        [sys.executable, "-m", "est_stfm", "benchmark", str(path)], capture_output=True, text=True
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: protocol"), res.stderr


def test_unknown_case_filter(tiny_run):
    protocol, out, _, _ = tiny_run
    with pytest.raises(EstStfmError, match="unknown case 'nope'"):
        run_benchmark(protocol, out, only=["nope"], log=lambda _: None)


def test_splice_markdown():
    doc = "intro\n<!-- benchmark:start -->\nold\n<!-- benchmark:end -->\noutro\n"
    new = splice_markdown(doc, "# Title\n\n### case\n\n| a |\n")
    assert (
        new == "intro\n<!-- benchmark:start -->\n### case\n\n| a |\n<!-- benchmark:end -->\noutro\n"
    )
    with pytest.raises(EstStfmError):
        splice_markdown("no markers", "x")


def test_repository_protocols_are_valid():
    protocol = load_protocol(REPO / "benchmarks" / "protocol-v1.yaml")
    assert protocol.version == 1
    assert [m.id for m in protocol.methods][:3] == ["naive-copy", "naive-change", "est-stfm-tiny"]
    assert len(protocol.cases) == len({c.id for c in protocol.cases}) == 7
    assert set(METRIC_NAMES) <= set(CSV_COLUMNS)
    v2 = load_protocol(REPO / "benchmarks" / "protocol-v2.yaml")
    assert [c.id for c in v2.cases] == [c.id for c in protocol.cases]
    models = {m.fit["model"] for m in v2.methods if m.trainable}
    assert {"est-stfm-small", "edcstfn", "swinstfm-small"} <= models
    assert {"starfm", "fsdaf"} <= {m.id for m in v2.methods if not m.trainable}
    # one training budget for every trainable method
    assert len({m.fit["minutes"] for m in v2.methods if m.trainable}) == 1


def test_resume_keeps_finished_rows_and_runs_only_the_rest(tiny_run, capsys):
    protocol, out, _, res = tiny_run
    assert res.returncode == 0, res.stderr
    before = (out / "results.csv").read_text()
    result = run_benchmark(protocol, out, resume=True, log=print)
    assert (out / "results.csv").read_text() == before
    assert capsys.readouterr().out.count("kept from the previous run") == len(TINY_METHODS)
    assert [r.method for r in result.rows] == [m["id"] for m in TINY_METHODS]


# --- real data --------------------------------------------------------------------------------

REAL_CASES = {
    "cia_e2starfm_3dates": "2001-11-02",
    "lgc_fsdaf_subset": "2004-12-28",
    "kranj_imagefusion_2020": "2020-04-02",
    "imagefusion_realset1_2016": "2016-08-30",
    "yanco_lst_ubestarfm_2016": "2016-03-08",
    "ifsdaf_ndvi_2015": "2015-12-26",
    "eolearn_s2_testeopatch_2015_2017": "2015-09-09",
}


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.filterwarnings("ignore::est_stfm.io.raster.GeoreferencingWarning")
@pytest.mark.parametrize(("name", "target"), sorted(REAL_CASES.items()))
def test_real_dataset_scene(name, target, tmp_path):
    if not (SHARED_DATA / name).is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA / name} is absent")
    prepare_data = _load_script("prepare_data")
    done = prepare_data.prepare(SHARED_DATA, tmp_path, [name], log=lambda _: None)
    assert name in done, f"{name} was skipped"
    record = done[name]
    scene = load_scene(tmp_path / name / "scene.yaml")
    assert target in record.pair_dates and len(record.pair_dates) >= 2
    assert record.coarse in ("real", "simulated") and record.data_range > 0
    assert 0 < record.ergas_ratio < 1 and scene.bands == len(record.bands)
    out = tmp_path / "pred.tif"
    predict_to_file(scene, target, resolve_method("naive-change"), out)
    pred, valid = read_raster(out, scene.scale)
    truth, truth_valid = scene.read_fine(target)
    assert pred.shape == truth.shape and (valid & truth_valid).mean() > 0.5
    assert np.isfinite(pred[:, valid]).all()
    err = np.sqrt(np.mean((pred - truth)[:, valid & truth_valid] ** 2))
    assert err < 0.3 * record.data_range  # a sane baseline, not a unit mix-up
