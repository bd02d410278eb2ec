"""Scores: each Neural Collapse metric as a percentage of its optimum.

The rule of each metric (collapse value, default bound and why, the formula) lives in its
descriptor, ``geometry/descriptors.py`` (the README's score table is generated from it);
this module applies them to a dict of raw values.

Random features score low on nc1, cdnv, erank_intra, the alignments, self_duality and
erank_proto; NC2 metrics of random Gaussian means in high dimension are close to a
simplex ETF by concentration of measure, so equinorm/equiangular/max_angle score high there
(values in ``tests/geometry/test_nc_scores.py``).
"""

from __future__ import annotations

from .descriptors import INITIAL_BOUND_FRACTION, METRICS, metric_info

__all__ = ["INITIAL_BOUND_FRACTION", "nc_scores", "default_bounds"]


def default_bounds(num_classes: int) -> dict[str, float]:
    """Default bound B of each ``100·(1 − v/B)`` metric, for K classes."""
    K = int(num_classes)
    if K < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return {m.name: m.default_bound(K) for m in METRICS if m.default_bound is not None}


def nc_scores(
    metrics: dict[str, float],
    num_classes: int,
    initial: dict[str, float] | None = None,
) -> dict[str, float]:
    """Map raw metric values to % of their optimum (each metric's descriptor).

    Args:
        metrics: ``{name: raw value}`` as returned by ``collapse_metrics``; unknown names
            are ignored, absent metrics get no score.
        num_classes: K.
        initial: optional raw values at initialisation; used as the bound B of the
            lower-is-better metrics (and v₀ of ``erank_intra``) when at least
            :data:`INITIAL_BOUND_FRACTION` of the default bound, else ignored.

    Returns:
        ``{name: score}`` with scores in [0, 100].
    """
    K = int(num_classes)
    if K < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    initial = initial or {}
    known = {m.name for m in METRICS}
    scores: dict[str, float] = {}
    for name, value in metrics.items():
        if name not in known:
            continue
        v0 = initial.get(name)
        score = metric_info(name).score(float(value), K, None if v0 is None else float(v0))
        if score is not None:
            scores[name] = score
    return scores
