"""Child processes: a job in a fresh process, its failure as one status line, peak memory."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import pytest
from benchmark_helpers import scene_dates

from est_stfm.benchmark.child import (
    FitJob,
    FitRecord,
    PredictJob,
    child_main,
    own_peak_mib,
    read_job,
    run_child,
)
from est_stfm.errors import EstStfmError


def test_own_peak_is_a_positive_size():
    peak = own_peak_mib()
    assert math.isnan(peak) or 1 < peak < 1e6


def test_a_job_survives_its_json_file():
    job = FitJob("scene.yaml", "out", {"model": "est-stfm-tiny", "holdout": ["2001-01-01"]})
    assert read_job(json.loads(json.dumps({**asdict(job), "peak": "p"}))) == job
    with pytest.raises(EstStfmError, match="unknown action 'train'"):
        read_job({"action": "train"})


def test_a_child_predicts_and_reports_its_result(tiny_scene, tmp_path):
    dates = scene_dates(tiny_scene)
    job = PredictJob(str(tiny_scene), dates[-1], "naive-change", str(tmp_path / "p.tif"))
    run = run_child(job, tmp_path, "predict", timeout_s=300)
    assert run.returncode == 0, run.log.read_text()
    assert run.seconds > 0 and run.peak_mib > 0 and not run.timed_out
    result = json.loads((tmp_path / "predict.result.json").read_text())
    assert result == {"reference": dates[-2], "method": "naive-change"}


def test_a_failed_child_is_one_status_line(tiny_scene, tmp_path):
    job = PredictJob(str(tiny_scene), "1999-01-01", "naive-change", str(tmp_path / "p.tif"))
    (tmp_path / "job.json").write_text(json.dumps({**asdict(job), "result": "r", "peak": ""}))
    with pytest.raises(SystemExit) as exit_info:
        child_main([str(tmp_path / "job.json")])
    assert exit_info.value.code == 2
    run = run_child(job, tmp_path, "predict", timeout_s=300)
    status = run.failure("predict")
    assert status.startswith("error: predict failed (exit 2): error: ") and "\n" not in status
    assert "1999-01-01" in status


def test_fit_record_needs_training_dates(tmp_path):
    (tmp_path / "model.json").write_text('{"training_dates": ["2001-01-01"]}')
    assert FitRecord.read(tmp_path) == FitRecord(["2001-01-01"], [])
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(EstStfmError, match="no readable training dates"):
        FitRecord.read(tmp_path)
