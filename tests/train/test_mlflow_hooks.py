"""What rank 0 writes to MLflow (SQLite store, in-process): every evaluation exactly once,
also for a run restored from a checkpoint whose evaluation never reached MLflow."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from ncsweep.config import load_spec
from ncsweep.train import RunHooks, TrainingCore, fit
from ncsweep.train.checkpoint import save_state
from ncsweep.train.mlflow_hooks import MlflowHooks
from ncsweep.train.trainer import open_run


def _steps(uri: str, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in MlflowClient(uri).get_metric_history(run_id, key))


def test_every_evaluation_lands_once_even_when_the_checkpointed_one_was_lost(tmp_path):
    spec = load_spec(
        None,
        ["loss.name=ce", "data.name=digits", "run.epochs=2", "eval.eval_every=5"]
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
