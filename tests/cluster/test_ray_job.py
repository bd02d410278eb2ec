"""Sweeps as Ray jobs on a two-node cluster: S3 storage, a PostgreSQL-backed MLflow server
with S3 artifacts, trials pinned to the second node, ``ray job stop`` then a resume job."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from ncsweep.runtime.journal import load_study
from ncsweep.sweep.leaderboard import find_parent

REPO = Path(__file__).resolve().parents[2]
WORKER_RESOURCE = "worker_node"  # the custom resource the second node declares (conftest)

PIN = json.dumps({WORKER_RESOURCE: 0.01})
TINY = ["--set", "run.epochs=1", "--set", "eval.val_nc=false", "--set", "eval.probe_epochs=1"]


def _submit(cluster, submission_id: str, args: list[str], wait: bool = True):
    runtime_env = {"excludes": [".git", ".venv", "tests", "*.db", "mlruns", "ray_results"]}
    return cluster.job(
        "submit",
        "--submission-id",
        submission_id,
        "--working-dir",
        str(REPO),
        "--runtime-env-json",
        json.dumps(runtime_env),
        "--entrypoint-num-cpus",
        "0",
        *([] if wait else ["--no-wait"]),
        "--",  # Ray quotes each argument of the entrypoint
        "python",
        "-m",
        "ncsweep.cli",
        *args,
    )


def job_sweep(name: str, storage: str, uri: str, trials: int, epochs: int) -> list[str]:
    """``ncsweep sweep`` of ce trials, one at a time, pinned to node 2, no NC on validation."""
    args = ["sweep", "--preset", "digits", "--families", "ce", "--trials", str(trials)]
    args += ["--max-concurrent", "1", "--scheduler", "none", "--name", name, "--confirm-top", "0"]
    args += ["--storage", storage, "--tracking-uri", uri, "--resources-per-worker", PIN]
    return args + ["--set", f"run.epochs={epochs}", "--set", "eval.val_nc=false"]


def _cli(cluster, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``ncsweep ARGS`` as a client outside the cluster (its own process and cwd)."""
    return subprocess.run(
        [sys.executable, "-m", "ncsweep.cli", *args],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _children(uri: str, sweep: str):
    experiment_id, parent = find_parent(uri, sweep)
    return MlflowClient(uri).search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")


def _parents(uri: str, sweep: str):
    experiment_id, _ = find_parent(uri, sweep)
    return MlflowClient(uri).search_runs([experiment_id], "tags.`ncsweep.kind` = 'sweep'")


def _pg_runs(pg_uri: str, sweep: str) -> list[tuple[str, str | None]]:
    """(status, parent run id) of every run of the sweep, read from PostgreSQL itself."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_uri)
    query = sqlalchemy.text(
        "select r.status, t.value from runs r join experiments e "
        "on r.experiment_id = e.experiment_id left join tags t "
        "on t.run_uuid = r.run_uuid and t.key = 'mlflow.parentRunId' where e.name = :name"
    )
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(query, {"name": sweep})]
    engine.dispose()
    return rows


def test_sweep_job_on_two_nodes_with_s3_and_postgres(
    two_node_cluster, mlflow_pg, pg_uri, cluster_bucket, tmp_path
):
    bucket, fs = cluster_bucket
    storage = f"s3://{bucket}/sweeps"
    started = time.monotonic()
    job = _submit(
        two_node_cluster,
        "sweep-two-node",
        ["sweep", "--preset", "digits", "--families", "ce,normface", "--trials", "2"]
        + ["--max-concurrent", "2", "--scheduler", "none", "--name", "job2n", "--confirm-top", "0"]
        + ["--storage", storage, "--tracking-uri", mlflow_pg]
        + ["--resources-per-worker", PIN, *TINY],
    )
    wall = time.monotonic() - started
    print(f"two-node sweep job: {wall:.0f} s from submit to SUCCEEDED")
    assert job.returncode == 0, job.stdout[-4000:] + job.stderr[-4000:]
    assert "succeeded" in two_node_cluster.job("status", "sweep-two-node").stdout.lower()

    # One parent and four children, in PostgreSQL itself; every child ran on node 2.
    rows = _pg_runs(pg_uri, "job2n")
    parents = [status for status, parent in rows if parent is None]
    children = [status for status, parent in rows if parent is not None]
    assert parents == ["FINISHED"] and children == ["FINISHED"] * 4, rows
    worker = two_node_cluster.worker_node_id()
    for run in _children(mlflow_pg, "job2n"):
        tags = run.data.tags
        assert tags["ncsweep.node_id"] == worker, tags.get("ncsweep.node_id")
        assert tags["ncsweep.node"] and tags["ncsweep.hostname"]
        placement = json.loads(tags["ncsweep.resources"])
        assert placement["per_worker"][WORKER_RESOURCE] == 0.01
        assert placement["use_gpu"] is False

    # Spec, leaderboard, exports and studies are objects in the bucket.
    keys = fs.find(bucket)
    assert f"{bucket}/sweeps/job2n/sweep.yaml" in keys
    specs = {k for k in keys if k.endswith("/artifacts/spec.yaml")}  # other tests' too
    for run in _children(mlflow_pg, "job2n"):
        assert any(f"/{run.info.run_id}/artifacts/spec.yaml" in k for k in specs), run.info
    for name in ("leaderboard.csv", "leaderboard.json", "best_configs/ce.yaml"):
        assert any(k.endswith(f"/artifacts/{name}") for k in keys), name
    for family in ("ce", "normface"):
        assert f"{bucket}/sweeps/job2n/studies/{family}.journal" in keys
        study = load_study(storage, "job2n", family)
        assert [t.state.name for t in study.trials] == ["COMPLETE"] * 2

    # Export from outside the cluster (no node's disk), then train the exported config.
    out = tmp_path / "best"
    exported = _cli(two_node_cluster, "export", "job2n", "--storage", storage, "--out", str(out))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    config = out / "ce.yaml"
    assert yaml.safe_load(config.read_text())["loss"]["name"] == "ce"
    trained = _cli(
        two_node_cluster,
        "train",
        "--config",
        str(config),
        "--storage",
        f"{storage}/train-again",
        "--tracking-uri",
        mlflow_pg,
        "--name",
        "again",
        "--set",
        "run.experiment=job2n-again",
    )
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    run = MlflowClient(mlflow_pg).search_runs(
        [MlflowClient(mlflow_pg).get_experiment_by_name("job2n-again").experiment_id]
    )[0]
    assert run.info.status == "FINISHED" and "val/acc1" in run.data.metrics


def test_local_storage_is_refused_on_two_nodes(two_node_cluster, tmp_path):
    result = _cli(
        two_node_cluster,
        "sweep",
        "--families",
        "ce",
        "--trials",
        "1",
        "--name",
        "local",
        "--storage",
        str(tmp_path / "ray"),
        "--tracking-uri",
        f"sqlite:///{tmp_path}/mlflow.db",
        timeout=300,
    )
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    message = " ".join(result.stderr.split())
    assert "2 nodes" in message and "s3://" in message and "--shared-storage" in message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "ray").exists() and not (tmp_path / "mlflow.db").exists()


def test_job_stop_then_resume_job_runs_every_trial_once(
    two_node_cluster, mlflow_pg, cluster_bucket
):
    bucket, _ = cluster_bucket
    storage = f"s3://{bucket}/sweeps"
    # Long enough that trials are still to come when the first one has finished.
    sweep = job_sweep("stopme", storage, mlflow_pg, trials=4, epochs=15)
    submitted = _submit(two_node_cluster, "sweep-stop", sweep, wait=False)
    assert submitted.returncode == 0, submitted.stderr[-3000:]

    def finished_trials() -> dict[str, str]:
        return {
            r.data.tags["ncsweep.trial_id"]: r.info.run_id
            for r in _children(mlflow_pg, "stopme")
            if r.info.status == "FINISHED"
        }

    finished_before = two_node_cluster.wait_on_job(
        "sweep-stop", finished_trials, "a finished trial", 480
    )
    stopped = two_node_cluster.job("stop", "sweep-stop", timeout=300)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    logs = two_node_cluster.job("logs", "sweep-stop").stdout
    assert f"ncsweep resume stopme --storage {storage}" in " ".join(logs.split()), logs[-3000:]
    [parent] = _parents(mlflow_pg, "stopme")
    assert parent.info.status == "KILLED"
    assert len(_children(mlflow_pg, "stopme")) < 4 or any(
        r.info.status != "FINISHED" for r in _children(mlflow_pg, "stopme")
    ), "the sweep ended before it was stopped: nothing to resume"

    resumed = _submit(
        two_node_cluster,
        "sweep-resume",
        ["resume", "stopme", "--storage", storage, "--tracking-uri", mlflow_pg],
    )
    assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-4000:]

    runs = _children(mlflow_pg, "stopme")
    trial_ids = [r.data.tags["ncsweep.trial_id"] for r in runs]
    assert len(runs) == 4 and len(set(trial_ids)) == 4, trial_ids
    assert all(r.info.status == "FINISHED" for r in runs)
    client = MlflowClient(mlflow_pg)
    for trial_id, run_id in finished_before.items():
        assert run_id in {r.info.run_id for r in runs}, trial_id
        steps = [m.step for m in client.get_metric_history(run_id, "val/acc1")]
        assert len(steps) == len(set(steps)), f"trial {trial_id} trained again"
    [parent] = _parents(mlflow_pg, "stopme")
    assert parent.info.status == "FINISHED"
    # The resumed sweep and a report read one study: four trials, each told once.
    study = load_study(storage, "stopme", "ce")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
