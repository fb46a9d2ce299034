"""What a resumed benchmark run keeps from the results file it resumes.

``--resume`` reads ``OUT/results.csv`` once: rows finished there (status ok, or skipped because
the case has too few dates) are not run again, and rows this run does not produce (methods or
cases it does not select) are written back as they were. While the run goes on, a finished row
it has not reached yet is still written, so an interruption loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from est_stfm.benchmark.results import Row, rows_from_csv


@dataclass
class Previous:
    """The rows of the results file a run resumes (empty for a fresh run)."""

    done: dict[tuple[str, str], Row] = field(default_factory=dict)
    """Finished rows by (case, method): not run again."""
    kept: list[Row] = field(default_factory=list)
    """Rows this run does not produce (other methods', other cases'), written back as they were."""

    def waiting(
        self, reached: set[tuple[str, str]], methods: set[str], cases: set[str]
    ) -> list[Row]:
        """Finished rows of this run's (case, method)s that it has not ``reached`` yet."""
        return [
            r
            for key, r in self.done.items()
            if key not in reached and r.method in methods and r.case in cases
        ]


def previous_rows(
    csv_path: Path,
    known_methods: set[str],
    known_cases: set[str],
    methods: set[str],
    cases: set[str],
) -> Previous:
    """The rows of ``csv_path`` (if it exists) a run of ``methods`` x ``cases`` keeps; rows of
    methods or cases no longer in the protocol (``known_*``) are dropped."""
    if not csv_path.is_file():
        return Previous()
    rows = rows_from_csv(csv_path)
    done = {(r.case, r.method): r for r in rows if r.ok or r.status.startswith("skipped: needs")}
    kept = [
        r
        for r in rows
        if r.method in known_methods
        and r.case in known_cases
        and (r.method not in methods or r.case not in cases)
    ]
    return Previous(done, kept)
