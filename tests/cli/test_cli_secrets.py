"""Credentials in the tracking URI and in the AWS environment never leave the process as text.

One real one-trial sweep (``python -m ncsweep.cli sweep``, its own local Ray in its own temp
dir, the MLflow server with ``user:password@`` in its URI, Ray storage on the S3 server with
a distinctive secret key); then every place a secret could land is read back and searched:
the CLI's stdout and stderr (which carry the Ray workers' output), every file of the Ray
session (logs included), every param, tag and artifact of every MLflow run of the sweep,
the exported YAML, every object in the bucket (the stored sweep state and Ray's storage),
and every file the command wrote in its working directory and HOME.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.ray  # the `ncsweep sweep` subprocess starts a local Ray

PASSWORD = "pw-Zq81x-do-not-print"
AWS_SECRET = "aws-Kd72m-do-not-print"
SECRETS = (PASSWORD, AWS_SECRET)


def _files_with_secrets(root: Path) -> dict[str, list[str]]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                data = path.read_bytes()
            except OSError:  # sockets, files removed while walking
                continue
            hits = [s for s in SECRETS if s.encode() in data]
            if hits:
                found[str(path)] = hits
    return found


def _stop_leftovers(marker: str) -> None:
    """End any process of this test's Ray (its temp dir is on the command line), by pid."""
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or []):
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass


@pytest.fixture
def ray_tmp():
    path = tempfile.mkdtemp(prefix="ncss", dir="/tmp")  # short: Ray's socket paths are limited
    try:
        yield Path(path)
    finally:
        _stop_leftovers(path)
        shutil.rmtree(path, ignore_errors=True)


def test_one_trial_sweep_never_writes_the_password_or_the_aws_secret(
    mlflow_server, s3_server, ray_tmp, tmp_path
):
    import s3fs

    s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True).mkdir(
        "sweeps"
    )
    host = mlflow_server.removeprefix("http://")
    tracking_uri = f"http://alice:{PASSWORD}@{host}"
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MLFLOW_TRACKING"))}
    env.update(
        HOME=str(home),
        RAY_TMPDIR=str(ray_tmp),
        RAY_USAGE_STATS_ENABLED="0",
        AWS_ACCESS_KEY_ID="AKIANCSWEEPTEST",
        AWS_SECRET_ACCESS_KEY=AWS_SECRET,
    )
    env.pop("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", None)  # the CLI must set it itself
    cmd = [
        sys.executable,
        "-m",
        "ncsweep.cli",
        "sweep",
        "--preset",
        "digits",
        "--families",
        "ce",
        "--trials",
        "1",
        "--confirm-top",
        "0",
        "--scheduler",
        "none",
        "--name",
        "secrets",
        "--tracking-uri",
        tracking_uri,
        "--storage",
        "s3://sweeps/runs",
        "--out",
        str(work / "best"),
        "--set",
        "run.epochs=1",
        "--set",
        "eval.val_nc=false",
    ]
    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    # what a person sees: ncsweep's own lines, MLflow's and the Ray workers' output
    output = done.stdout + done.stderr
    assert "View run" not in output and "View experiment" not in output
    assert f"http://***@{host}" in output  # the URI is still shown, without its userinfo
    assert [s for s in SECRETS if s in output] == []

    # every file of the Ray session: logs of the raylet, GCS, dashboard, workers, jobs
    session_files = [p for p in ray_tmp.rglob("*") if p.is_file()]
    assert any(p.name.startswith("worker-") for p in session_files)  # the workers' logs exist
    assert _files_with_secrets(ray_tmp) == {}

    # MLflow: params, tags and artifacts of the sweep run and the trial run
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("secrets")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    artifacts = tmp_path / "artifacts"
    for run in runs:
        values = [*run.data.params.values(), *run.data.tags.values()]
        assert [s for s in SECRETS if any(s in v for v in values)] == []
        # the user the URI authenticates is recorded by name only (tracking/identity.py)
        assert run.data.tags["ncsweep.user"] == "alice"
        client.download_artifacts(run.info.run_id, "", str(artifacts / run.info.run_id))
    assert any(artifacts.rglob("spec.yaml"))
    assert _files_with_secrets(artifacts) == {}

    # exported YAML (and everything else written in the working directory and HOME)
    assert (work / "best" / "ce.yaml").is_file()
    assert f"http://***@{host}" in (work / "best" / "ce.yaml").read_text()
    assert _files_with_secrets(work) == {} and _files_with_secrets(home) == {}

    # the bucket: stored sweep state and Ray's storage (experiment state, checkpoints)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)
    keys = fs.find("sweeps")
    assert "sweeps/runs/secrets/sweep.yaml" in keys and len(keys) > 3
    leaked = [k for k in keys if any(s.encode() in fs.cat_file(k) for s in SECRETS)]
    assert leaked == []
