"""Faults on the two-node cluster: a node lost mid-trial, and two drivers on one sweep.

- Node 2 is SIGKILLed (raylet, workers, all of it) while a trial trains there: Tune restarts
  the trial from its last checkpoint on the head, in the same MLflow run, counted finished.
- A second sweep job on a running sweep's name is refused (exit 2, naming the first job)
  before it writes anything; the first sweep finishes with every run it made.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from ncsweep.runtime.lease import read_lease
from ncsweep.sweep.leaderboard import collect_rows, find_parent
from ncsweep.tracking import TAG_NODE_ID, TAG_RETRIES

REPO = Path(__file__).resolve().parents[2]


def _children(uri: str, sweep: str):
    experiment_id, parent = find_parent(uri, sweep)
    return MlflowClient(uri).search_runs(
        [experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'", run_view_type=3
    )


def _driver_ended(driver: subprocess.Popen):
    """``Cluster.wait``'s ``ended`` for a driver process: its output once it has exited."""

    def ended() -> str | None:
        if driver.poll() is None:
            return None
        return f"the sweep ended first:\n{driver.stdout.read()[-4000:]}"

    return ended


def test_lost_node_mid_trial_finishes_on_the_head_from_its_checkpoint(
    two_node_cluster, mlflow_pg, cluster_bucket, tmp_path
):
    bucket, _ = cluster_bucket
    storage = f"s3://{bucket}/faults"
    worker = two_node_cluster.worker_node_id()
    head = two_node_cluster.head_node_id()
    # Two trials of 2 CPUs on two nodes of 2 CPUs: one trains on each node.
    command = [sys.executable, "-m", "ncsweep.cli", "sweep", "--families", "ce", "--trials", "2"]
    command += ["--max-concurrent", "2", "--cpus-per-worker", "2", "--scheduler", "none"]
    command += ["--name", "nodeloss", "--storage", storage, "--tracking-uri", mlflow_pg]
    command += ["--out", str(tmp_path / "best"), "--set", "run.epochs=60"]
    command += ["--set", "eval.val_nc=false", "--confirm-top", "0"]
    started = time.monotonic()
    driver = subprocess.Popen(
        command,
        env=two_node_cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        client = MlflowClient(mlflow_pg)

        def training_on_node_2():
            for run in _children(mlflow_pg, "nodeloss"):
                on_worker = run.data.tags.get(TAG_NODE_ID) == worker
                # step 0 and epoch 1 evaluated: epoch 1's checkpoint is in the bucket
                if on_worker and len(client.get_metric_history(run.info.run_id, "val/acc1")) > 1:
                    return run

        victim = two_node_cluster.wait(
            training_on_node_2, "a trial evaluating on node 2", 300, _driver_ended(driver)
        )
        evaluated = len(client.get_metric_history(victim.info.run_id, "val/acc1"))
        killed_at = time.time()
        two_node_cluster.kill_worker()
        stdout, _ = driver.communicate(timeout=480)
    except BaseException:
        driver.kill()
        raise
    finally:
        if two_node_cluster.worker is None:  # later tests of the package need node 2
            two_node_cluster.start_worker()
    wall = time.monotonic() - started
    print(f"node lost at {killed_at - time.time() + wall:.0f} s; sweep exit after {wall:.0f} s")
    assert driver.returncode == 0, stdout[-5000:]
    assert "retrying from its last checkpoint" in stdout, stdout[-3000:]

    runs = _children(mlflow_pg, "nodeloss")
    assert len(runs) == 2 and all(r.info.lifecycle_stage == "active" for r in runs)
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    [again] = [r for r in runs if r.info.run_id == victim.info.run_id]
    assert again.data.tags[TAG_RETRIES] == "1"
    assert again.data.tags[TAG_NODE_ID] == head  # finished on the head
    # Resumed from a checkpoint (not step 0), every evaluation logged exactly once.
    resumed = client.get_metric_history(again.info.run_id, "resumed_from_step")
    assert len(resumed) == 1 and resumed[0].value > 0, resumed
    steps = sorted(m.step for m in client.get_metric_history(again.info.run_id, "val/acc1"))
    stride = steps[1]  # one epoch (the two trials may draw other batch sizes)
    assert steps == [stride * epoch for epoch in range(61)], (steps, evaluated)
    rows = collect_rows(mlflow_pg, "nodeloss")
    assert [r.status for r in rows] == ["FINISHED", "FINISHED"] and all(r.complete for r in rows)


def test_a_second_driver_is_refused_naming_the_first_job_and_deletes_nothing(
    two_node_cluster, mlflow_pg, cluster_bucket
):
    from test_ray_job import _submit, job_sweep

    bucket, _ = cluster_bucket
    storage = f"s3://{bucket}/twice"
    # long enough that the first driver still runs when the second job starts (seconds)
    sweep = job_sweep("twice", storage, mlflow_pg, trials=3, epochs=80)
    started = time.monotonic()
    first = _submit(two_node_cluster, "sweep-first", sweep, wait=False)
    assert first.returncode == 0, first.stderr[-3000:]

    def a_trial_evaluating():
        client = MlflowClient(mlflow_pg)
        runs = _children(mlflow_pg, "twice")
        return [r for r in runs if client.get_metric_history(r.info.run_id, "val/acc1")]

    two_node_cluster.wait_on_job(
        "sweep-first", a_trial_evaluating, "a trial of the first driver evaluating", 480
    )
    holder = read_lease(storage, "twice")
    assert holder is not None and holder.ray_job == "sweep-first", holder

    second = _submit(
        two_node_cluster,
        "sweep-second",
        ["resume", "twice", "--storage", storage, "--tracking-uri", mlflow_pg],
    )
    assert second.returncode != 0, second.stdout[-3000:]  # `ray job submit` waits for the job
    logs = " ".join(two_node_cluster.job("logs", "sweep-second").stdout.split())
    assert "sweep twice is being run by `ncsweep sweep`" in logs and "Ray job sweep-first" in logs
    assert "Traceback" not in logs
    status = two_node_cluster.job("status", "sweep-second").stdout
    assert "exit code 2" in status.lower(), status

    two_node_cluster.wait_on_job(
        "sweep-first",
        lambda: "succeeded" in two_node_cluster.job("status", "sweep-first").stdout.lower(),
        "the first sweep to succeed",
        600,
    )
    print(f"two drivers: the first sweep succeeded {time.monotonic() - started:.0f} s after submit")
    runs = _children(mlflow_pg, "twice")
    assert len(runs) == 3, [(r.info.run_id, r.info.lifecycle_stage) for r in runs]
    assert all(r.info.lifecycle_stage == "active" for r in runs)
    assert all(r.info.status == "FINISHED" for r in runs)
    assert read_lease(storage, "twice") is None  # released at the end
