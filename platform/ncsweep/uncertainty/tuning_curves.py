"""Expected best validation score after n trials (tuning curves), against trials and cost.

Estimator: the closed form of Dodge et al. 2019, "Show Your Work", written here
rather than taken from ``opda`` (Lourie et al. 2023, the field library for tuning curves).
With N iid trial scores sorted ``v_(1) <= ... <= v_(N)``, the expected maximum of n draws
with replacement is

    E[max_n] = sum_i v_(i) * ((i / N)**n - ((i - 1) / N)**n),

which is what opda's ``EmpiricalDistribution.average_tuning_curve`` computes (the two agreed
to 2e-16 on 30 scores with ties, n = 1..60, maximising and minimising, checked against opda
0.8.0 once; tests/uncertainty checks it against Monte Carlo and by hand). Why not opda: the estimator is five lines of numpy; opda's
simultaneous bands for the *expected* maximum need finite bounds of the score's support
(they run to the bound otherwise), and its default band method simulates 100 000 draws in a
process pool per call, heavy on shared CPUs; and it would be a new dependency for one formula.

Band: a percentile bootstrap over the scores (resample the N trials with replacement,
recompute the curve, take quantiles at each n). It is pointwise, not simultaneous, and
optimistic at large n: a resample's maximum never exceeds the observed one, so near n = N the
band mostly says how many trials were run. For simultaneous bands with exact coverage use
opda's ``confidence_bands`` with known score bounds (e.g. accuracy in [0, 1]).

Cost: with trial costs c_j (GPU-hours, seconds), n iid trials cost n * mean(c) in
expectation (linearity, whatever the correlation of cost and score, e.g. under early
stopping), so the cost axis is ``x = n * mean(c)``. Plain numpy: no Ray, no MLflow, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .intervals import Seed, _finite

__all__ = ["TuningCurve", "expected_max", "tuning_curve"]


def _weights(ns: np.ndarray, size: int) -> np.ndarray:
    """Shape (len(ns), size): ``(i / N)**n - ((i - 1) / N)**n`` for i = 1..N."""
    cdf = np.arange(size + 1, dtype=np.float64) / size
    powers = cdf[None, :] ** ns[:, None]
    return np.diff(powers, axis=1)


def _ns(ns: ArrayLike | None, size: int) -> np.ndarray:
    counts = np.arange(1, size + 1) if ns is None else np.asarray(ns, dtype=np.float64).ravel()
    if counts.size == 0 or np.any(counts < 1):
        raise ValueError(f"ns must be trial counts >= 1, got {counts!r}")
    return counts.astype(np.float64)


def expected_max(
    scores: ArrayLike, ns: ArrayLike | None = None, higher_is_better: bool = True
) -> np.ndarray:
    """Expected best score after n iid trials (Dodge et al. 2019, closed form above).

    Args:
        scores: Shape (N,), one validation score per trial.
        ns: Trial counts (k,), each >= 1; default 1..N. Values above N extrapolate towards
            the observed best.
        higher_is_better: False gives the expected minimum (losses, NC steps).

    Returns:
        Shape (k,): E[max of n draws with replacement from ``scores``] for each n; n = 1 is
        the mean, large n tends to ``max(scores)``.
    """
    v = _finite(scores, "scores")
    sign = 1.0 if higher_is_better else -1.0
    return sign * (_weights(_ns(ns, v.size), v.size) @ np.sort(sign * v))


@dataclass(frozen=True)
class TuningCurve:
    """Expected best score against trials and cost, with a pointwise band.

    Attributes:
        trials: Shape (k,), trial counts n.
        expected: Shape (k,), expected best score after n trials.
        low: Shape (k,), lower end of the band.
        high: Shape (k,), upper end of the band.
        cost: Shape (k,), ``n * mean cost per trial``, or None without costs.
        confidence: Pointwise coverage the band aims at.
        method: How the band was made.
    """

    trials: np.ndarray
    expected: np.ndarray
    low: np.ndarray
    high: np.ndarray
    cost: np.ndarray | None
    confidence: float
    method: str

    def columns(self) -> dict[str, list[float]]:
        """Plain lists for plots and tables (JSON-ready): trials, expected, low, high and,
        with costs, cost."""
        out = {
            "trials": self.trials.tolist(),
            "expected": self.expected.tolist(),
            "low": self.low.tolist(),
            "high": self.high.tolist(),
        }
        if self.cost is not None:
            out["cost"] = self.cost.tolist()
        return out


def tuning_curve(
    scores: ArrayLike,
    costs: ArrayLike | None = None,
    ns: ArrayLike | None = None,
    higher_is_better: bool = True,
    confidence: float = 0.95,
    n_resamples: int = 999,
    seed: Seed = 0,
) -> TuningCurve:
    """Expected best score after n trials, with a percentile bootstrap band over the scores.

    Args:
        scores: Shape (N,), one validation score per trial (iid: trials of one search
            space from a sampler that does not adapt, e.g. random search).
        costs: None, one cost for every trial, or shape (N,) per-trial costs (GPU-hours);
            the cost axis is ``n * mean(costs)``.
        ns: Trial counts (k,), default 1..N.
        higher_is_better: False for an expected minimum.
        confidence: Pointwise coverage of the band.
        n_resamples: Bootstrap resamples B; the work is B x N x k.
        seed: Seed or ``np.random.Generator`` of the resampling.

    Returns:
        ``TuningCurve``; ``.columns()`` gives plain lists.
    """
    v = _finite(scores, "scores")
    trials = _ns(ns, v.size)
    sign = 1.0 if higher_is_better else -1.0
    weights = _weights(trials, v.size)
    expected = sign * (weights @ np.sort(sign * v))
    rng = np.random.default_rng(seed)
    resamples = rng.choice(sign * v, size=(n_resamples, v.size), replace=True)
    curves = sign * (np.sort(resamples, axis=1) @ weights.T)
    tail = (1.0 - confidence) / 2.0
    low, high = np.sort(np.quantile(curves, [tail, 1.0 - tail], axis=0), axis=0)
    cost = None
    if costs is not None:
        c = np.asarray(costs, dtype=np.float64)
        if c.ndim and c.shape != v.shape:
            raise ValueError(f"costs must be one number or one per score {v.shape}, got {c.shape}")
        c = _finite(np.broadcast_to(c, v.shape), "costs")
        cost = trials * float(np.mean(c))
    method = f"percentile bootstrap over the {v.size} scores, pointwise"
    return TuningCurve(trials, expected, low, high, cost, confidence, method)
