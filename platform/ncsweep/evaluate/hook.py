"""``eval.suites`` at the end of a training run (called by rank 0 of ``train.loop``).

The suites run on the model in memory; their numbers join the run's final metrics (so
Ray Tune sees them and a sweep can optimise for ``eval/<suite>/<key>``) and their tables
are stored as ``eval/<suite>.json``/``.md`` artifacts. Comparisons with a baseline need two
runs and are made afterwards (``ncsweep evaluate``, ``ncsweep study``).
"""

from __future__ import annotations

import json

from ..config import ExperimentSpec
from .report import flat_metrics, markdown_table
from .runner import run_suites
from .subject import live_subject

__all__ = ["evaluate_at_end"]


def evaluate_at_end(
    model, spec: ExperimentSpec, bundle, device, tracking: dict | None
) -> dict[str, float]:
    """``{"eval/<suite>/<key>": value}`` for ``spec.eval.suites`` on the trained ``model``."""
    was_training = model.training
    try:
        subject = live_subject(model, spec, bundle, device)
        results = run_suites(subject, list(spec.eval.suites), spec.eval.suite_options)
    finally:
        model.train(was_training)
    if tracking:
        from ..tracking import log_text, set_tags

        for suite, result in results.items():
            payload = {"suite": suite, "metrics": result.metrics, "rows": result.rows}
            log_text(
                tracking["uri"],
                tracking["run_id"],
                json.dumps(payload, indent=2, default=str),
                f"eval/{suite}.json",
            )
            log_text(
                tracking["uri"], tracking["run_id"], markdown_table(result.rows), f"eval/{suite}.md"
            )
        set_tags(tracking["uri"], tracking["run_id"], {"ncsweep.eval.suites": ",".join(results)})
    return flat_metrics(results)
