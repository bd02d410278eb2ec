"""A trial its scheduler stopped (ASHA, Hyperband, BOHB) gets its MLflow verdict when Tune
stops it, not when ``fit()`` returns.

Tune ends a stopped trial's actor; the trial cannot close its own run, which stayed
RUNNING until the driver gave every run its verdict after ``fit()`` (``tuning.
reconcile_runs``): in a 5,000-trial sweep, thousands of runs the scheduler had stopped an
hour before showed as running in the MLflow UI, and were all written to at the end.
:class:`StoppedRunCloser` (Tune's public ``on_trial_complete``) closes such a run at once,
in a thread of the driver's so Tune's loop does not wait on MLflow;
``reconcile_runs`` still checks every run after ``fit()`` and writes only what is missing.

As with ``retries.RetryRecorder``, the callback is pickled into Tune's experiment state
with nothing in it; the driver says which runs it closes with :func:`closing_stopped`
around ``Tuner.fit()`` (per thread: families fitted at once each have their own).
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
    TAG_FAILURE,
    TAG_KIND,
    RunRecord,
    TrackingStore,
    finish_run,
    open_store,
)
from ..train.core import STATUS_DONE, STATUS_FAILED
from .thread_target import ThreadTarget
from .trial_context import REPORT_TIME_MS, TrialContext

__all__ = ["TAG_STOPPED_EARLY", "StoppedRunCloser", "close_stopped", "closing_stopped"]

TAG_STOPPED_EARLY = "ncsweep.stopped_early"  # value: the scheduler that stopped the trial

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


def stopped_early(metrics: dict[str, Any]) -> bool:
    """Whether a trial whose last result is ``metrics`` ended before it said it was done
    or failed (and after it reported at all)."""
    return bool(metrics) and metrics.get(STATUS) not in (STATUS_DONE, STATUS_FAILED)


@dataclass
class _Target:
    context: TrialContext
    stopped_by: str
    closing: ThreadPoolExecutor

    def close(self, trial_id: str, config: dict[str, Any], metrics: dict[str, Any]) -> None:
        context = self.context
        tags = {
            **context.run_tags(context.key(trial_id, config)),
            PARENT_TAG: context.parent_run_id,
            TAG_KIND: "train",
        }
        try:
            store = open_store(context.tracking_uri)
            runs = store.search_runs(
                context.experiment_id, tags, descending_by="start_time", max_results=1
            )
            if runs:  # none: stopped before it opened its run
                close_stopped(store, context.tracking_uri, runs[0], metrics, self.stopped_by)
        except Exception as err:  # reconcile_runs closes it after fit()
            _log.warning("could not close the run of stopped trial %s: %s", trial_id, err)


_target: ThreadTarget[_Target] = ThreadTarget()  # this thread's Tune run's


@contextlib.contextmanager
def closing_stopped(context: TrialContext, stopped_by: str) -> Iterator[None]:
    """Close the runs of trials ``stopped_by`` stops while the block runs; on leaving it,
    wait until the closes asked for are done."""
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="close-stopped") as closing,
        _target.setting(_Target(context, stopped_by, closing)),
    ):
        yield


class StoppedRunCloser(tune.Callback):
    """Closes a stopped trial's run when Tune completes the trial (module docstring)."""

    def __getstate__(self) -> dict:
        return {}

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        target = _target.get()
        metrics = dict(trial.last_result or {})
        if target is not None and stopped_early(metrics):
            target.closing.submit(target.close, trial.trial_id, dict(trial.config), metrics)
