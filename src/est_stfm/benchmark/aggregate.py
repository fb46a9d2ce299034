"""The aggregate table of a run: every method summarised over the cases it was run on.

Per method, over the *scored cases* (cases where the baseline, ``naive-change`` by default, ran):

* **RMSE ratio**: mean over its cases of RMSE / the baseline's RMSE in the same case (below 1:
  better than the baseline), over the cases where the method ran;
* **SSIM diff**: mean of SSIM minus the baseline's SSIM (above 0: better), same cases;
* **wins**: cases where its RMSE is the lowest of all methods run on the case (ties all win);
* **mean rank**: its mean rank by RMSE among the methods run on each case (1 = best). A method
  that did not run on a case it was scheduled for (an error, a skip: e.g. too few training dates)
  takes the last rank there and cannot win it: it counts as losing;
* **ran**: cases it produced a prediction for, of the scored cases it was scheduled on.

A method run on a subset of cases only (``cases: quick``) is ranked among the methods of those
cases: its rank is not comparable with that of methods run on every case.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from est_stfm.benchmark.results import Row


@dataclass
class Summary:
    """One method's aggregate over the scored cases."""

    method: str
    scheduled: int = 0
    ratios: list[float] = field(default_factory=list)
    ssim_diffs: list[float] = field(default_factory=list)
    ranks: list[float] = field(default_factory=list)
    wins: int = 0
    predict_s: list[float] = field(default_factory=list)

    @property
    def ran(self) -> int:
        """Cases with a prediction."""
        return len(self.ratios)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _median(values: Sequence[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def summarise(rows: Sequence[Row], baseline: str = "naive-change") -> list[Summary]:
    """Every method's :class:`Summary`, best mean RMSE ratio first."""
    by_case: dict[str, list[Row]] = {}
    for row in rows:
        by_case.setdefault(row.case, []).append(row)
    summaries: dict[str, Summary] = {}
    for row in rows:
        summaries.setdefault(row.method, Summary(row.method))
    for case_rows in by_case.values():
        base = next((r for r in case_rows if r.method == baseline and r.ok), None)
        if base is None:
            continue
        ok = sorted((r for r in case_rows if r.ok), key=lambda r: r.metrics["RMSE"])
        best = ok[0].metrics["RMSE"]
        for row in case_rows:
            s = summaries[row.method]
            s.scheduled += 1
            if not row.ok:
                s.ranks.append(float(len(case_rows)))
                continue
            rmse = row.metrics["RMSE"]
            s.ratios.append(rmse / base.metrics["RMSE"])
            s.ssim_diffs.append(row.metrics["SSIM"] - base.metrics["SSIM"])
            s.ranks.append(1.0 + sum(r.metrics["RMSE"] < rmse for r in ok))
            s.wins += rmse == best
            if row.predict_s is not None:
                s.predict_s.append(row.predict_s)
    order = sorted(summaries.values(), key=lambda s: (math.isnan(_mean(s.ratios)), _mean(s.ratios)))
    return [s for s in order if s.scheduled]


def aggregate_table(rows: Sequence[Row], baseline: str = "naive-change") -> str:
    """The aggregate Markdown table (see the module docstring for each column)."""
    lines = [
        f"| method | ran / cases | RMSE / {baseline} | SSIM - {baseline} | wins | mean rank "
        "| median predict (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summarise(rows, baseline):
        lines.append(
            f"| {s.method} | {s.ran} / {s.scheduled} | {_mean(s.ratios):.4f} "
            f"| {_mean(s.ssim_diffs):+.4f} | {s.wins} | {_mean(s.ranks):.2f} "
            f"| {_median(s.predict_s):.1f} |"
        )
    return "\n".join(lines).replace("nan", "-")
