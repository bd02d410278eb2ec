"""Suite ``probes``: on frozen features, the class-mean classifier against two linear probes.

For every family (not only SCL), on the encoder features z of the whole un-augmented
training set, scored on the validation set:

- ``prototypes``: class means of the unit features the loss saw (SCL: projection output),
  normalised; predict ``argmax_c μ̂_c·u`` (PAPER.md, "fixed prototypes"). No training.
- ``probe``: multinomial logistic regression (L-BFGS, scikit-learn) on standardised z; the
  inverse regularisation C is chosen on a stratified held-out split of the TRAINING features
  (never on the test set), then the probe is refit on all training features with that C.
- ``normprobe``: unit z, unit-norm rows, NormFace at temperature τ (the family's declared
  probe temperature, ``LossInfo.normprobe_temperature``: its own temperature unless it
  declares another), fitted full-batch with L-BFGS.

Metrics: ``acc/<head>``, ``time_s/<head>`` and ``probe_C`` (the chosen C).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ._registry import SuiteKey, SuiteResult, register_suite
from .subject import Subject, class_mean_prototypes

__all__ = [
    "C_GRID",
    "LinearProbe",
    "class_mean_accuracy",
    "linear_probe",
    "normalized_probe",
    "mean_per_class_accuracy",
]

C_GRID = (0.01, 0.1, 1.0, 10.0)


def mean_per_class_accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the classes present in ``labels`` of their accuracy."""
    classes = np.unique(labels)
    return float(np.mean([(pred[labels == c] == c).mean() for c in classes]))


def _score(pred, labels, mean_per_class: bool) -> float:
    pred, labels = np.asarray(pred), np.asarray(labels)
    return (
        mean_per_class_accuracy(pred, labels) if mean_per_class else float((pred == labels).mean())
    )


def class_mean_accuracy(
    train_u: torch.Tensor,
    train_y: torch.Tensor,
    test_u: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int,
) -> float:
    """Accuracy of ``argmax_c μ̂_c·u`` with μ̂ the normalised class means of unit train features."""
    means = class_mean_prototypes(train_u, train_y, num_classes)
    pred = (F.normalize(test_u.float(), dim=1) @ means.T).argmax(1)
    return float((pred == test_y).float().mean())


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

    def fit(x, y, c):
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


def normalized_probe(
    train_z: torch.Tensor,
    train_y: torch.Tensor,
    test_z: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int,
    *,
    temperature: float = 0.1,
    steps: int = 100,
    seed: int = 0,
) -> tuple[float, float]:
    """NormFace probe on unit features with unit-norm rows; returns (accuracy, seconds)."""
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    u = F.normalize(train_z.float(), dim=1)
    weight = (
        torch.randn(num_classes, u.shape[1], generator=generator).mul_(0.01).requires_grad_(True)
    )
    optimizer = torch.optim.LBFGS([weight], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(u @ F.normalize(weight, dim=1).T / temperature, train_y)
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        pred = (F.normalize(test_z.float(), dim=1) @ F.normalize(weight, dim=1).T).argmax(1)
    return float((pred == test_y).float().mean()), time.perf_counter() - start


def _temperature(subject: Subject) -> float:
    """The normalised probe's τ, as the loss registry declares it for the run's family."""
    from ..losses import loss_info

    options = subject.spec.loss.model_dump(exclude={"name", "module"})
    return loss_info(subject.spec.loss.name).normprobe_temperature(options)


HEADS = ("prototypes", "probe", "normprobe")

KEYS = (
    SuiteKey("acc/<head>", "max", "validation accuracy of the head", {"head": HEADS}),
    SuiteKey("time_s/<head>", "min", "seconds to fit the head", {"head": HEADS}),
    SuiteKey("probe_C", None, "inverse regularisation chosen on held-out training features"),
    SuiteKey("prototypes_minus_probe", "max", "class-mean classifier minus linear probe (points)"),
)


@register_suite("probes", keys=KEYS)
def run_probes(
    subject: Subject,
    *,
    c_grid: tuple[float, ...] = C_GRID,
    holdout: float = 0.2,
    max_iter: int = 500,
    normprobe_steps: int = 50,
) -> SuiteResult:
    """Class-mean prototypes vs a linear probe vs a normalised linear probe, frozen encoder."""
    seed = subject.spec.run.seed
    k = subject.bundle.num_classes
    train_z, train_y = subject.encode(subject.bundle.train_eval, "train")
    test_z, test_y = subject.encode(subject.bundle.val, "val")

    start = time.perf_counter()
    proto = class_mean_accuracy(subject.embed(train_z), train_y, subject.embed(test_z), test_y, k)
    proto_s = time.perf_counter() - start
    probe = linear_probe(
        train_z.numpy(),
        train_y.numpy(),
        test_z.numpy(),
        test_y.numpy(),
        c_grid=tuple(c_grid),
        holdout=holdout,
        seed=seed,
        max_iter=max_iter,
    )
    norm_acc, norm_s = normalized_probe(
        train_z,
        train_y,
        test_z,
        test_y,
        k,
        temperature=_temperature(subject),
        steps=normprobe_steps,
        seed=seed,
    )
    metrics = {
        "acc/prototypes": proto,
        "acc/probe": probe.accuracy,
        "acc/normprobe": norm_acc,
        "time_s/prototypes": proto_s,
        "time_s/probe": probe.seconds,
        "time_s/normprobe": norm_s,
        "probe_C": probe.C,
        "prototypes_minus_probe": 100 * (proto - probe.accuracy),
    }
    rows = [
        {
            "head": "prototypes (class means)",
            "accuracy": proto,
            "seconds": proto_s,
            "note": "no training",
        },
        {
            "head": "linear probe",
            "accuracy": probe.accuracy,
            "seconds": probe.seconds,
            "note": f"C={probe.C:g} (held-out train)",
        },
        {
            "head": "normalised probe",
            "accuracy": norm_acc,
            "seconds": norm_s,
            "note": f"NormFace τ={_temperature(subject):g}",
        },
    ]
    return SuiteResult(metrics, rows)
