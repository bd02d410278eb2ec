"""Ray's token authentication for ``ray job submit`` (Ray 2.60, ``RAY_AUTH_MODE=token``).

The package's two-node cluster runs with token authentication (``conftest.py``: the token
made by ``ray get-auth-token --generate`` in the cluster's own HOME). A client that sends
no token, or the wrong one, is refused by the job server and no job is created; a client
that has only ``RAY_AUTH_TOKEN`` (no token file) submits and its job runs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import BIN, REPO


def _submit(cluster, env: dict[str, str], submission_id: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BIN / "ray", "job", "submit", "--address", cluster.dashboard]
        + ["--submission-id", submission_id, "--entrypoint-num-cpus", "0"]
        + ["--", "python", "-c", "print('token-ok')"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _client_env(cluster, home: Path, **auth: str) -> dict[str, str]:
    """The cluster's client environment without its token file (another HOME) or auth."""
    env = {k: v for k, v in cluster.env.items() if not k.startswith("RAY_AUTH")}
    home.mkdir()
    return {**env, "HOME": str(home), **auth}


def test_job_submission_needs_the_token(two_node_cluster, tmp_path):
    cluster = two_node_cluster
    token = (Path(cluster.env["HOME"]) / ".ray" / "auth_token").read_text().strip()
    refused = {
        "no-token": _client_env(cluster, tmp_path / "a"),
        "wrong-token": _client_env(
            cluster, tmp_path / "b", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="x" * len(token)
        ),
    }
    for submission_id, env in refused.items():
        out = _submit(cluster, env, submission_id)
        assert out.returncode != 0, out.stdout[-2000:]
        text = out.stdout + out.stderr
        assert "401" in text or "nauthorized" in text or "uthentication" in text, text[-2000:]
        assert token not in text
    good = _client_env(cluster, tmp_path / "c", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    out = _submit(cluster, good, "with-token")
    assert out.returncode == 0 and "token-ok" in out.stdout, (out.stdout + out.stderr)[-3000:]
    listed = cluster.job("list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "with-token" in listed.stdout, listed.stdout[-2000:]
    assert not [s for s in refused if s in listed.stdout], listed.stdout[-2000:]
