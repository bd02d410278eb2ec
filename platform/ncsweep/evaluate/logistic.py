"""Linear evaluation for transfer: multinomial logistic regression on frozen features.

L-BFGS (scikit-learn) on standardised features; the inverse regularisation C is chosen on a
stratified held-out split of the TRAINING features (never on the test set), then the probe
is refit on all training features with that C. Scored as top-1 or mean per-class accuracy
(the downstream datasets that report the latter: ``data.transfer.MEAN_PER_CLASS``).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["C_GRID", "LinearProbe", "linear_probe", "mean_per_class_accuracy"]

C_GRID = (0.01, 0.1, 1.0, 10.0)


def mean_per_class_accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the classes present in ``labels`` of their accuracy."""
    classes = np.unique(labels)
    return float(np.mean([(pred[labels == c] == c).mean() for c in classes]))


def _score(pred: np.ndarray, labels: np.ndarray, mean_per_class: bool) -> float:
    pred, labels = np.asarray(pred), np.asarray(labels)
    return (
        mean_per_class_accuracy(pred, labels) if mean_per_class else float((pred == labels).mean())
    )


@dataclass
class LinearProbe:
    """A fitted probe: test score, the chosen C, held-out score per C, fit time (s)."""

    accuracy: float
    C: float
    holdout_scores: dict[float, float]
    seconds: float


def linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    c_grid: tuple[float, ...] = C_GRID,
    holdout: float = 0.2,
    seed: int = 0,
    max_iter: int = 500,
    mean_per_class: bool = False,
) -> LinearProbe:
    """Multinomial logistic regression with C chosen on a held-out part of the training set.

    Shapes: ``train_x`` N×D, ``train_y`` N, ``test_x`` M×D, ``test_y`` M. The test arrays are
    used once, to score the refitted probe.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    train_x, test_x = np.asarray(train_x, dtype=np.float64), np.asarray(test_x, dtype=np.float64)
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)

    # scikit-learn is untyped: its fitted pipeline is Any
    def fit(x: np.ndarray, y: np.ndarray, c: float) -> Any:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings at tiny C are expected
            return model.fit(x, y)

    counts = np.bincount(train_y)
    stratify = train_y if counts[counts > 0].min() >= 2 else None
    fit_x, hold_x, fit_y, hold_y = train_test_split(
        train_x, train_y, test_size=holdout, random_state=seed, stratify=stratify
    )
    scores = {
        float(c): _score(fit(fit_x, fit_y, c).predict(hold_x), hold_y, mean_per_class)
        for c in c_grid
    }
    best = max(scores, key=lambda c: (scores[c], -abs(np.log10(c))))
    final = fit(train_x, train_y, best)
    accuracy = _score(final.predict(test_x), test_y, mean_per_class)
    return LinearProbe(accuracy, best, scores, time.perf_counter() - start)
