"""The benchmark run: a tiny protocol end to end through the CLI, the holdout guard on the saved
model, skipped cases, selection and resuming."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from benchmark_helpers import TINY_METHODS, scene_dates, write_protocol

from est_stfm.benchmark.protocol import check_training_dates
from est_stfm.benchmark.results import CSV_COLUMNS
from est_stfm.benchmark.runner import run_benchmark
from est_stfm.errors import EstStfmError
from est_stfm.scene import load_scene


@pytest.fixture(scope="module")
def tiny_run(tiny_scene, tmp_path_factory):
    """The CLI run once over the synthetic scene: (protocol, out dir, target date, process)."""
    root = tmp_path_factory.mktemp("bench")
    target = scene_dates(tiny_scene)[-1]
    case = {"id": "tiny", "scene": str(tiny_scene), "target": target, "ergas_ratio": 0.125}
    protocol = write_protocol(root / "protocol.yaml", [case], TINY_METHODS)
    out = root / "results"
    res = subprocess.run(
        [sys.executable, "-m", "est_stfm", "benchmark", str(protocol), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    return protocol, out, target, res


def _copy_rmse(scene_yaml: Path, reference: str, target: str) -> float:
    """RMSE of the fine image of ``reference`` as the prediction of ``target`` (naive copy)."""
    scene = load_scene(scene_yaml)
    ref, ref_valid = scene.read_fine(dt.date.fromisoformat(reference))
    truth, truth_valid = scene.read_fine(dt.date.fromisoformat(target))
    err = (ref.astype(np.float64) - truth)[:, ref_valid & truth_valid]
    return float(np.sqrt(np.mean(err**2)))


def test_cli_end_to_end(tiny_run, tiny_scene):
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
        assert int(row["valid_pixels"]) == 64 * 64
        assert 0 <= float(row["cluster_OA"]) <= 1
    copy, change, trained = rows
    assert float(copy["RMSE"]) == pytest.approx(
        _copy_rmse(tiny_scene, copy["reference"], target), rel=1e-5
    )
    # one epoch moves the model little from its naive-change base: never far worse than it
    assert float(trained["RMSE"]) <= 1.1 * float(change["RMSE"])
    assert float(trained["fit_s"]) > 0 and float(trained["fit_peak_mib"]) > 0
    assert target not in trained["training_dates"].split(";")
    assert rows[0]["fit_s"] == "" and rows[0]["training_dates"] == ""

    md = (out / "results.md").read_text()
    assert "### tiny" in md and "CPU cores" in md and "version 1" in md
    assert f"target {target} from reference " in md and "training dates 2001-" in md
    table = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert len(table) == 1 + 3  # header + one row per method
    assert all(m in table[0] for m in ("RMSE", "SSIM", "fit (s)", "predict peak (MiB)"))
    assert md.count("**") >= 4  # best RMSE and best SSIM in bold


def test_scores_decode_the_offset_predict_wrote(tiny_scene, tmp_path):
    """A scene stored with an offset: the prediction is read back with it, as the truth is."""
    folder = tmp_path / "scene"
    shutil.copytree(tiny_scene.parent, folder)
    scene_yaml = folder / tiny_scene.name
    spec = yaml.safe_load(scene_yaml.read_text())
    scene_yaml.write_text(yaml.safe_dump({**spec, "offset": 0.05}))
    target = scene_dates(scene_yaml)[-1]
    case = {"id": "offset", "scene": str(scene_yaml), "target": target, "ergas_ratio": 0.125}
    protocol = write_protocol(tmp_path / "p.yaml", [case], TINY_METHODS[:1])
    (row,) = run_benchmark(protocol, tmp_path / "out", log=lambda _: None).rows
    assert row.ok, row.status
    assert row.metrics["RMSE"] == pytest.approx(
        _copy_rmse(scene_yaml, row.reference, target), rel=1e-5
    )


def test_holdout_is_enforced(tiny_run):
    _, out, target, _ = tiny_run
    meta = json.loads(
        (out / "runs" / "_fits" / "tiny" / "est-stfm-tiny" / "model" / "model.json").read_text()
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


def test_too_few_training_dates_is_skipped(tiny_scene, tmp_path):
    dates = scene_dates(tiny_scene)
    case = {"id": "one", "scene": str(tiny_scene), "target": dates[-1], "ergas_ratio": 0.1}
    case["train_dates"] = dates[:1]
    protocol = write_protocol(tmp_path / "p.yaml", [case], TINY_METHODS)
    result = run_benchmark(
        protocol, tmp_path / "out", methods=["est-stfm-tiny"], log=lambda _: None
    )
    (row,) = result.rows
    assert row.status.startswith("skipped: needs 2 training dates")
    assert not result.errors and row.fit_s is None


def test_missing_scene_is_skipped_not_fatal(tmp_path):
    case = {"id": "gone", "scene": "nowhere/scene.yaml", "target": "2001-01-01", "ergas_ratio": 0.1}
    protocol = write_protocol(tmp_path / "p.yaml", [case], TINY_METHODS[:2])
    result = run_benchmark(protocol, tmp_path / "out", log=lambda _: None)
    assert [r.status.split(" ")[0] for r in result.rows] == ["skipped:", "skipped:"]
    assert "All methods: skipped" in (tmp_path / "out" / "results.md").read_text()


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


def test_resume_keeps_finished_rows_and_runs_only_the_rest(tiny_run, capsys):
    protocol, out, _, res = tiny_run
    assert res.returncode == 0, res.stderr
    before = (out / "results.csv").read_text()
    result = run_benchmark(protocol, out, resume=True, log=print)
    assert (out / "results.csv").read_text() == before
    assert capsys.readouterr().out.count("kept from the previous run") == len(TINY_METHODS)
    assert [r.method for r in result.rows] == [m["id"] for m in TINY_METHODS]
