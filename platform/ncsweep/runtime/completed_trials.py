"""What Tune alone knows of a trial, written to its MLflow run as Tune completes the trial,
not when ``fit()`` returns.

- A trial its scheduler stopped (ASHA, Hyperband, BOHB): Tune ends its actor, so the trial
  cannot close its own run; the run becomes KILLED with ``ncsweep.stopped_early``.
- A trial that trained in its own process checkpoints through Tune: the run gets its last
  checkpoint's location (tag ``ncsweep.checkpoint`` and ``checkpoint_location.txt``), which
  export, confirmation, retention and ``ncsweep evaluate`` read.

Both were written after ``fit()`` (``tuning.reconcile_runs``), one trial at a time: at the
end of a 5,000-trial simulated sweep that took minutes of requests while the user waited,
and meanwhile the MLflow UI showed every stopped trial as running. :class:`TrialRecorder`
(Tune's public ``on_trial_complete``) writes them as each trial completes, in a thread of
the driver's so Tune's loop does not wait on MLflow; ``reconcile_runs`` still checks every
run after ``fit()`` and writes only what is missing.

As with ``retries.RetryRecorder``, the callback is pickled into Tune's experiment state
with nothing in it; the driver says which runs it writes to with :func:`recording`
around ``Tuner.fit()``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ray import tune

from ..metric_keys import STATUS
from ..status import RunState
from ..tracking import (
    PARENT_TAG,
    TAG_CHECKPOINT,
    TAG_FAILURE,
    TAG_KIND,
    TAG_STOPPED_EARLY,
    RunRecord,
    TrackingStore,
    finish_run,
    log_text,
    open_store,
)
from ..train.core import STATUS_DONE, STATUS_FAILED
from .thread_target import ThreadTarget
from .trial_context import REPORT_TIME_MS, TrialContext

__all__ = [
    "TrialRecorder",
    "close_stopped",
    "record_checkpoint",
    "recording",
    "stopped_early",
]

_log = logging.getLogger("ncsweep.sweep")


def close_stopped(
    store: TrackingStore, uri: str, run: RunRecord, metrics: dict[str, Any], stopped_by: str
) -> bool:
    """Give ``run`` the verdict of a trial ``stopped_by`` stopped: KILLED, tagged
    ``ncsweep.stopped_early``, ended at its last report (``metrics``, its last result);
    nothing for a run that finished or has that verdict already. Whether it wrote."""
    stopped = run.status == RunState.KILLED and TAG_STOPPED_EARLY in run.tags
    if run.status == RunState.FINISHED or stopped:
        return False
    if TAG_FAILURE in run.tags:  # left by the actor's death, which is not the trial's failure
        store.delete_tag(run.run_id, TAG_FAILURE)
    # Ended at its last result (the trial's own time in ms), not when Tune ended its actor.
    ended_ms = metrics.get(REPORT_TIME_MS)
    ended = ended_ms / 1000 if ended_ms is not None else metrics.get("timestamp")
    finish_run(
        uri,
        run.run_id,
        RunState.KILLED,
        end_time_s=ended,
        tags={TAG_STOPPED_EARLY: stopped_by},
        start_ms=run.start_ms,
    )
    return True


def record_checkpoint(store: TrackingStore, uri: str, run: RunRecord, path: str) -> bool:
    """Tag ``run`` with its Tune checkpoint ``path`` unless it has one. Whether it wrote."""
    if TAG_CHECKPOINT in run.tags:
        return False
    store.set_tag(run.run_id, TAG_CHECKPOINT, path)
    log_text(uri, run.run_id, path + "\n", "checkpoint_location.txt")
    return True


def stopped_early(metrics: dict[str, Any]) -> bool:
    """Whether a trial whose last result is ``metrics`` ended before it said it was done
    or failed (and after it reported at all)."""
    return bool(metrics) and metrics.get(STATUS) not in (STATUS_DONE, STATUS_FAILED)


@dataclass
class _Target:
    context: TrialContext
    stopped_by: str
    writing: ThreadPoolExecutor

    def write(
        self, trial_id: str, config: dict[str, Any], metrics: dict[str, Any], checkpoint: str
    ) -> None:
        context, uri = self.context, self.context.tracking_uri
        tags = {
            **context.run_tags(context.key(trial_id, config)),
            PARENT_TAG: context.parent_run_id,
            TAG_KIND: "train",
        }
        try:
            store = open_store(uri)
            runs = store.search_runs(
                context.experiment_id, tags, descending_by="start_time", max_results=1
            )
            if not runs:  # completed before it opened its run
                return
            if checkpoint:
                record_checkpoint(store, uri, runs[0], checkpoint)
            if stopped_early(metrics):
                close_stopped(store, uri, runs[0], metrics, self.stopped_by)
        except Exception as err:  # reconcile_runs writes it after fit()
            _log.warning("could not record completed trial %s: %s", trial_id, err)


_target: ThreadTarget[_Target] = ThreadTarget()  # this thread's Tune run's


@contextlib.contextmanager
def recording(context: TrialContext, stopped_by: str) -> Iterator[None]:
    """Write completed trials' runs while the block runs (a stopped one's verdict names
    ``stopped_by``); on leaving it, wait until the writes asked for are done."""
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="completed-trials") as writing,
        _target.setting(_Target(context, stopped_by, writing)),
    ):
        yield


class TrialRecorder(tune.Callback):
    """Writes a completed trial's verdict and checkpoint to its run (module docstring)."""

    def __getstate__(self) -> dict:
        return {}

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        target = _target.get()
        if target is None:
            return
        metrics = dict(trial.last_result or {})
        checkpoint = trial.checkpoint.path if trial.checkpoint is not None else ""
        if checkpoint or stopped_early(metrics):
            target.writing.submit(
                target.write, trial.trial_id, dict(trial.config), metrics, checkpoint
            )
