"""MLflow logging of a run (rank 0 only): what the core measured, nothing it decides.

Metrics go to the run the driver opened, against the optimizer step; ``train/loss`` is
buffered (a synchronous write every few steps halves a small model's speed) and written at
each evaluation or when 10 s old. Writes happen on one background thread, in order, so an
evaluation's ~70 metrics (tens of ms against SQLite or a server) overlap the next steps
instead of stalling them; ``on_end`` waits for all of them. A run restored from a checkpoint
logs that checkpoint's evaluation again if its write had not landed (killed mid-write), and
skips the evaluations and loss windows it trains again that had landed before the failure
(a checkpoint older than the last evaluation: ``run.checkpoint_every``), so the history has
every evaluation exactly once. The outcome (FINISHED/FAILED and the reason)
is recorded by whoever closes the run from Ray's result, not here.

A tracking server that goes away is waited for by MLflow's own retries (``tracking/runs.py``
says how long); queued writes wait behind the one retrying, so nothing is lost. Once a write
has failed even so, the ones queued behind it fail at once instead of each waiting out the
retries again (a hundred queued evaluations would hold a trial for hours), and the run
fails with that error.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor

from .. import metric_keys as keys
from ..tracking import MetricLogger, log_params, log_text, open_store
from ..train.core import RunHooks, RunResult, TrainingCore
from ..train.streaming import train_size

__all__ = ["MlflowHooks"]

_PROBE = keys.VAL_ACC1  # every evaluation logs it: its history says which evaluations landed
_LOSS = keys.TRAIN_LOSS  # every loss window logs it


class MlflowHooks(RunHooks):
    """Logs to ``tracking = {"uri", "run_id"}`` from the process that holds rank 0."""

    def __init__(self, tracking: dict[str, str]):
        self.uri, self.run_id = tracking["uri"], tracking["run_id"]
        self.logger = MetricLogger(self.uri, self.run_id)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ncsweep-mlflow")
        self._last: Future | None = None
        self._failed: Exception | None = None  # the write that failed after MLflow's retries
        self._landed_steps: dict[str, set[int]] = {}  # resumed: steps already in the history

    def _submit(self, fn, *args, **kwargs) -> None:
        if self._last is not None and self._last.done():
            self._last.result()  # a failed write surfaces here, not silently
        self._last = self._writer.submit(self._write, fn, *args, **kwargs)

    def _write(self, fn, *args, **kwargs) -> None:
        if self._failed is not None:
            raise self._failed
        try:
            fn(*args, **kwargs)
        except Exception as err:
            self._failed = err
            raise

    def on_start(self, core: TrainingCore, resumed: bool) -> None:
        if resumed:  # visible in MLflow: restarted (worker failure or resumed sweep)
            restored = core.last_metrics  # the latest evaluation (maybe before core.step)
            step = int(restored.get("step", core.step))
            store = open_store(self.uri)
            self._landed_steps = {
                key: {step for step, _ in store.metric_history(self.run_id, key)}
                for key in (_PROBE, _LOSS)
            }
            if _PROBE in restored and step not in self._landed_steps[_PROBE]:
                self.logger.log(restored, step=step)
            self.logger.log({"resumed_from_step": float(core.step)}, step=core.step)
        elif core.step == 0:  # training-set size and per-class counts (long-tail profile)
            counts = json.dumps(list(core.bundle.class_counts))
            log_params(
                self.uri,
                self.run_id,
                {"data.train_size": train_size(core.bundle.train), "data.class_counts": counts},
            )
            log_text(self.uri, self.run_id, counts, "class_counts.json")  # params cap at 6,000

    def _landed(self, key: str, step: int) -> bool:
        return step in self._landed_steps.get(key, ())

    def on_train_metrics(self, core: TrainingCore, metrics: dict[str, float]) -> None:
        if not self._landed(_LOSS, core.step):
            self._submit(self.logger.log, dict(metrics), step=core.step, flush=None)

    def on_evaluation(self, core: TrainingCore, metrics, checkpoint: bool) -> None:
        if not self._landed(_PROBE, core.step):
            self._submit(self.logger.log, dict(metrics), step=core.step)

    def on_end(self, core: TrainingCore, result: RunResult) -> None:
        self.close()

    def close(self) -> None:
        """Wait for every queued write, then write what is still buffered."""
        self._writer.shutdown(wait=True)
        if self._last is not None:
            self._last.result()
        self.logger.flush()
