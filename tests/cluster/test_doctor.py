"""``ncsweep doctor`` against the two-node cluster, the S3 bucket and the MLflow server."""

from __future__ import annotations

import subprocess
import sys

from mlflow.tracking import MlflowClient


def _doctor(cluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ncsweep.cli", "doctor", *args],
        env={**cluster.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _rows(output: str) -> list[list[str]]:
    """The table's rows as cells (rich draws │ between them)."""
    rows = [[cell.strip() for cell in line.strip("│ ").split("│")] for line in output.splitlines()]
    return [cells for cells in rows if len(cells) >= 4 and cells[0]]  # no folded lines


def test_doctor_passes_on_the_cluster_bucket_and_server(
    two_node_cluster, cluster_bucket, mlflow_pg
):
    bucket, fs = cluster_bucket
    storage = f"s3://{bucket}/doctor"
    result = _doctor(
        two_node_cluster,
        "--address",
        two_node_cluster.gcs_address,
        "--storage",
        storage,
        "--tracking-uri",
        mlflow_pg,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    rows = _rows(result.stdout)
    status = {}
    for name, target, state, *_ in rows:
        status.setdefault(name, []).append((target, state))
    assert status["Ray reachable"][0][1] == "OK"
    assert [s for _, s in status["versions"]] == ["OK", "OK"]  # one per node
    assert [s for _, s in status["storage readable"]] == ["OK", "OK"]
    assert len(status["GPUs"]) == 2
    assert status["storage writable"][0][1] == "OK"
    assert status["MLflow reachable"][0][1] == "OK"
    assert status["MLflow artifacts writable"][0][1] == "OK"
    assert "all checks passed" in result.stdout
    # The probes cleaned up after themselves.
    assert not [k for k in fs.find(f"{bucket}/doctor")]
    probe = MlflowClient(mlflow_pg).get_experiment_by_name("ncsweep-doctor")
    assert probe is None or probe.lifecycle_stage == "deleted"


def test_doctor_fails_on_an_unreachable_server_and_hides_credentials(two_node_cluster):
    dead = "http://probe:s3cr3t-pass@127.0.0.1:9"  # discard port: nothing listens
    result = _doctor(
        two_node_cluster, "--address", two_node_cluster.gcs_address, "--tracking-uri", dead
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {row[0]: row for row in _rows(result.stdout)}
    assert rows["MLflow reachable"][2] == "FAIL"
    assert rows["Ray reachable"][2] == "OK"
    assert "s3cr3t-pass" not in result.stdout + result.stderr
    assert "***@127.0.0.1:9" in result.stdout
