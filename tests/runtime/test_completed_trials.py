"""A completed trial's run written by the Tune callback, from a real MLflow store: a stopped
trial's KILLED with ``ncsweep.stopped_early`` at its last report, its actor's failure tag
dropped; a trial that said it was done, or that never reported, left running; every one
with a Tune checkpoint tagged with its location, once."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from ncsweep.metric_keys import STATUS
from ncsweep.runtime.completed_trials import TrialRecorder, recording
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

    def trial(key: str, checkpoint: str | None = None, **last_result) -> SimpleNamespace:
        saved = SimpleNamespace(path=checkpoint) if checkpoint else None
        return SimpleNamespace(trial_id=key, config={}, last_result=last_result, checkpoint=saved)

    callback = TrialRecorder()
    with recording(context, "asha"):
        callback.on_trial_complete(0, [], trial("a", **{REPORT_TIME_MS: stopped_at}))
        callback.on_trial_complete(0, [], trial("b", "/ckpt/b/2", **{STATUS: STATUS_DONE}))
        callback.on_trial_complete(0, [], trial("c"))  # stopped before it reported
        callback.on_trial_complete(0, [], trial("gone", **{REPORT_TIME_MS: stopped_at}))
    # the closes run in a thread of their own; leaving the block waits for them
    a, b, c = (store.get_run(runs[key]) for key in "abc")
    assert (a.status, a.end_ms, a.tags["ncsweep.stopped_early"]) == ("KILLED", stopped_at, "asha")
    assert TAG_FAILURE not in a.tags
    assert b.status == c.status == "RUNNING"
    assert b.tags["ncsweep.checkpoint"] == "/ckpt/b/2" and "ncsweep.checkpoint" not in a.tags
    fetched = store.download_artifact(runs["b"], "checkpoint_location.txt", str(tmp_path))
    assert Path(fetched).read_text() == "/ckpt/b/2\n"
    with recording(context, "asha"):  # a tag already there is left as it is
        callback.on_trial_complete(0, [], trial("b", "/ckpt/b/9", **{STATUS: STATUS_DONE}))
    assert store.get_run(runs["b"]).tags["ncsweep.checkpoint"] == "/ckpt/b/2"

    # outside a driver's block (a restored state's callback): nothing is touched
    callback.on_trial_complete(0, [], trial("c", **{REPORT_TIME_MS: stopped_at}))
    assert store.get_run(runs["c"]).status == "RUNNING"
