"""Scores: each Neural Collapse metric as a percentage of its optimum.

"≥ 95 % NC" (PAPER.md) needs a map from raw values to [0, 100] %. The paper's own map was
not published in readable form; this is ours. 100 % is reached only at the metric's
collapse value; every score is clipped to [0, 100].

Lower-is-better metrics with floor f use one rule, ``100 · (1 − (v − f)/(B − f))``, where
the bound B is the metric's value v₀ at initialisation when ``initial`` holds it AND it is
a meaningful "no collapse" reference, ``v₀ ≥ INITIAL_BOUND_FRACTION · B_default`` (10 % of
the default below); otherwise B is the default. An initial value near 0 is already
(almost) collapsed, not a reference: with SCL's class-mean prototypes ``align_proto_class``
is ~1e-16 and ``ncc_mismatch`` ~0 at step 0, and using that as B would pin the score at 0 %
forever. The same rule guards ``mir`` (B = |v₀ − m*| only if ≥ 10 % of its default) and
``erank_intra`` (v₀ used only if v₀ − 1 ≥ 10 % of v₀, i.e. v₀ ≥ 1/0.9).
Higher-is-better metrics use their exact collapse value and ignore ``initial``.
K = ``num_classes``.

| metric | collapse value | score (%) | default bound B and why |
|---|---|---|---|
| nc1 | 0 | 100·(1 − v/B) | 1: within-class spread as large as the between-class spread in every between-class direction (classes not separated) |
| cdnv | 0 | 100·(1 − v/B) | 1: mean class variance equals the squared distance between class means (classes overlap) |
| equinorm | 0 | 100·(1 − v/B) | √(K−1): the largest coefficient of variation of K non-negative norms (one non-zero) |
| equiangular | 0 | 100·(1 − v/B) | 1: the std of numbers in [−1, 1] is at most 1 |
| max_angle | 0 | 100·(1 − v/B) | K/(K−1): the largest \\|cos + 1/(K−1)\\| (cos = 1) |
| etf_error | 0 | 100·(1 − v/B) | √(2 − 2/√(K−1)): the largest distance, reached by a rank-one Gram (K = 2: always 100) |
| self_duality | 0 | 100·(1 − v/B) | 2: the value when W ⟂ M̄; the score is then the cosine ⟨W, M̄⟩_F/(‖W‖‖M̄‖), clipped at 0 |
| ncc_mismatch | 0 | 100·(1 − v/B) | 1: it is a fraction |
| erank_intra | ≤ 1 | 100·min(1, 1/v); with initial v₀ ≥ 1/0.9: 100·(v₀ − v)/(v₀ − 1) | erank is scale-free, so no spread is 1 direction (or 0); 1/v is the weight of one direction among v |
| erank_inter | K−1 | 100·v/(K−1) | K−1: the rank of K centred means; erank = K−1 iff their non-zero eigenvalues are equal (simplex ETF) |
| erank_proto | K−1 | 100·v/(K−1) | as erank_inter, for the K unit prototypes |
| align_proto_class | 0 | 100·(1 − v/B) | 2: the value for prototypes orthogonal to the class means (random in high D); the score is the mean cosine, clipped at 0. Range [0, 4] |
| align_proto_instance | 0 | 100·(1 − v/B) | 2: as above, per instance; the score is the mean of ŵ_y·u, clipped at 0. Range [0, 4] |
| mir | m*(K) | 100·(1 − \\|v − m*\\|/B) | m*(K) = mir of two simplex-ETF Grams (0.952 at K = 10, not 1); B = \\|v₀ − m*\\| with initial (if ≥ 10 % of the default), else max(m*, 1 − m*), the farthest a value in [0, 1] can be. Random near-orthogonal Grams also give mir ≈ 1: pass initial |
| hdr | 0 | 100·(1 − v/B) | 1: hdr is a ratio in [0, 1] |

Random features score low on nc1, cdnv, erank_intra, the alignments, self_duality and
erank_proto; NC2 metrics of random Gaussian means in high dimension are close to a
simplex ETF by concentration of measure, so equinorm/equiangular/max_angle score high there
(values in ``tests/geometry/test_nc_scores.py``).
"""

from __future__ import annotations

import math

from .metrics import METRIC_DIRECTIONS, mir_at_collapse

__all__ = ["INITIAL_BOUND_FRACTION", "nc_scores", "default_bounds"]

#: An initial value is used as the bound only if it is at least this fraction of the default.
INITIAL_BOUND_FRACTION = 0.1


def default_bounds(num_classes: int) -> dict[str, float]:
    """Default bound B of each lower-is-better metric (module table), for K classes."""
    K = int(num_classes)
    if K < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return {
        "nc1": 1.0,
        "cdnv": 1.0,
        "equinorm": math.sqrt(K - 1),
        "equiangular": 1.0,
        "max_angle": K / (K - 1),
        "etf_error": math.sqrt(max(0.0, 2.0 - 2.0 / math.sqrt(K - 1))),
        "self_duality": 2.0,
        "ncc_mismatch": 1.0,
        "align_proto_class": 2.0,
        "align_proto_instance": 2.0,
        "hdr": 1.0,
    }


def _clip(x: float) -> float:
    if math.isnan(x):
        return 0.0
    return 100.0 * min(1.0, max(0.0, x))


def _bound(v0: float | None, default: float) -> float:
    """B = v₀ when it is a meaningful "no collapse" reference (≥ 10 % of the default)."""
    if v0 is not None and float(v0) >= INITIAL_BOUND_FRACTION * default:
        return float(v0)
    return default


def nc_scores(
    metrics: dict[str, float],
    num_classes: int,
    initial: dict[str, float] | None = None,
) -> dict[str, float]:
    """Map raw metric values to % of their optimum (module table).

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
    bounds = default_bounds(K)
    initial = initial or {}
    scores: dict[str, float] = {}
    for name, value in metrics.items():
        if name not in METRIC_DIRECTIONS:
            continue
        v = float(value)
        if name in ("erank_inter", "erank_proto"):
            scores[name] = _clip(v / (K - 1))
        elif name == "mir":
            if K < 3:
                continue
            target = mir_at_collapse(K)
            v0 = initial.get(name)
            default = max(target, 1.0 - target)
            bound = abs(float(v0) - target) if v0 is not None else 0.0
            if not bound >= INITIAL_BOUND_FRACTION * default:  # also catches NaN
                bound = default
            scores[name] = _clip(1.0 - abs(v - target) / bound)
        elif name == "erank_intra":
            v0 = initial.get(name)
            if v0 is not None and float(v0) - 1.0 >= INITIAL_BOUND_FRACTION * float(v0):
                scores[name] = _clip((float(v0) - v) / (float(v0) - 1.0))
            else:
                scores[name] = 100.0 if v <= 1.0 else _clip(1.0 / v)
        elif name == "etf_error" and K == 2:
            scores[name] = 100.0
        else:
            bound = _bound(initial.get(name), bounds[name])
            scores[name] = _clip(1.0 - v / bound)
    return scores
