"""What rank 0 writes to MLflow (SQLite store, in-process): every evaluation exactly once,
also for a run restored from a checkpoint whose evaluation never reached MLflow; against a
tracking server that is gone, the run fails after one write's retries."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

from ncsweep.config import load_spec
from ncsweep.runtime.mlflow_hooks import MlflowHooks
from ncsweep.runtime.trainer import open_run
from ncsweep.train import RunHooks, TrainingCore, fit
from ncsweep.train.checkpoint import save_state
from services import dropping_port


def _steps(uri: str, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in MlflowClient(uri).get_metric_history(run_id, key))


def test_every_evaluation_lands_once_even_when_the_checkpointed_one_was_lost(tmp_path):
    spec = load_spec(
        None,
        ["loss.name=ce", "data.name=digits", "run.epochs=3", "run.max_steps=20"]
        + ["eval.eval_every=5"]
        + ["eval.val_nc=false", "run.log_every=5"],
    )
    tracking = open_run(spec, "hooks", f"sqlite:///{tmp_path}/mlflow.db")

    class KilledAfterCheckpoint(RunHooks):
        def on_evaluation(self, core, metrics, checkpoint):
            if core.step == 10:  # checkpoint written, then the process dies before MLflow
                save_state(tmp_path, core.state_dict())
                raise KeyboardInterrupt

    hooks = MlflowHooks(tracking)
    with pytest.raises(KeyboardInterrupt):
        fit(TrainingCore(spec), [KilledAfterCheckpoint(), hooks])
    hooks.close()
    uri, run_id = tracking["uri"], tracking["run_id"]
    assert _steps(uri, run_id, "val/acc1") == [0, 5]

    resumed = TrainingCore.from_checkpoint(spec, tmp_path)
    result = fit(resumed, [MlflowHooks(tracking)], resumed=True)
    assert result.status == "done"
    assert _steps(uri, run_id, "val/acc1") == list(range(0, resumed.total_steps + 1, 5))
    assert _steps(uri, run_id, "resumed_from_step") == [10]
    assert len(_steps(uri, run_id, "train/loss")) >= 3


def test_a_resume_from_an_older_checkpoint_logs_nothing_twice(tmp_path):
    # checkpoints every 10 steps, evaluations every 5: the run dies after the evaluation at
    # step 15 (landed, not checkpointed) and resumes from step 10, training 10-15 again
    spec = load_spec(
        None,
        ["loss.name=ce", "data.name=digits", "run.epochs=4", "run.max_steps=30"]
        + ["eval.eval_every=5"]
        + ["run.checkpoint_every=10", "eval.val_nc=false", "run.log_every=5"],
    )
    tracking = open_run(spec, "older-checkpoint", f"sqlite:///{tmp_path}/mlflow.db")
    flags = {}

    class KilledAfterStep15(RunHooks):
        def on_evaluation(self, core, metrics, checkpoint):
            flags[core.step] = checkpoint
            if checkpoint:
                save_state(tmp_path, core.state_dict())
            if core.step == 15:  # after MLflowHooks queued it
                raise KeyboardInterrupt

    hooks = MlflowHooks(tracking)
    with pytest.raises(KeyboardInterrupt):
        fit(TrainingCore(spec), [hooks, KilledAfterStep15()])
    hooks.close()
    assert flags == {0: False, 5: False, 10: True, 15: False}
    uri, run_id = tracking["uri"], tracking["run_id"]
    assert _steps(uri, run_id, "val/acc1") == [0, 5, 10, 15]

    resumed = TrainingCore.from_checkpoint(spec, tmp_path)
    assert resumed.step == 10
    result = fit(resumed, [MlflowHooks(tracking)], resumed=True)
    assert result.status == "done"
    total = resumed.total_steps
    assert _steps(uri, run_id, "val/acc1") == list(range(0, total + 1, 5))
    assert _steps(uri, run_id, "train/loss") == list(range(5, total + 1, 5))


def test_a_gone_tracking_server_fails_the_run_after_one_writes_retries(monkeypatch):
    # every connection is dropped unanswered; MLflow tries each request twice
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    with dropping_port() as (port, attempts):
        hooks = MlflowHooks({"uri": f"http://127.0.0.1:{port}", "run_id": "0" * 32})
        with pytest.raises(Exception, match="127.0.0.1"):  # noqa: PT011 - MLflow's own type
            for step in range(1, 21):  # evaluations queue faster than a write fails
                hooks.on_evaluation(SimpleNamespace(step=step), {"val/acc1": 0.5}, False)
            hooks.close()
    assert len(attempts) == 2  # the first write's two tries; the 19 queued behind it: none
