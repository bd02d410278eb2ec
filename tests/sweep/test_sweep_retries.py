"""A trial whose process dies (what a lost node or an OOM-kill does to it) is restarted by
Tune from its last checkpoint, in the same MLflow run, and counted finished, not failed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
from mlflow.tracking import MlflowClient

from ncsweep.runtime.journal import load_study
from ncsweep.sweep.leaderboard import collect_rows, find_parent
from ncsweep.tracking import TAG_RETRIES


def _trial_actors(gcs_address: str) -> list[psutil.Process]:
    """The Tune trial actors (``ray::ImplicitFunc``) of this test session's Ray: a raylet
    that names its GCS address started them (other Ray instances may share the machine)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if not " ".join(proc.info["cmdline"] or []).startswith("ray::ImplicitFunc"):
                continue
            if any(gcs_address in " ".join(p.cmdline()) for p in proc.parents()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_a_killed_trial_process_is_retried_from_its_checkpoint_in_the_same_run(
    ray_session, mlflow_server, tmp_path
):
    context = ray_session.get_runtime_context()
    env = dict(os.environ, RAY_ADDRESS=context.gcs_address)
    command = [sys.executable, "-m", "ncsweep.cli", "sweep", "--families", "ce", "--trials", "1"]
    command += ["--scheduler", "none", "--name", "retried", "--storage", str(tmp_path / "ray")]
    command += ["--tracking-uri", mlflow_server, "--out", str(tmp_path / "best")]
    command += ["--set", "run.epochs=120", "--set", "eval.val_nc=false", "--confirm-top", "0"]
    started = time.monotonic()
    driver = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    client = MlflowClient(mlflow_server)
    try:
        deadline = time.time() + 300
        run = None
        while run is None or len(client.get_metric_history(run, "val/acc1")) < 3:
            assert driver.poll() is None, driver.stdout.read()[-4000:]
            assert time.time() < deadline, "the trial did not evaluate three times in 300 s"
            time.sleep(0.5)
            try:
                experiment_id, parent = find_parent(mlflow_server, "retried")
                runs = client.search_runs(
                    [experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'"
                )
                run = runs[0].info.run_id if runs else None
            except Exception:  # the sweep's experiment does not exist yet
                run = None
        victims = _trial_actors(context.gcs_address)
        assert victims, "no Tune trial actor process found"
        for victim in victims:
            victim.send_signal(signal.SIGKILL)
        stdout, _ = driver.communicate(timeout=400)
    except BaseException:
        driver.kill()
        raise
    print(f"killed trial process, retried: sweep exit after {time.monotonic() - started:.0f} s")
    assert driver.returncode == 0, stdout[-5000:]
    assert "retrying from its last checkpoint" in stdout
    assert "1 trial restart(s) after a lost node" in stdout

    experiment_id, parent = find_parent(mlflow_server, "retried")
    runs = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert [r.info.run_id for r in runs] == [run]  # one trial, one run
    tags = runs[0].data.tags
    assert runs[0].info.status == "FINISHED" and tags[TAG_RETRIES] == "1"
    resumed = client.get_metric_history(run, "resumed_from_step")
    assert len(resumed) == 1 and resumed[0].value > 0
    steps = [m.step for m in client.get_metric_history(run, "val/acc1")]
    stride = sorted(steps)[1]  # one epoch of digits; step 0 is evaluated too
    assert sorted(steps) == [stride * epoch for epoch in range(121)], steps
    [row] = collect_rows(mlflow_server, "retried")
    assert row.status == "FINISHED" and row.complete
    study = load_study(str(tmp_path / "ray"), "retried", "ce")
    assert [t.state.name for t in study.trials] == ["COMPLETE"]
