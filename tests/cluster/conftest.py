"""Real cluster parts on 127.0.0.1, shared by the tests of this package (package scope:
moto's state is reset by other packages' ``s3_server``, so buckets live only as long as
these tests run).

- ``pg_uri``: a throwaway PostgreSQL (the ``pgserver`` wheel's binaries) on 127.0.0.1.
- ``cluster_bucket``: a bucket on the session's moto S3 server.
- ``mlflow_pg``: ``cluster/mlflow/serve.sh`` against that PostgreSQL, artifacts in the bucket.
- ``two_node_cluster``: a Ray head and a second node (custom resource ``worker_node``) joined
  with ``ray start --address``, token authentication with the token in an isolated HOME,
  each node its own temp dir and ports; both started with ``setsid`` and ended by pid.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services import free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKER_RESOURCE = "worker_node"


def _wait(check, what: str, timeout: float, log: Path | None = None, process=None) -> None:
    deadline = time.time() + timeout
    while not check():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: exited {process.returncode}\n{_tail(log)}")
        if time.time() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout:.0f} s\n{_tail(log)}")
        time.sleep(0.5)


def _tail(log: Path | None, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log and log.exists() else ""


def _stop(process: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 30) -> None:
    """End a process group we started (setsid: its id is the leader's pid), also when the
    leader already exited and left children behind (a ``ray start`` that gave up)."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(timeout=30)


# -- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="package")
def pg_uri():
    """``postgresql+psycopg2://postgres@127.0.0.1:PORT/postgres`` of a fresh database cluster.

    ``initdb`` refuses root: as root the cluster belongs to ``nobody``.
    """
    import pgserver

    bin_dir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    root = Path(tempfile.mkdtemp(prefix="ncpg", dir="/tmp"))
    user = None
    if os.geteuid() == 0:
        user = "nobody"
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data = root / "data"
    log = root / "postgres.log"
    subprocess.run(
        [bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "utf8"],
        check=True,
        capture_output=True,
        user=user,
        cwd=root,
    )
    port = free_port()
    process = subprocess.Popen(
        [bin_dir / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(port), "-k", root]
        + ["-c", "fsync=off", "-c", "full_page_writes=off"],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        user=user,
        cwd=root,
        start_new_session=True,
    )

    def ready() -> bool:
        return (
            subprocess.run(
                [bin_dir / "pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            ).returncode
            == 0
        )

    try:
        _wait(ready, "postgres", 60, log, process)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        _stop(process, signal.SIGINT)  # fast shutdown
        shutil.rmtree(root, ignore_errors=True)


# -- S3 and MLflow -------------------------------------------------------------------------


@pytest.fixture(scope="package")
def cluster_bucket(s3_endpoint):
    """A fresh bucket on the session's S3 API server; yields ``(name, s3fs filesystem)``."""
    import s3fs

    name = f"nc-cluster-{uuid.uuid4().hex[:8]}"
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint}, skip_instance_cache=True)
    fs.mkdir(name)
    return name, fs


@pytest.fixture(scope="package")
def mlflow_pg(pg_uri, cluster_bucket, tmp_path_factory):
    """``cluster/mlflow/serve.sh`` on 127.0.0.1: PostgreSQL store, artifacts in the bucket."""
    bucket, _ = cluster_bucket
    root = tmp_path_factory.mktemp("mlflow-pg")
    port = free_port()
    env = dict(
        os.environ,
        MLFLOW_BACKEND_STORE_URI=pg_uri,
        MLFLOW_ARTIFACTS_DESTINATION=f"s3://{bucket}/mlflow",
        MLFLOW_PORT=str(port),
        MLFLOW_WORKERS="1",
        MLFLOW_AUTH="none",  # users are tests/tracking/test_auth_users.py's subject
        MLFLOW=str(BIN / "mlflow"),
    )
    log = root / "server.log"
    process = subprocess.Popen(
        [REPO / "cluster" / "mlflow" / "serve.sh"],
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return True
        except OSError:
            return False

    try:
        _wait(ready, "mlflow server", 180, log, process)
        yield uri
    finally:
        _stop(process)


# -- Ray -----------------------------------------------------------------------------------


@dataclass
class Cluster:
    """A running two-node Ray cluster and what a client needs to reach it."""

    gcs_address: str
    dashboard: str
    env: dict[str, str]
    root: Path
    processes: list = field(default_factory=list)
    worker_cmd: list = field(default_factory=list)
    worker: subprocess.Popen | None = None
    lost_nodes: set = field(default_factory=set)

    def nodes(self) -> list[dict]:
        """Alive nodes from the state API: node_id, node_ip, resources_total, is_head_node."""
        out = subprocess.run(
            [BIN / "ray", "list", "nodes", "--address", self.dashboard, "--format", "json"]
            + ["--filter", "state=ALIVE"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout)

    def worker_node_id(self) -> str:
        return next(
            n["node_id"] for n in self.nodes() if WORKER_RESOURCE in n.get("resources_total", {})
        )

    def head_node_id(self) -> str:
        return next(n["node_id"] for n in self.nodes() if n.get("is_head_node"))

    def kill_worker(self) -> None:
        """Lose node 2 at once (SIGKILL to its raylet, its workers and everything else
        ``ray start`` started): what a dead machine or a spot reclaim without notice does."""
        self.lost_nodes.add(self.worker_node_id())
        _stop(self.worker, signal.SIGKILL)
        self.processes.remove(self.worker)
        self.worker = None

    def start_worker(self) -> None:
        """Node 2 (again): joins the head, declares ``worker_node``; waits until alive (a
        new node: the GCS lists a killed one as alive until its health checks fail)."""
        log = self.root / "worker.log"

        def joined() -> bool:
            return any(
                WORKER_RESOURCE in n.get("resources_total", {})
                and n["node_id"] not in self.lost_nodes
                for n in self.nodes()
            )

        self.worker = _launch(self, self.worker_cmd, log, joined, "node 2")

    def wait(self, check, what: str, timeout: float, ended=None, details=None):
        """Poll ``check()`` (exceptions count as not yet) until it returns something
        truthy; fail at once when ``ended()`` says why waiting is pointless (what was
        waited on has ended), or after ``timeout``; the failure adds ``details()``."""

        def checked():
            try:
                return check()
            except Exception:  # the sweep's experiment or runs do not exist yet
                return None

        deadline = time.time() + timeout
        while not (value := checked()):
            why = ended() if ended is not None else None
            if why and (value := checked()):  # it happened just before the end
                break
            if why or time.time() > deadline:
                why = why or f"not seen in {timeout:.0f} s"
                pytest.fail(f"{what}: {why}\n{details() if details else ''}")
            time.sleep(2)
        return value

    def wait_on_job(self, submission_id: str, check, what: str, timeout: float):
        """:meth:`wait` while job ``submission_id`` runs, failing with what a person needs
        to see why: the job's status and log tail, the alive nodes, the nodes' logs."""

        def job_ended() -> str | None:
            status = self.job("status", submission_id, timeout=120).stdout
            ended = any(word in status for word in ("SUCCEEDED", "FAILED", "STOPPED"))
            return f"job {submission_id} ended first" if ended else None

        return self.wait(check, what, timeout, job_ended, lambda: self.diagnosis(submission_id))

    def diagnosis(self, submission_id: str) -> str:
        """Job status, its log tail, alive nodes, and the nodes' ``ray start`` logs."""
        status = self.job("status", submission_id, timeout=120)
        logs = self.job("logs", submission_id, timeout=120).stdout[-6000:]
        try:
            nodes = [(n["node_id"][:8], n.get("resources_total")) for n in self.nodes()]
        except Exception as error:  # the state API is what may be broken
            nodes = [repr(error)]
        return (
            f"--- ray job status {submission_id}:\n{status.stdout}{status.stderr[-2000:]}\n"
            f"--- job logs (tail):\n{logs}\n--- alive nodes: {nodes}\n"
            f"--- head.log:\n{_tail(self.root / 'head.log', 2000)}\n"
            f"--- worker.log:\n{_tail(self.root / 'worker.log', 2000)}"
        )

    def job(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        """``ray job ARGS`` against this cluster (the client sends the token)."""
        return subprocess.run(
            [BIN / "ray", "job", *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _node_ports() -> list[str]:
    ports = {
        "--node-manager-port": free_port(),
        "--object-manager-port": free_port(),
        "--metrics-export-port": free_port(),
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(),
    }
    return [f"{flag}={port}" for flag, port in ports.items()]


def _launch(cluster: Cluster, cmd: list, log: Path, ready, what: str, attempts: int = 3):
    """Start one ``ray start --block`` node; again if it gives up. A node waits only 30 s
    for the GCS to register it (hard-coded in Ray 2.60): on a loaded machine that passes."""
    for attempt in range(1, attempts + 1):
        with open(log, "a") as out:
            process = subprocess.Popen(
                [*cmd, *_node_ports()], env=cluster.env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            _wait(ready, f"ray {what}", 240, log, process)
        except RuntimeError:
            _stop(process)
            if attempt == attempts:
                raise
            continue
        cluster.processes.append(process)
        return process


@pytest.fixture(scope="package")
def two_node_cluster(s3_endpoint):
    """Head (2 CPUs) + second node (2 CPUs, ``worker_node: 1``), token auth, 127.0.0.1.

    The head runs the venv's ``python`` (first on PATH) with this tree's ``platform/`` on
    PYTHONPATH, so a job's entrypoint runs this checkout. The S3 settings reach every node
    through the environment of ``ray start``.
    """
    root = Path(tempfile.mkdtemp(prefix="ncrc", dir="/tmp"))
    home = root / "home"
    home.mkdir()
    env = dict(
        os.environ,
        HOME=str(home),
        RAY_AUTH_MODE="token",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=str(REPO / "platform"),
        # let the driver of a stopped job finish its bookkeeping before SIGKILL
        RAY_JOB_STOP_WAIT_TIME_S="30",
        RAY_TRAIN_HEALTH_CHECK_INTERVAL_S="0.5",
    )
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (set by a local ncsweep start in this process,
    # runtime/local_ray.py) would make the second node refuse to join.
    for key in (
        "RAY_ADDRESS",
        "RAY_API_SERVER_ADDRESS",
        "RAY_AUTH_TOKEN",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER",
    ):
        env.pop(key, None)
    subprocess.run(
        [BIN / "ray", "get-auth-token", "--generate"], env=env, check=True, capture_output=True
    )
    port, dash = free_port(), free_port()
    cluster = Cluster(
        gcs_address=f"127.0.0.1:{port}",
        dashboard=f"http://127.0.0.1:{dash}",
        env=env,
        root=root,
    )
    head_cmd = [
        "setsid",
        BIN / "ray",
        "start",
        "--head",
        "--block",
        f"--temp-dir={root / 'head'}",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dash}",
        f"--ray-client-server-port={free_port()}",
        "--num-cpus=2",
    ]
    cluster.worker_cmd = [
        "setsid",
        BIN / "ray",
        "start",
        "--block",
        f"--address={cluster.gcs_address}",
        f"--temp-dir={root / 'worker'}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=2",
        f"--resources={json.dumps({WORKER_RESOURCE: 1})}",
    ]
    head_log = root / "head.log"
    try:
        # The GCS port answers before the head has written its address for others to join.
        _launch(
            cluster, head_cmd, head_log, lambda: "Ray runtime started" in _tail(head_log), "head"
        )
        env["RAY_ADDRESS"] = cluster.gcs_address
        env["RAY_API_SERVER_ADDRESS"] = cluster.dashboard
        cluster.start_worker()
        yield cluster
    finally:
        for process in reversed(cluster.processes):
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)
