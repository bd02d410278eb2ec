"""``eval.suites`` at the end of a training run (``train.core.TrainingCore.evaluate`` calls
this on rank 0 at the final evaluation).

The suites run on the model in memory; their numbers join the run's final metrics, so they
reach MLflow (``eval/<suite>/<key>``) and Ray Tune like any metric and a sweep can optimise
for them. Comparisons with a baseline need two runs and are made afterwards
(``ncsweep evaluate``, which also stores the tables as artifacts; ``ncsweep study``).
"""

from __future__ import annotations

from ..config import ExperimentSpec
from .report import flat_metrics
from .runner import run_suites
from .subject import live_subject

__all__ = ["evaluate_at_end"]


def evaluate_at_end(model, spec: ExperimentSpec, bundle, device) -> dict[str, float]:
    """``{"eval/<suite>/<key>": value}`` for ``spec.eval.suites`` on the trained ``model``."""
    was_training = model.training
    try:
        subject = live_subject(model, spec, bundle, device)
        results = run_suites(subject, list(spec.eval.suites), spec.eval.suite_options)
    finally:
        model.train(was_training)
    return flat_metrics(results)
