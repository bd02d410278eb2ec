"""The Neural Collapse metrics described once: one :class:`MetricInfo` per metric.

Each descriptor holds what the rest of the platform needs about a metric: its name in
docs/paper.md, a one-line meaning, its direction, its collapse value, the default bound of its
score and why, the score rule as written in docs, and the score function itself. From
:data:`METRICS` come the metric names and order (``metrics.METRIC_NAMES``), the directions
(``progress``), the scores (``scores.nc_scores``), the paper's five of the leaderboard, the
Pareto objective's choices and the README's score table (:func:`score_table`).

The maths of each metric is in ``metrics.py`` (a function of the accumulated statistics);
this module is plain Python (no torch).

Scores ("≥ 95 % NC", docs/paper.md) map raw values to [0, 100] % of the optimum; 100 % only at
the collapse value; clipped to [0, 100]. The paper's own map was not published in a
readable form; this is ours. For a lower-is-better metric with default bound B_d, the
bound B is the run's value v₀ at initialisation when it is a meaningful "no collapse"
reference, v₀ ≥ :data:`INITIAL_BOUND_FRACTION` · B_d, else B_d: an initial value near 0 is
already (almost) collapsed (SCL's class-mean prototypes give ``align_proto_class`` ~1e-16
at step 0) and as a bound would pin the score at 0 % forever. K = number of classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "INITIAL_BOUND_FRACTION",
    "METRICS",
    "METRIC_DIRECTIONS",
    "METRIC_NAMES",
    "PROTOTYPE_METRICS",
    "OBJECTIVE_NC_METRICS",
    "MetricInfo",
    "metric_info",
    "paper_five",
    "score_table",
]

#: An initial value is used as the bound only if it is at least this fraction of the default.
INITIAL_BOUND_FRACTION = 0.1

Score = Callable[[float, int, float | None], float | None]


def _clip(x: float) -> float:
    return 0.0 if math.isnan(x) else 100.0 * min(1.0, max(0.0, x))


def _towards_zero(
    default_bound: Callable[[int], float],
) -> Callable[[float, int, float | None], float]:
    """``100·(1 − v/B)``, B = v₀ if v₀ ≥ 10 % of the default bound, else the default."""

    def score(v: float, k: int, v0: float | None) -> float:
        default = default_bound(k)
        bound = (
            float(v0)
            if v0 is not None and float(v0) >= INITIAL_BOUND_FRACTION * default
            else default
        )
        return _clip(1.0 - v / bound)

    return score


def _etf_error_bound(k: int) -> float:
    return math.sqrt(max(0.0, 2.0 - 2.0 / math.sqrt(k - 1)))


def _etf_error(v: float, k: int, v0: float | None) -> float:
    return 100.0 if k == 2 else _towards_zero(_etf_error_bound)(v, k, v0)


def _rank_of_simplex(v: float, k: int, v0: float | None) -> float:
    return _clip(v / (k - 1))


def _erank_intra(v: float, k: int, v0: float | None) -> float:
    if v0 is not None and float(v0) - 1.0 >= INITIAL_BOUND_FRACTION * float(v0):
        return _clip((float(v0) - v) / (float(v0) - 1.0))
    return 100.0 if v <= 1.0 else _clip(1.0 / v)


def mir_at_collapse(num_classes: int) -> float:
    """``mir`` when both Grams are the K-class simplex-ETF Gram (closed form, K ≥ 3).

    G = (K/(K−1))(I − 11ᵀ/K): H(G) = log(K−1). G∘G = a I + 11ᵀ/(K−1)² with a = 1 − 1/(K−1)²
    has eigenvalues a (K−1 times) and a + K/(K−1)²; mir = (2 log(K−1) − H(G∘G))/log(K−1).
    """
    K = int(num_classes)
    if K < 3:
        raise ValueError(f"mir is defined for K >= 3 classes, got {K}")
    a = 1.0 - 1.0 / (K - 1) ** 2
    b = a + K / (K - 1) ** 2
    h12 = -(K - 1) * (a / K) * math.log(a / K) - (b / K) * math.log(b / K)
    h = math.log(K - 1)
    return (2 * h - h12) / h


def _mir(v: float, k: int, v0: float | None) -> float | None:
    if k < 3:
        return None
    target = mir_at_collapse(k)
    default = max(target, 1.0 - target)
    bound = abs(float(v0) - target) if v0 is not None else 0.0
    if not bound >= INITIAL_BOUND_FRACTION * default:  # also catches NaN
        bound = default
    return _clip(1.0 - abs(v - target) / bound)


_TOWARDS_ZERO = "100·(1 − v/B)"


@dataclass(frozen=True)
class MetricInfo:
    """One NC metric.

    Attributes:
        name: the key part of ``nc/<name>``, ``nc_score/<name>``, ``nc_iters/<name>``.
        paper: its name in docs/paper.md.
        meaning: one line: what a value says.
        direction: ``min`` if a smaller raw value is closer to collapse, else ``max``.
        collapse: the collapse value, as written in docs (``0``, ``K−1``, ``m*(K)``).
        score_rule: the score (%) as written in docs.
        bound: the default bound B of the score and why.
        score: ``(v, K, v₀ or None) -> % or None`` (None: undefined for this K).
        needs_prototypes: computed only when the model has prototypes.
        paper_five: one of the five metrics the paper reports.
        default_bound: ``K -> B`` for the ``100·(1 − v/B)`` rule, else None.
    """

    name: str
    paper: str
    meaning: str
    direction: Literal["min", "max"]
    collapse: str
    score_rule: str
    bound: str
    score: Score
    needs_prototypes: bool = False
    paper_five: bool = False
    default_bound: Callable[[int], float] | None = None


def _lower(
    name: str,
    paper: str,
    meaning: str,
    bound_fn: Callable[[int], float],
    bound_text: str,
    **kw: bool,
) -> MetricInfo:
    return MetricInfo(
        name,
        paper,
        meaning,
        "min",
        "0",
        _TOWARDS_ZERO,
        bound_text,
        _towards_zero(bound_fn),
        default_bound=bound_fn,
        **kw,
    )


METRICS: tuple[MetricInfo, ...] = (
    _lower(
        "nc1",
        "NC1",
        "within-class spread relative to between-class spread, tr(Σ_W Σ_B^†)/K",
        lambda k: 1.0,
        "1: within-class spread as large as the between-class spread",
    ),
    _lower(
        "cdnv",
        "CDNV (NC1 companion)",
        "class variance over squared distance between class means, mean over pairs",
        lambda k: 1.0,
        "1: class variance equals the squared distance between class means",
    ),
    _lower(
        "equinorm",
        "NC2 equinorm",
        "coefficient of variation of the centred class-mean norms",
        lambda k: math.sqrt(k - 1),
        "√(K−1): the largest coefficient of variation of K non-negative norms",
    ),
    _lower(
        "equiangular",
        "NC2 equiangularity",
        "std of the pairwise cosines of the centred class means",
        lambda k: 1.0,
        "1: the std of values in [−1, 1] is at most 1",
    ),
    _lower(
        "max_angle",
        "NC2 maximal angle",
        "mean |cos + 1/(K−1)| over pairs of centred class means",
        lambda k: k / (k - 1),
        "K/(K−1): the largest |cos + 1/(K−1)| (cos = 1)",
    ),
    MetricInfo(
        "etf_error",
        "NC2 distance to the simplex ETF",
        "Frobenius distance of the normalised class-mean Gram to the simplex ETF",
        "min",
        "0",
        _TOWARDS_ZERO,
        "√(2 − 2/√(K−1)): reached by a rank-one Gram (K = 2: always 100)",
        _etf_error,
        default_bound=_etf_error_bound,
    ),
    _lower(
        "self_duality",
        "NC3",
        "distance between normalised prototypes W and centred class means M̄",
        lambda k: 2.0,
        "2: W ⟂ M̄; the score is then the cosine of W and M̄, clipped at 0",
        needs_prototypes=True,
    ),
    _lower(
        "ncc_mismatch",
        "NC4",
        "fraction of samples where classifier and nearest class centre disagree",
        lambda k: 1.0,
        "1: it is a fraction",
    ),
    MetricInfo(
        "erank_intra",
        "intra-class erank",
        "mean effective rank of the within-class covariance of unit features",
        "min",
        "≤ 1",
        "100·min(1, 1/v), or 100·(v₀ − v)/(v₀ − 1) if v₀ ≥ 1/0.9",
        "erank is scale-free: collapse leaves one direction (or none)",
        _erank_intra,
        paper_five=True,
    ),
    MetricInfo(
        "erank_inter",
        "inter-class erank",
        "effective rank of the covariance of the class means",
        "max",
        "K−1",
        "100·v/(K−1)",
        "K−1: reached only when the centred means form a simplex ETF",
        _rank_of_simplex,
        paper_five=True,
    ),
    MetricInfo(
        "erank_proto",
        "prototype erank",
        "effective rank of the covariance of the K unit prototypes",
        "max",
        "K−1",
        "100·v/(K−1)",
        "K−1: as inter-class erank, for the unit prototypes",
        _rank_of_simplex,
        needs_prototypes=True,
        paper_five=True,
    ),
    _lower(
        "align_proto_class",
        "prototype–class alignment",
        "mean ‖ŵ_c − μ̂_c‖² between unit prototypes and normalised class means",
        lambda k: 2.0,
        "2: prototypes orthogonal to the class means (range [0, 4])",
        needs_prototypes=True,
        paper_five=True,
    ),
    _lower(
        "align_proto_instance",
        "prototype–instance alignment",
        "mean ‖ŵ_y − u‖² between each unit feature and its class's unit prototype",
        lambda k: 2.0,
        "2: the same per instance (range [0, 4])",
        needs_prototypes=True,
        paper_five=True,
    ),
    MetricInfo(
        "mir",
        "MIR (companion)",
        "matrix mutual-information ratio of the prototype and class-mean Grams",
        "max",
        "m*(K)",
        "100·(1 − |v − m*|/B)",
        "m*(K) is mir of two simplex-ETF Grams (0.952 at K = 10); B = max(m*, 1 − m*)",
        _mir,
        needs_prototypes=True,
    ),
    _lower(
        "hdr",
        "HDR (companion)",
        "entropy-difference ratio of the prototype and class-mean Grams",
        lambda k: 1.0,
        "1: a ratio in [0, 1]",
        needs_prototypes=True,
    ),
)

_BY_NAME = {m.name: m for m in METRICS}

METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)

PROTOTYPE_METRICS: frozenset[str] = frozenset(m.name for m in METRICS if m.needs_prototypes)

#: "max" where a larger raw value is closer to collapse, "min" otherwise.
METRIC_DIRECTIONS: dict[str, str] = {m.name: m.direction for m in METRICS}

#: Choices of the Pareto objective's NC metric: ``mean`` over all, or one metric.
OBJECTIVE_NC_METRICS: tuple[str, ...] = ("mean", *_BY_NAME)


def metric_info(name: str) -> MetricInfo:
    """The descriptor of metric ``name``; KeyError lists the known names."""
    if name not in _BY_NAME:
        raise KeyError(f"unknown NC metric {name!r}; known: {', '.join(_BY_NAME)}")
    return _BY_NAME[name]


def paper_five() -> tuple[str, ...]:
    """The five metrics the paper reports, in table order."""
    return tuple(m.name for m in METRICS if m.paper_five)


def score_table() -> str:
    """The README's score table (Markdown), one row per metric, from the descriptors."""
    lines = [
        "| metric | docs/paper.md | meaning | better | collapse value | score (%) | default bound B and why |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in METRICS:
        better = "lower" if m.direction == "min" else "higher"
        cells = (m.name, m.paper, m.meaning, better, m.collapse, m.score_rule, m.bound)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
