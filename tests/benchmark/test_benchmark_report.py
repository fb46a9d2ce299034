"""results.md and the README section it goes into."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from est_stfm.benchmark.protocol import load_protocol
from est_stfm.benchmark.report import RunInfo, results_markdown, splice_markdown
from est_stfm.benchmark.results import Row
from est_stfm.errors import EstStfmError

REPO = Path(__file__).resolve().parents[2]


def test_splice_markdown():
    doc = "intro\n<!-- benchmark:start -->\nold\n<!-- benchmark:end -->\noutro\n"
    new = splice_markdown(doc, "# Title\n\n### case\n\n| a |\n")
    assert (
        new == "intro\n<!-- benchmark:start -->\n### case\n\n| a |\n<!-- benchmark:end -->\noutro\n"
    )
    with pytest.raises(EstStfmError):
        splice_markdown("no markers", "x")


def test_results_markdown_has_the_environment_and_one_section_per_case():
    path = REPO / "benchmarks" / "protocol-v1.yaml"
    protocol = load_protocol(path)
    first, second = protocol.cases[:2]
    rows = [Row(first.id, "naive-copy", status="skipped: scene x not prepared")]
    rows.append(Row(second.id, "naive-copy", metrics={"RMSE": 0.1, "SSIM": 0.9}))
    started = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc)
    run = RunInfo(protocol, path, protocol.cases, started, seconds=90.0, env={"CPU cores": "2"})
    md = results_markdown(rows, run)
    assert "`protocol-v1.yaml` (version 1); run 2024-05-01 12:30 UTC, 1.5 min" in md
    assert "CPU cores 2." in md
    assert f"### {first.id}" in md and "All methods: skipped: scene x not prepared." in md
    assert f"### {second.id}" in md and "| naive-copy | **0.1000** |" in md
    assert f"### {protocol.cases[2].id}" not in md  # no rows: no section
