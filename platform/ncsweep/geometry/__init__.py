"""Neural Collapse geometry: streaming statistics, metrics, scores and the class-mean head.

Two passes: :class:`ClassStats` (sums, scatters) then, for NC4, :class:`NCCAgreement`
(needs the final class means). Metrics are functions of that state
(:func:`collapse_metrics`), scores map them to % of collapse (:func:`nc_scores`); each
metric is described once in ``descriptors.py`` (:data:`METRICS`).
Plain PyTorch: no Ray, no MLflow. ``descriptors`` (the metric facts) and ``progress`` are
plain Python; the descriptors are imported here at once, the rest when first asked for
(PEP 562), so that a read command (a report's curves) needs no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .descriptors import (
    METRIC_DIRECTIONS,
    METRIC_NAMES,
    METRICS,
    PROTOTYPE_METRICS,
    MetricInfo,
    metric_info,
    paper_five,
    score_table,
)

if TYPE_CHECKING:
    from ._host import single_threaded_blas, times_transposed
    from .agreement import NCCAgreement
    from .metrics import (
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


#: ``name -> module`` of the names imported when first asked for.
_LAZY = {
    "single_threaded_blas": "_host",
    "times_transposed": "_host",
    "NCCAgreement": "agreement",
    "MetricsInfo": "metrics",
    "NCMetrics": "metrics",
    "collapse_metrics": "metrics",
    "effective_rank": "metrics",
    "effective_rank_from_spectrum": "metrics",
    "matrix_entropy": "metrics",
    "mir_at_collapse": "metrics",
    "NCProgress": "progress",
    "iterations_to_match": "progress",
    "ClassMeanClassifier": "prototypes",
    "default_bounds": "scores",
    "nc_scores": "scores",
    "ClassStats": "stats",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
