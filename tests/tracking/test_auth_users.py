"""Two users on one tracking server with MLflow's authentication (``cluster/mlflow/serve.sh``
with ``MLFLOW_AUTH=basic``; the ``mlflow_auth_server`` fixture).

Alice writes a sweep's runs through ncsweep's own tracking code (experiment, parent run,
a child run with metrics, closed as the driver closes it). Bob, authenticated as himself,
can neither read, write nor delete them until the admin grants him READ on the experiment
through the auth REST API; then he reads them and still can neither write nor delete.
Every run carries the user who created it (``ncsweep.user``), and no password appears in
the server's log, the generated auth config, or any tag or param.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.server.auth.client import AuthServiceClient

from ncsweep.tracking import (
    PARENT_TAG,
    TAG_KIND,
    TAG_SWEEP,
    TAG_USER,
    MetricLogger,
    ensure_experiment,
    finish_run,
    log_params,
    open_store,
    start_run,
    tracking_user,
)

ALICE_PASSWORD = "alice-Hq27v-do-not-print"
BOB_PASSWORD = "bob-Mx40p-do-not-print"


def _as(monkeypatch, user: str, password: str) -> None:
    """Every MLflow request of this process from now on authenticates as ``user``."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def _refused(call) -> str:
    """Run ``call``; it must fail with MLflow's permission error. Returns the error text."""
    with pytest.raises(Exception) as caught:
        call()
    text = str(caught.value)
    assert "PERMISSION_DENIED" in text or "403" in text, text
    return text


def test_run_creation_records_the_user_mlflow_authenticates(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    assert tracking_user("http://carol:secret@host:5000") == "carol"
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "dave")
    assert tracking_user("http://carol:secret@host:5000") == "dave"
    uri = "memory://auth-users-tag"
    experiment = ensure_experiment(uri, "tagged")
    run = start_run(uri, experiment, "r", {TAG_KIND: "sweep"})
    assert open_store(uri).get_run(run).tags[TAG_USER] == "dave"


def test_bob_cannot_touch_alices_runs_and_reads_them_only_when_granted(
    mlflow_auth_server, monkeypatch, tmp_path
):
    server = mlflow_auth_server
    uri = server.uri
    _as(monkeypatch, server.admin, server.admin_password)
    admin = AuthServiceClient(uri)
    admin.create_user("alice", ALICE_PASSWORD)
    admin.create_user("bob", BOB_PASSWORD)

    # Alice's sweep, written as the driver and rank 0 write it
    _as(monkeypatch, "alice", ALICE_PASSWORD)
    experiment = ensure_experiment(uri, "alice-sweep")
    tags = {TAG_SWEEP: "alice-sweep", TAG_KIND: "sweep"}
    parent = start_run(uri, experiment, "alice-sweep", tags, reattach=tags)
    log_params(uri, parent, {"trials": 2})
    child = start_run(uri, experiment, "trial-0", {TAG_KIND: "train"}, parent_run_id=parent)
    logger = MetricLogger(uri, child)
    logger.log({"val/acc1": 0.5, "train/loss": 1.0}, step=1)
    finish_run(uri, child)
    store = open_store(uri)
    assert store.get_run(parent).tags[TAG_USER] == "alice"
    assert store.get_run(child).tags[PARENT_TAG] == parent
    _as(monkeypatch, server.admin, server.admin_password)
    owner = admin.get_user_permission("alice", "experiment", experiment)
    assert owner.permission == "MANAGE", owner  # MLflow grants the creator MANAGE

    # Bob without a grant: nothing
    _as(monkeypatch, "bob", BOB_PASSWORD)
    _refused(lambda: store.get_run(child))
    assert store.search_runs(experiment) == []  # searches leave out what he may not read
    _refused(lambda: store.delete_run(child))
    _refused(lambda: store.set_tag(child, "bob.was.here", "1"))
    _refused(lambda: MetricLogger(uri, child).log({"val/acc1": 0.0}, step=2))
    _refused(lambda: start_run(uri, experiment, "bob-trial", {TAG_KIND: "train"}))
    # ncsweep's commands say so, exit 2, no traceback, no password
    for verb in (["sweep", "--status", "alice-sweep"], ["export", "alice-sweep"]):
        done = subprocess.run(
            [sys.executable, "-m", "ncsweep", *verb, "--tracking-uri", uri]
            + ["--storage", str(tmp_path / "no-state")],
            env=dict(os.environ),  # Bob's credentials, set above
            capture_output=True,
            text=True,
            timeout=300,
        )
        said = " ".join(done.stderr.split())
        assert done.returncode == 2, done.stderr[-3000:]
        assert "turned user 'bob' away (no permission)" in said and "Traceback" not in said
        assert BOB_PASSWORD not in done.stdout + done.stderr

    # READ granted by the admin through the auth REST API: Bob reads, and only reads
    _as(monkeypatch, server.admin, server.admin_password)
    admin.grant_user_permission("bob", "experiment", experiment, "READ")
    _as(monkeypatch, "bob", BOB_PASSWORD)
    assert {r.run_id for r in store.search_runs(experiment)} == {parent, child}
    assert store.get_run(child).metrics["val/acc1"] == 0.5
    _refused(lambda: store.delete_run(child))
    _refused(lambda: store.set_tag(child, "bob.was.here", "1"))
    _refused(lambda: MetricLogger(uri, child).log({"val/acc1": 0.0}, step=1))

    # Alice's runs are as she left them
    _as(monkeypatch, "alice", ALICE_PASSWORD)
    run = store.get_run(child)
    assert run.status == "FINISHED" and "bob.was.here" not in run.tags
    assert store.metric_history(child, "val/acc1") == [(1, 0.5)]

    # No password anywhere a person or a later reader sees
    passwords = (ALICE_PASSWORD, BOB_PASSWORD, server.admin_password)
    written = [store.get_run(r) for r in (parent, child)]
    values = [v for r in written for v in (*r.tags.values(), *r.params.values())]
    assert [p for p in passwords if any(p in v for v in values)] == []
    assert [p for p in passwords if p in server.log.read_text()] == []
    (config,) = Path(server.log.parent).glob("mlflow-auth.*")
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert [p for p in passwords if p in config.read_text()] == []
