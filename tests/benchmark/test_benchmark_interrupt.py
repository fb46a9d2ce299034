"""``kill -9`` at any moment of ``benchmark`` never leaves a damaged ``results.csv`` or
``results.md`` (each is absent or whole), and ``--resume`` then finishes with the rows of an
uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from benchmark_helpers import scene_dates, write_protocol

from est_stfm.benchmark.results import CSV_COLUMNS, Row, rows_from_csv
from est_stfm.evaluation.metrics import METRIC_NAMES

METHODS = [{"id": "naive-copy"}, {"id": "naive-change"}]
"""Classic methods only: each (case, method) is one short prediction process."""

KILL_AT = (0.15, 0.4, 0.65, 0.9)
"""When to kill, as fractions of an uninterrupted run's duration (each from a fresh start)."""


def _benchmark(protocol: Path, out: Path, *extra: str) -> subprocess.Popen:
    """``est-stfm benchmark`` in its own process group (so nothing it starts outlives the test)."""
    args = ["benchmark", str(protocol), "--out", str(out), *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "est_stfm", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_ok(proc: subprocess.Popen) -> None:
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()


def _case_ids(markdown: str) -> list[str]:
    return [line[4:] for line in markdown.splitlines() if line.startswith("### ")]


def check_whole(out: Path, case_ids: list[str]) -> list[Row]:
    """``results.csv`` and ``results.md`` are each absent or complete; the CSV's rows."""
    csv_path, md_path = out / "results.csv", out / "results.md"
    rows: list[Row] = []
    if csv_path.exists():
        header = csv_path.read_text(encoding="utf-8").splitlines()[0]
        assert tuple(header.split(",")) == CSV_COLUMNS
        rows = rows_from_csv(csv_path)
        done = sorted({r.case for r in rows}, key=case_ids.index)
        assert done == case_ids[: len(done)]  # whole cases, in protocol order
        for case in done:
            assert [r.method for r in rows if r.case == case] == [m["id"] for m in METHODS]
        for row in rows:
            assert row.status == "ok", row.status
            assert set(row.metrics) == set(METRIC_NAMES) and row.valid_pixels
    if md_path.exists():
        markdown = md_path.read_text(encoding="utf-8")
        assert markdown.startswith("# est-stfm benchmark results") and markdown.endswith("\n")
        written = _case_ids(markdown)
        assert written == [r.case for r in rows][:: len(METHODS)][: len(written)]
        table = [ln for ln in markdown.splitlines() if ln.startswith("| ")]
        assert len(table) == len(written) * (1 + len(METHODS))  # header + a row per method
    return rows


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: its modification time and size."""
    files = {}
    for path in folder.rglob("*"):
        try:
            stat = path.stat()
        except FileNotFoundError:  # renamed meanwhile
            continue
        if path.is_file():
            files[str(path.relative_to(folder))] = (stat.st_mtime_ns, stat.st_size)
    return files


def wait_group_gone(group: int, timeout_s: float = 20.0) -> bool:
    """True once no process of the process group is left (its children ended too)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def results(rows: list[Row]) -> dict[tuple[str, str], tuple]:
    """What a row measured (not how long it took): status, dates, pixels, metrics, clusters."""
    return {
        (r.case, r.method): (
            r.status,
            r.target,
            r.reference,
            r.valid_pixels,
            r.metrics,
            r.cluster_oa,
            r.cluster_kappa,
            r.cluster_ari,
        )
        for r in rows
    }


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_kill_9_during_benchmark_leaves_whole_results_and_resumes(tiny_scene, tmp_path):
    dates = scene_dates(tiny_scene)
    cases = [
        {"id": f"t{i}", "scene": str(tiny_scene), "target": target, "ergas_ratio": 0.125}
        for i, target in enumerate(dates[1:])
    ]
    case_ids = [c["id"] for c in cases]
    protocol = write_protocol(tmp_path / "protocol.yaml", cases, METHODS)
    start = time.monotonic()
    _wait_ok(_benchmark(protocol, tmp_path / "reference"))
    duration = time.monotonic() - start
    expected = results(check_whole(tmp_path / "reference", case_ids))
    assert len(expected) == len(cases) * len(METHODS)

    out, group = tmp_path / "out", None
    try:
        for i, fraction in enumerate(KILL_AT):
            proc = _benchmark(protocol, out, *(["--resume"] if i else []))
            group = proc.pid
            time.sleep(duration * fraction)
            proc.send_signal(signal.SIGKILL)  # the benchmark process only, as `kill -9 PID`
            proc.wait(timeout=60)
            check_whole(out, case_ids)
            before = snapshot(out)  # no orphaned fit or prediction goes on writing in there
            assert wait_group_gone(group), "a child process outlived the killed benchmark"
            group = None
            changed = sorted(set(snapshot(out).items()) ^ set(before.items()))
            assert not changed, f"written after the benchmark was killed: {changed}"
        proc = _benchmark(protocol, out, "--resume")
        group = proc.pid
        _wait_ok(proc)
        group = None
    finally:
        if group is not None:  # what a failed check may have left running
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
    rows = check_whole(out, case_ids)
    assert results(rows) == expected
