"""The result of one (case, method) run, and its text forms: ``results.csv`` and a Markdown table.

:class:`Row` is the single place the result's columns are declared: each field carries a
:class:`Cell` that says how it is written in the CSV and whether, where and how it appears in the
Markdown table. The CSV header, a row's CSV cells, the parsing of a CSV back into rows (for
``--resume``) and the table are all generated from those fields.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Literal

from est_stfm.evaluation.metrics import METRIC_NAMES

Kind = Literal["text", "dates", "count", "number", "cost"]
"""How a value is written in the CSV: as is, ``;``-joined dates, an integer, 6 significant
digits, or one decimal (seconds, MiB); an empty cell where nothing was measured."""

METRIC_UNITS = {"PSNR": " (dB)", "SAM": " (deg)"}
"""Units shown beside a metric's name in the Markdown table."""

METRIC_DIGITS = {"PSNR": 2, "SAM": 2, "ERGAS": 3}
"""Decimal places of a metric in the Markdown table (4 for every other one)."""

BEST = {"RMSE": min, "SSIM": max}
"""Columns whose best value in a case is shown in bold, and how the best is chosen."""


@dataclass(frozen=True)
class Cell:
    """How a :class:`Row` field is written: its CSV kind and column name (default: the field's),
    its Markdown heading (None: CSV only), decimal places and place among the table's columns
    (ties keep the CSV order)."""

    kind: Kind
    name: str | None = None
    heading: str | None = None
    digits: int = 4
    place: int = 0
    keys: tuple[tuple[str, str, int], ...] = ()
    """For a dict field: ``(column, heading, digits)`` of each key, in CSV order."""


def _cell(kind: Kind, *, default: Any = MISSING, factory: Any = MISSING, **how: Any) -> Any:
    """A dataclass field described by ``Cell(kind, **how)``."""
    return field(default=default, default_factory=factory, metadata={"cell": Cell(kind, **how)})


_METRICS = tuple((m, m + METRIC_UNITS.get(m, ""), METRIC_DIGITS.get(m, 4)) for m in METRIC_NAMES)


@dataclass
class Row:
    """One (case, method) result: status, dates, metrics, cost. Fields in CSV column order."""

    case: str = _cell("text")
    method: str = _cell("text", heading="method", place=0)
    status: str = _cell("text", default="ok", heading="status", place=7)
    target: str = _cell("text", default="")
    reference: str = _cell("text", default="")
    training_dates: list[str] = _cell("dates", factory=list)
    unit: str = _cell("text", default="")
    coarse: str = _cell("text", default="")
    data_range: float | None = _cell("number", default=None)
    ergas_ratio: float | None = _cell("number", default=None)
    valid_pixels: int | None = _cell("count", default=None)
    metrics: dict[str, float] = _cell("number", factory=dict, place=1, keys=_METRICS)
    cluster_oa: float | None = _cell(
        "number", default=None, name="cluster_OA", heading="cluster OA", digits=3, place=2
    )
    cluster_kappa: float | None = _cell("number", default=None, heading="kappa", digits=3, place=2)
    cluster_ari: float | None = _cell(
        "number", default=None, name="cluster_ARI", heading="ARI", digits=3, place=2
    )
    fit_s: float | None = _cell("cost", default=None, heading="fit (s)", digits=1, place=3)
    predict_s: float | None = _cell("cost", default=None, heading="predict (s)", digits=1, place=5)
    fit_peak_mib: float | None = _cell(
        "cost", default=None, heading="fit peak (MiB)", digits=0, place=4
    )
    predict_peak_mib: float | None = _cell(
        "cost", default=None, heading="predict peak (MiB)", digits=0, place=6
    )

    @property
    def ok(self) -> bool:
        """True when the run produced metrics."""
        return self.status == "ok"

    def as_csv(self) -> dict[str, str]:
        """The row as ``results.csv`` cells (empty where not measured)."""
        return {c.name: _to_text(c.kind, c.value(self)) for c in COLUMNS}

    @classmethod
    def from_csv(cls, cells: Mapping[str, str]) -> Row:
        """The row of one line of ``results.csv`` (a column it lacks is left empty)."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            cell: Cell = f.metadata["cell"]
            if cell.keys:
                values[f.name] = {k: float(cells[k]) for k, _, _ in cell.keys if cells.get(k)}
            else:
                values[f.name] = _from_text(cell.kind, cells.get(cell.name or f.name, ""))
        return cls(**values)


@dataclass(frozen=True)
class Column:
    """One column of ``results.csv`` (and of the Markdown table when it has a heading)."""

    name: str
    attribute: str
    key: str | None
    kind: Kind
    heading: str | None
    digits: int
    place: int

    def value(self, row: Row) -> Any:
        """This column's value in ``row``."""
        value = getattr(row, self.attribute)
        return value.get(self.key) if self.key is not None else value


def _columns() -> tuple[Column, ...]:
    out = []
    for f in dataclasses.fields(Row):
        cell: Cell = f.metadata["cell"]
        if cell.keys:
            out += [
                Column(key, f.name, key, cell.kind, heading, digits, cell.place)
                for key, heading, digits in cell.keys
            ]
        else:
            name = cell.name or f.name
            out.append(Column(name, f.name, None, cell.kind, cell.heading, cell.digits, cell.place))
    return tuple(out)


COLUMNS = _columns()
"""Every column of ``results.csv``, in order."""

CSV_COLUMNS = tuple(c.name for c in COLUMNS)
"""The header of ``results.csv``."""

TABLE_COLUMNS = tuple(sorted((c for c in COLUMNS if c.heading), key=lambda c: c.place))
"""The columns of a case's Markdown table, in order."""


def _measured(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _to_text(kind: Kind, value: Any) -> str:
    if kind == "text":
        return value
    if kind == "dates":
        return ";".join(value)
    if not _measured(value):
        return ""
    if kind == "count":
        return str(value)
    return f"{value:.6g}" if kind == "number" else f"{value:.1f}"


def _from_text(kind: Kind, text: str) -> Any:
    if kind == "text":
        return text
    if kind == "dates":
        return [d for d in text.split(";") if d]
    if not text:
        return None
    return int(text) if kind == "count" else float(text)


def results_csv(rows: Sequence[Row]) -> str:
    """``results.csv`` text: a header, then one line per row."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.as_csv())
    return buf.getvalue()


def rows_from_csv(path: str | Path) -> list[Row]:
    """The rows of a ``results.csv`` written by :func:`results_csv` (for ``--resume``)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [Row.from_csv(cells) for cells in csv.DictReader(fh)]


def _markdown(column: Column, value: Any) -> str:
    if column.kind == "text":
        return str(value).replace("|", "/")
    return f"{value:.{column.digits}f}" if _measured(value) else "-"


def case_table(rows: Sequence[Row]) -> str:
    """The Markdown table of one case; the best RMSE (lowest) and SSIM (highest) in bold."""
    best = {}
    for name, pick in BEST.items():
        column = next(c for c in TABLE_COLUMNS if c.name == name)
        values = [v for r in rows if r.ok and _measured(v := column.value(r))]
        if values:
            best[name] = pick(values)
    lines = [
        "| " + " | ".join(str(c.heading) for c in TABLE_COLUMNS) + " |",
        "|" + "".join("---|" if c.kind == "text" else "---:|" for c in TABLE_COLUMNS),
    ]
    for row in rows:
        cells = []
        for column in TABLE_COLUMNS:
            value = column.value(row)
            text = _markdown(column, value)
            if row.ok and column.name in best and value == best[column.name]:
                text = f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
