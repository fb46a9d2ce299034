"""``results.md``: the environment a run had, then one table per case; and its README section.

The numbers depend on the machine (cores, load) and the versions, so the document's header says
what they were. :func:`splice_markdown` puts the document between the README's benchmark markers
(``benchmarks/update_readme.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from est_stfm.benchmark.aggregate import aggregate_table
from est_stfm.benchmark.protocol import CasePlan, CaseSpec, Protocol
from est_stfm.benchmark.results import Row, case_table
from est_stfm.errors import EstStfmError

START_MARKER = "<!-- benchmark:start -->"
END_MARKER = "<!-- benchmark:end -->"
"""The README lines between which :func:`splice_markdown` puts the results."""

ABOUT_THE_TABLES = (
    "Metrics over the valid pixels of the whole target image (README, *Metric conventions*), "
    "in each case's unit; PSNR and SSIM use the case's data range. Best RMSE and SSIM per "
    "case in **bold**. Cluster columns: k-means (k = 6) agreement between the prediction and "
    "the truth (empty when not computed). Times are wall seconds of a fresh process "
    "(Python and torch start-up included); peak = that process's maximum resident memory."
)


def load_average() -> str:
    """The 1-minute load average (other work on the machine slows every run), or n/a."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    """What the numbers depend on, as ``label: value`` lines of the header: machine, versions."""
    return {
        "CPU cores": str(os.cpu_count()),
        "platform": f"{platform.system()} {platform.machine()}",
        "Python": platform.python_version(),
        "torch": _package_version("torch"),
        "est-stfm": _package_version("est-stfm"),
    }


@dataclass
class RunInfo:
    """What ``results.md`` says about a run besides its rows."""

    protocol: Protocol
    protocol_path: Path
    cases: list[CaseSpec]
    started: dt.datetime
    seconds: float = 0.0
    plans: dict[str, CasePlan] = field(default_factory=dict)
    """The resolved dates of each case whose scene could be read, by case id."""
    env: dict[str, str] = field(default_factory=environment)


def case_heading(case: CaseSpec, plan: CasePlan | None) -> str:
    """The heading and one-line summary of a case: its dates, unit and settings."""
    parts = [f"target {case.target}"]
    if plan is not None:
        refs = " and ".join(map(str, plan.references))
        parts[0] += f" from reference{'s' if len(plan.references) > 1 else ''} {refs}"
        parts.append(f"training dates {', '.join(map(str, plan.train)) or 'none'}")
    span = "max - min of the truth" if case.data_range == "truth" else f"{case.data_range:g}"
    parts.append(f"{case.unit} (data range {span})")
    parts.append(f"ERGAS ratio {case.ergas_ratio:.4g}")
    parts.append(f"{case.coarse} coarse")
    text = f"### {case.id}\n\n"
    if case.description:
        text += f"{case.description.strip()}  \n"
    return text + "; ".join(parts) + "."


def _header(run: RunInfo) -> list[str]:
    env_text = ", ".join(f"{k} {v}" for k, v in run.env.items())
    return [
        "# est-stfm benchmark results",
        "",
        f"Protocol `{run.protocol_path.name}` (version {run.protocol.version}); run "
        f"{run.started:%Y-%m-%d %H:%M} UTC, {run.seconds / 60:.1f} min in all; {env_text}.",
    ]


def summary_markdown(rows: Sequence[Row], run: RunInfo) -> str:
    """``summary.md``: the environment header and the aggregate table over every case."""
    baseline = run.protocol.baseline
    lines = _header(run) + [
        "",
        f"{len({r.case for r in rows})} cases. Aggregate over the cases where {baseline} ran "
        "(`est_stfm.benchmark.aggregate`): mean RMSE ratio and SSIM difference to "
        f"{baseline}, cases won (lowest RMSE), mean rank by RMSE; a method that could not run "
        "on a case counts as losing it.",
        "",
        aggregate_table(rows, baseline),
    ]
    return "\n".join(lines) + "\n"


def results_markdown(rows: Sequence[Row], run: RunInfo) -> str:
    """``results.md``: environment header, the aggregate table (version 2), one table per case."""
    lines = _header(run)
    if run.protocol.version >= 2:
        lines += ["", "## Aggregate", "", aggregate_table(rows, run.protocol.baseline)]
        lines += ["", "## Every case"]
    lines += ["", ABOUT_THE_TABLES]
    for case in run.cases:
        case_rows = [r for r in rows if r.case == case.id]
        if not case_rows:
            continue
        heading = case_heading(case, run.plans.get(case.id))
        statuses = {r.status for r in case_rows}
        if len(statuses) == 1 and not case_rows[0].ok:  # nothing ran: one line, no empty table
            lines += ["", heading, "", f"All methods: {statuses.pop()}."]
        else:
            lines += ["", heading, "", case_table(case_rows)]
    return "\n".join(lines) + "\n"


def splice_markdown(document: str, insert: str) -> str:
    """``document`` with the text between the benchmark markers replaced by ``insert``.

    A leading level-1 heading of ``insert`` is dropped (the document has its own).
    """
    if START_MARKER not in document or END_MARKER not in document:
        raise EstStfmError(f"markers {START_MARKER} and {END_MARKER} not found")
    body = re.sub(r"\A# [^\n]*\n+", "", insert.strip() + "\n")
    head, rest = document.split(START_MARKER, 1)
    _, tail = rest.split(END_MARKER, 1)
    return f"{head}{START_MARKER}\n{body}{END_MARKER}{tail}"
