"""Where a trial trains: a one-worker CPU trial in its own Tune process, a two-worker trial
on Ray Train (DDP) behind the same trainable; both record the same things in MLflow."""

from __future__ import annotations

from mlflow.tracking import MlflowClient
from rich.console import Console

from ncsweep.config import load_spec
from ncsweep.runtime.trial import runs_in_trial, trial_resources
from ncsweep.sweep import SweepConfig, collect_rows, run_sweep
from ncsweep.sweep.confirm_stage import confirmation_runs


def test_trial_path_follows_workers_and_gpus():
    one = load_spec(None, ["run.workers=1"])
    assert runs_in_trial(one) and trial_resources(one) == {"cpu": 1.0}
    for sets in (["run.workers=2"], ["run.gpus_per_worker=1"]):
        spec = load_spec(None, sets)
        assert not runs_in_trial(spec) and trial_resources(spec) == {"cpu": 0, "memory": 1}


def test_two_worker_trials_train_on_ray_train_and_reach_tune(ray_session, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = SweepConfig(
        name="ddp",
        families=["ce"],
        trials=1,
        workers_per_trial=2,
        storage=str(tmp_path / "ray"),
        tracking_uri=uri,
        scheduler="none",
        overrides=["run.epochs=2", "eval.val_nc=false"],
        confirm_top=1,
        confirm_seeds=1,
    )
    run_sweep(config, Console(width=140), out_dir=tmp_path / "best")
    (row,) = collect_rows(uri, "ddp")
    assert row.status == "FINISHED" and row.complete
    # the confirmation run trains on Ray Train's two workers too, and measures the test split
    (confirmed,) = confirmation_runs(uri, "ddp")
    assert confirmed.status == "FINISHED" and "test/acc1" in confirmed.metrics
    run = MlflowClient(uri).get_run(row.run_id)
    assert run.data.params["run.workers"] == "2"
    assert "ncsweep.checkpoint" in run.data.tags  # a Ray Train checkpoint under train/
    assert "/train/" in run.data.tags["ncsweep.checkpoint"]
    steps = [m.step for m in MlflowClient(uri).get_metric_history(row.run_id, "nc/nc1")]
    assert sorted(steps) == sorted(set(steps)) and len(steps) == 3
