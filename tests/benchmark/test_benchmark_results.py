"""Result rows: results.csv written and read back unchanged, and the Markdown table of a case."""

from __future__ import annotations

import math
from pathlib import Path

from est_stfm.benchmark.results import CSV_COLUMNS, Row, case_table, results_csv, rows_from_csv
from est_stfm.evaluation.metrics import METRIC_NAMES

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "benchmarks" / "results" / "results.csv"


def _row(method: str, rmse: float, ssim: float, **more) -> Row:
    metrics = {name: 0.5 for name in METRIC_NAMES} | {"RMSE": rmse, "SSIM": ssim}
    return Row("c", method, metrics=metrics, predict_s=1.0, predict_peak_mib=200.0, **more)


def test_columns_keep_the_published_order():
    fixed = ["case", "method", "status", "target", "reference", "training_dates", "unit"]
    fixed += ["coarse", "data_range", "ergas_ratio", "valid_pixels"]
    tail = ["cluster_OA", "cluster_kappa", "cluster_ARI"]
    tail += ["fit_s", "predict_s", "fit_peak_mib", "predict_peak_mib"]
    assert CSV_COLUMNS == (*fixed, *METRIC_NAMES, *tail)


def test_committed_results_read_back_and_rewrite_byte_for_byte():
    rows = rows_from_csv(COMMITTED)
    assert rows and all(isinstance(r.valid_pixels, int) for r in rows if r.ok)
    assert results_csv(rows) == COMMITTED.read_text(encoding="utf-8")


def test_unmeasured_values_are_empty_cells_and_come_back_as_none(tmp_path):
    row = Row("c", "m", status="error: x", fit_s=math.nan, training_dates=["2001-01-01"])
    row.metrics = {"RMSE": math.nan, "SSIM": 0.25}
    path = tmp_path / "results.csv"
    path.write_text(results_csv([row]))
    cells = row.as_csv()
    assert cells["fit_s"] == cells["RMSE"] == cells["cluster_OA"] == cells["valid_pixels"] == ""
    (back,) = rows_from_csv(path)
    assert back.fit_s is None and back.metrics == {"SSIM": 0.25}
    assert back.training_dates == ["2001-01-01"] and back.status == "error: x"


def test_case_table_bolds_the_best_rmse_and_ssim():
    rows = [_row("a", 0.1, 0.5), _row("b", 0.2, 0.9), Row("c", "gone", status="error: a|b")]
    lines = case_table(rows).splitlines()
    assert lines[0].startswith("| method | RMSE |") and lines[0].endswith("| status |")
    assert lines[1].startswith("|---|---:|") and lines[1].endswith("---:|---|")
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert "| **0.1000** |" in lines[2] and "| **0.9000** |" in lines[3]
    assert lines[4].endswith("| error: a/b |") and "**" not in lines[4]
