"""What a training run measures at its end, chosen by its caller: :func:`default_hooks`.

Every caller of ``train.core.fit`` (the Ray Train worker function, a sweep trial or study
cell training in its own process, a test) passes ``default_hooks(spec)`` among its hooks:

- :class:`~ncsweep.train.probes.ProbesHook` when the family trains probes
  (``LossInfo.probes``: SCL): the linear probes beside the class-mean prototypes, on every
  rank (data parallel);
- :class:`EvaluationSuitesHook` when ``eval.suites`` is set: the suites on the model in
  memory, on rank 0. Their numbers join the run's final metrics, so they reach MLflow
  (``eval/<suite>/<key>``) and Ray Tune like any metric and a sweep can optimise for them.
  Comparisons with a baseline need two runs and are made afterwards (``ncsweep evaluate``,
  which also stores the tables as artifacts; ``ncsweep study``).
"""

from __future__ import annotations

from typing import Any

from ..config import ExperimentSpec
from ..losses import loss_info
from ..train.core import RunHooks, TrainingCore
from ..train.probes import ProbesHook
from .report import flat_metrics
from .subject import live_subject
from .suites import run_suites

__all__ = ["EvaluationSuitesHook", "default_hooks"]


class EvaluationSuitesHook(RunHooks):
    """``{"eval/<suite>/<key>": value}`` for ``spec.eval.suites`` on the trained model
    (rank 0 only; the other ranks return nothing)."""

    def final_metrics(self, core: TrainingCore, metrics: dict[str, Any]) -> dict[str, Any]:
        if core.rank != 0:
            return {}
        spec, model = core.spec, core.nc_model
        was_training = model.training
        try:
            subject = live_subject(model, spec, core.bundle, core.device)
            results = run_suites(subject, list(spec.eval.suites), spec.eval.suite_options)
        finally:
            model.train(was_training)
        return flat_metrics(results)


def default_hooks(spec: ExperimentSpec) -> list[RunHooks]:
    """The end-of-run measurements ``spec`` asks for: probes (families that declare them),
    then ``eval.suites``. Callers put them among their own hooks (order does not matter:
    ``fit`` collects every hook's ``final_metrics`` before any ``on_evaluation``)."""
    hooks: list[RunHooks] = []
    if loss_info(spec.loss.name).probes:
        hooks.append(ProbesHook())
    if spec.eval.suites:
        hooks.append(EvaluationSuitesHook())
    return hooks
