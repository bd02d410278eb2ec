"""MLflow logging of a run (rank 0 only): what the core measured, nothing it decides.

Metrics go to the run the driver opened, against the optimizer step; ``train/loss`` is
buffered (a synchronous write every few steps halves a small model's speed) and written at
each evaluation or when 10 s old. The outcome (FINISHED/FAILED and the reason) is recorded
by whoever closes the run from Ray's result, not here.
"""

from __future__ import annotations

import json

from ..tracking import MetricLogger, log_params, log_text
from .core import RunHooks, RunResult, TrainingCore

__all__ = ["MlflowHooks"]


class MlflowHooks(RunHooks):
    """Logs to ``tracking = {"uri", "run_id"}`` from the process that holds rank 0."""

    def __init__(self, tracking: dict[str, str]):
        self.uri, self.run_id = tracking["uri"], tracking["run_id"]
        self.logger = MetricLogger(self.uri, self.run_id)

    def on_start(self, core: TrainingCore, resumed: bool) -> None:
        if resumed:  # visible in MLflow: restarted (worker failure or resumed sweep)
            self.logger.log({"resumed_from_step": float(core.step)}, step=core.step)
        elif core.step == 0:  # training-set size and per-class counts (long-tail profile)
            counts = json.dumps(list(core.bundle.class_counts))
            log_params(
                self.uri,
                self.run_id,
                {"data.train_size": len(core.bundle.train), "data.class_counts": counts},
            )
            log_text(self.uri, self.run_id, counts, "class_counts.json")  # params cap at 6,000

    def on_train_metrics(self, core: TrainingCore, metrics: dict[str, float]) -> None:
        self.logger.log(metrics, step=core.step, flush=None)

    def on_evaluation(self, core: TrainingCore, metrics, checkpoint: bool) -> None:
        self.logger.log(metrics, step=core.step)

    def on_end(self, core: TrainingCore, result: RunResult) -> None:
        self.logger.flush()
