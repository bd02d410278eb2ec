"""A stopped trial's run closed by the Tune callback, from a real MLflow store: KILLED with
``ncsweep.stopped_early`` at its last report, its actor's failure tag dropped; a trial that
said it was done or failed, or that never reported, is left to itself."""

from __future__ import annotations

from types import SimpleNamespace

from ncsweep.metric_keys import STATUS
from ncsweep.runtime.early_stops import StoppedRunCloser, closing_stopped
from ncsweep.runtime.trial_context import REPORT_TIME_MS, TrialContext
from ncsweep.tracking import (
    PARENT_TAG,
    TAG_FAILURE,
    TAG_KIND,
    TAG_SWEEP,
    TAG_TRIAL,
    ensure_experiment,
    open_store,
    start_run,
)
from ncsweep.train.core import STATUS_DONE


def _trial_run(uri: str, experiment: str, parent: str, key: str) -> str:
    tags = {TAG_SWEEP: "es", TAG_TRIAL: key, TAG_KIND: "train", PARENT_TAG: parent}
    return start_run(uri, experiment, key, tags, parent_run_id=parent)


def test_the_runs_of_stopped_trials_close_as_tune_stops_them(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = ensure_experiment(uri, "es")
    parent = start_run(uri, experiment, "sweep es", {TAG_SWEEP: "es", TAG_KIND: "sweep"})
    store = open_store(uri)
    runs = {key: _trial_run(uri, experiment, parent, key) for key in ("a", "b", "c")}
    store.set_tag(runs["a"], TAG_FAILURE, "SIGTERM")  # written as Tune ended its actor
    started = store.get_run(runs["a"]).start_ms
    context = TrialContext("es", TAG_SWEEP, uri, experiment, parent)
    stopped_at = started + 1234

    def trial(key: str, **last_result) -> SimpleNamespace:
        return SimpleNamespace(trial_id=key, config={}, last_result=last_result)

    callback = StoppedRunCloser()
    with closing_stopped(context, "asha"):
        callback.on_trial_complete(0, [], trial("a", **{REPORT_TIME_MS: stopped_at}))
        callback.on_trial_complete(0, [], trial("b", **{STATUS: STATUS_DONE}))
        callback.on_trial_complete(0, [], trial("c"))  # stopped before it reported
        callback.on_trial_complete(0, [], trial("gone", **{REPORT_TIME_MS: stopped_at}))
    # the closes run in a thread of their own; leaving the block waits for them
    a, b, c = (store.get_run(runs[key]) for key in "abc")
    assert (a.status, a.end_ms, a.tags["ncsweep.stopped_early"]) == ("KILLED", stopped_at, "asha")
    assert TAG_FAILURE not in a.tags
    assert b.status == c.status == "RUNNING"

    # outside a driver's block (a restored state's callback): nothing is touched
    callback.on_trial_complete(0, [], trial("c", **{REPORT_TIME_MS: stopped_at}))
    assert store.get_run(runs["c"]).status == "RUNNING"
