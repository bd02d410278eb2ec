"""Tune's restarts of a trial after an infrastructure failure, recorded on its MLflow run.

A trial whose node, worker or actor was lost is restarted by Tune from its last checkpoint
(``FailureConfig.max_failures``, ``runtime/failures.py``); the restarted trial re-attaches to
its MLflow run, so the run is counted once. :class:`RetryRecorder` (Tune's public
``on_trial_recover``) adds one to the run's ``ncsweep.retries`` tag each time, so the
leaderboard and the MLflow UI show which trials survived a lost node and how often.

The callback is pickled into Tune's experiment state with nothing in it (the tracking URI
may carry credentials): the driver running the sweep says where to record with
:func:`recording`, around ``Tuner.fit()``. The target is the calling thread's, as Tune
calls its callbacks in the thread that runs ``fit()`` (families run in parallel each
have their own).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray import tune

from ..tracking import TAG_RETRIES, find_run, open_store, set_tags
from .thread_target import ThreadTarget

__all__ = ["RetryRecorder", "recording"]

_log = logging.getLogger("ncsweep.sweep")


@dataclass
class _Target:
    uri: str
    experiment_id: str
    run_tags: Callable[[Any], dict[str, str]]  # Tune trial -> tags that find its MLflow run


_target: ThreadTarget[_Target] = ThreadTarget()  # this thread's Tune run's


def recording(
    uri: str, experiment_id: str, run_tags: Callable[[Any], dict[str, str]]
) -> contextlib.AbstractContextManager:
    """Record restarts in ``uri`` while the block runs; ``run_tags(trial)`` finds a trial's
    run from Tune's ``Trial`` (its ``trial_id`` and ``config``)."""
    return _target.setting(_Target(uri, experiment_id, run_tags))


class RetryRecorder(tune.Callback):
    """Counts each restart of a trial on its MLflow run (module docstring)."""

    def __getstate__(self) -> dict:
        return {}

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        target = _target.get()
        if target is None:
            return
        try:
            run_id = find_run(target.uri, target.experiment_id, target.run_tags(trial))
            if run_id is None:  # restarted before it opened its run
                return
            done = open_store(target.uri).get_run(run_id).tags.get(TAG_RETRIES, "0")
            set_tags(target.uri, run_id, {TAG_RETRIES: int(done) + 1})
        except Exception as err:  # bookkeeping: it must not stop the sweep
            _log.warning("could not record the restart of trial %s: %s", trial.trial_id, err)
