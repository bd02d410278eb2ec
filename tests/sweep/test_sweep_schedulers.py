"""Every scheduler runs a short sweep end to end (digits, one family, tiny trials); one PBT
sweep is killed after its first mutation and resumed, and the mutated trial's exported
schedule trains the same model again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from rich.console import Console

from ncsweep.config import load_spec
from ncsweep.runtime.journal import load_study
from ncsweep.runtime.mutations import MUTATIONS_ARTIFACT
from ncsweep.sweep import SweepConfig, run_sweep
from ncsweep.sweep.leaderboard import find_parent
from ncsweep.train import TrainingCore, fit

TINY = ["run.epochs=2", "eval.eval_every=4", "eval.val_nc=false", "run.batch_size=128"]


def _children(uri: str, sweep: str):
    client = MlflowClient(uri)
    experiment_id, parent = find_parent(uri, sweep)
    return client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")


@pytest.mark.parametrize("scheduler", ["hyperband", "bohb", "pb2"])
def test_each_scheduler_runs_a_short_sweep(
    scheduler, ray_session, mlflow_server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the sweep writes reports/ where it runs
    name = f"sched-{scheduler}"
    config = SweepConfig(
        name=name,
        preset="digits",
        families=["ce"],
        trials=3,
        max_concurrent=2,
        storage=str(tmp_path / "ray"),
        tracking_uri=mlflow_server,
        scheduler=scheduler,
        confirm_top=0,
        overrides=TINY,
    )
    outcome = run_sweep(config, Console(record=True, width=140), out_dir=tmp_path / "best")
    assert outcome.exported and (tmp_path / "best" / "ce.yaml").is_file()
    runs = _children(mlflow_server, name)
    assert len(runs) == 3
    # a trial ends finished, or stopped by the brackets (KILLED, never FAILED)
    assert {r.info.status for r in runs} <= {"FINISHED", "KILLED"}
    assert any(r.info.status == "FINISHED" for r in runs)
    if scheduler == "pb2":  # no Optuna study: Ray allows population schedulers no searcher
        return
    study = load_study(str(tmp_path / "ray"), name, "ce")
    told = [t.state for t in study.trials]
    assert len(told) == 3 and set(told) <= {TrialState.COMPLETE, TrialState.PRUNED}


def _cli(args, env, log):
    return subprocess.Popen(
        [sys.executable, "-m", "ncsweep.cli", *args],
        env=env,
        cwd=log.parent,  # the sweep writes reports/ where it runs
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )


def test_pbt_mutates_running_trials_resumes_after_a_killed_driver_and_replays(
    ray_session, mlflow_server, tmp_path
):
    env = dict(os.environ, RAY_ADDRESS=ray_session.get_runtime_context().gcs_address)
    common = ["--storage", str(tmp_path / "ray"), "--tracking-uri", mlflow_server]
    common += ["--out", str(tmp_path / "best")]
    driver = _cli(
        [
            "sweep",
            "--families",
            "normface",  # mutates the temperature and the learning rate
            "--trials",
            "2",
            "--max-concurrent",
            "2",  # a population of two, running side by side
            "--scheduler",
            "pbt",
            "--name",
            "pbt",
            "--perturbation-interval",
            "3",
            "--set",
            "run.epochs=30",  # long enough to kill the driver mid-run (~0.3 s an epoch)
            "--set",
            "eval.val_nc=false",
            "--set",
            "run.batch_size=128",
            "--confirm-top",
            "0",
            *common,
        ],
        env,
        tmp_path / "first.log",
    )
    deadline = time.time() + 300
    mutated: list = []
    while not mutated:
        assert driver.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.time() < deadline, (
            "no PBT mutation in 300 s:\n" + (tmp_path / "first.log").read_text()[-3000:]
        )
        time.sleep(0.5)
        try:
            mutated = [
                r for r in _children(mlflow_server, "pbt") if "ncsweep.pbt.mutations" in r.data.tags
            ]
        except Exception:  # the sweep's experiment or parent run does not exist yet
            mutated = []
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=60)
    time.sleep(5)  # Ray ends the dead driver's trial actors

    resumed = _cli(["resume", "pbt", *common], env, tmp_path / "resume.log")
    try:
        assert resumed.wait(timeout=400) == 0, (tmp_path / "resume.log").read_text()[-3000:]
    except subprocess.TimeoutExpired:
        resumed.kill()
        pytest.fail("resumed PBT sweep hung:\n" + (tmp_path / "resume.log").read_text()[-3000:])

    runs = _children(mlflow_server, "pbt")
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    client = MlflowClient(mlflow_server)
    run = next(r for r in runs if "ncsweep.pbt.mutations" in r.data.tags)
    with tempfile.TemporaryDirectory() as tmp:
        changes = json.loads(
            open(client.download_artifacts(run.info.run_id, MUTATIONS_ARTIFACT, tmp)).read()
        )
        replay_file = client.download_artifacts(run.info.run_id, "spec.yaml", tmp)
        spec = load_spec(replay_file)
    assert changes and all(c["overrides"] and c["previous"] for c in changes)
    keys = {k for c in changes for k in c["overrides"]}
    assert keys <= {"optim.lr", "loss.temperature"} and keys
    assert [e.step for e in spec.hyperparameter_schedule] == sorted({c["step"] for c in changes})

    # The replayed schedule (what `ncsweep train --config` loads) trains the same model:
    # one CPU thread in the trial and here, the same seed, data order and augmentation
    # (restores are bit-exact, tests/train/test_hyperparameter_schedule.py), so the final
    # accuracy agrees to float rounding; 1e-9 is far below one validation image (1/323).
    replayed = fit(TrainingCore(spec))
    final = run.data.metrics
    assert abs(replayed.metrics["val/acc1"] - final["val/acc1"]) <= 1e-9
    assert abs(replayed.metrics["val/loss"] - final["val/loss"]) <= 1e-6
    exported = (tmp_path / "best" / "normface.yaml").read_text()
    if run.info.run_id in exported:  # the mutated trial won: its export is the schedule
        assert "hyperparameter_schedule" in exported
