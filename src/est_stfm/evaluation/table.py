"""Plain-text, Markdown and CSV tables of metric reports."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from est_stfm.evaluation.metrics import METRIC_NAMES, MetricReport
from est_stfm.io.atomic import atomic_write_text

# Decimal places per metric: reflectance errors need four, dB and degrees two.
_DIGITS = {
    "RMSE": 4,
    "MAE": 4,
    "bias": 4,
    "PSNR": 2,
    "SSIM": 4,
    "SAM": 2,
    "ERGAS": 3,
    "CC": 4,
    "UIQI": 4,
}
_UNITS = {"PSNR": " (dB)", "SAM": " (deg)"}


def _fmt(name: str, value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{_DIGITS[name]}f}"


def markdown_table(rows: dict[str, MetricReport], metrics=METRIC_NAMES) -> str:
    """One row per method (overall values), one column per metric."""
    head = "| method | " + " | ".join(m + _UNITS.get(m, "") for m in metrics) + " |"
    sep = "|---|" + "---:|" * len(metrics)
    body = [
        f"| {name} | " + " | ".join(_fmt(m, r.overall[m]) for m in metrics) + " |"
        for name, r in rows.items()
    ]
    return "\n".join([head, sep, *body])


def band_table(
    report: MetricReport, band_names: list[str] | None = None, metrics=METRIC_NAMES
) -> str:
    """One row per band plus the overall row, for one report."""
    names = band_names or [f"band {i + 1}" for i in range(len(report.per_band))]
    head = "| band | " + " | ".join(m + _UNITS.get(m, "") for m in metrics) + " |"
    sep = "|---|" + "---:|" * len(metrics)
    body = [
        f"| {n} | " + " | ".join(_fmt(m, b[m]) for m in metrics) + " |"
        for n, b in zip(names, report.per_band, strict=True)
    ]
    body.append("| **overall** | " + " | ".join(_fmt(m, report.overall[m]) for m in metrics) + " |")
    return "\n".join([head, sep, *body])


def csv_text(
    report: MetricReport, band_names: list[str] | None = None, metrics=METRIC_NAMES
) -> str:
    """CSV of one report: a header, one row per band, then the ``overall`` row; full precision
    (``nan`` where a metric is undefined, ``inf`` for a perfect PSNR)."""
    names = band_names or [f"band {i + 1}" for i in range(len(report.per_band))]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["band", *metrics, "valid_pixels"])
    for name, values in zip(names, report.per_band, strict=True):
        writer.writerow([name, *(repr(float(values[m])) for m in metrics), report.valid_pixels])
    overall = [repr(float(report.overall[m])) for m in metrics]
    writer.writerow(["overall", *overall, report.valid_pixels])
    return buf.getvalue()


def write_csv(path: str | Path, report: MetricReport, band_names: list[str] | None = None) -> Path:
    """Write :func:`csv_text` to ``path`` atomically (temporary name, then rename)."""
    atomic_write_text(path, csv_text(report, band_names))
    return Path(path)
