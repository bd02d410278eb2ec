"""Neural Collapse geometry: streaming statistics, metrics, scores and the class-mean head.

Two passes: :class:`ClassStats` (sums, scatters) then, for NC4, :class:`NCCAgreement`
(needs the final class means). Metrics are functions of that state
(:func:`collapse_metrics`), scores map them to % of collapse (:func:`nc_scores`); each
metric is described once in ``descriptors.py`` (:data:`METRICS`).
Plain PyTorch: no Ray, no MLflow.
"""

from ._host import single_threaded_blas, times_transposed
from .agreement import NCCAgreement
from .descriptors import METRICS, MetricInfo, metric_info, paper_five, score_table
from .metrics import (
    METRIC_DIRECTIONS,
    METRIC_NAMES,
    PROTOTYPE_METRICS,
    MetricsInfo,
    NCMetrics,
    collapse_metrics,
    effective_rank,
    effective_rank_from_spectrum,
    matrix_entropy,
    mir_at_collapse,
)
from .progress import NCProgress, iterations_to_match
from .prototypes import ClassMeanClassifier
from .scores import default_bounds, nc_scores
from .stats import ClassStats

__all__ = [
    "METRICS",
    "MetricInfo",
    "metric_info",
    "paper_five",
    "score_table",
    "single_threaded_blas",
    "times_transposed",
    "METRIC_DIRECTIONS",
    "METRIC_NAMES",
    "PROTOTYPE_METRICS",
    "ClassMeanClassifier",
    "ClassStats",
    "MetricsInfo",
    "NCCAgreement",
    "NCMetrics",
    "NCProgress",
    "collapse_metrics",
    "default_bounds",
    "effective_rank",
    "effective_rank_from_spectrum",
    "iterations_to_match",
    "matrix_entropy",
    "mir_at_collapse",
    "nc_scores",
]
