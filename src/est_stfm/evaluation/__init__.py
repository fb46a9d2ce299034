"""Evaluation: the metric suite and file comparison."""

from est_stfm.evaluation.compare import evaluate_files, read_reflectance
from est_stfm.evaluation.metrics import METRIC_NAMES, MetricReport, evaluate_arrays

__all__ = ["METRIC_NAMES", "MetricReport", "evaluate_arrays", "evaluate_files", "read_reflectance"]
