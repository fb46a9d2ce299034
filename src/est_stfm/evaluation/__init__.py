"""Evaluation: the metric suite, file comparison and the clustering application."""

from est_stfm.evaluation.cluster import ClusterReport, cluster_agreement
from est_stfm.evaluation.compare import evaluate_files, load_pair, read_reflectance
from est_stfm.evaluation.metrics import METRIC_NAMES, MetricReport, evaluate_arrays

__all__ = [
    "METRIC_NAMES",
    "ClusterReport",
    "MetricReport",
    "cluster_agreement",
    "evaluate_arrays",
    "evaluate_files",
    "load_pair",
    "read_reflectance",
]
