"""Sweeps through service outages: no trial fails and no metric or checkpoint is lost.

- The MLflow server is stopped for a minute while the first trial is logging, then started
  again on the same port and store.
- The S3 API refuses connections for a while during a trial's checkpoint uploads.

Each sweep runs as the ``ncsweep`` command against the session's Ray; every wait ends well
inside pytest's 600 s limit and fails with the sweep's output (stacks, if it hangs).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import s3fs
import torch
from mlflow.tracking import MlflowClient

from ncsweep.train.checkpoint import STATE_FILE
from services import free_port, start_mlflow_server, start_moto_server, stop

pytestmark = [pytest.mark.mlflow, pytest.mark.s3]  # their own servers, to stop and restart

OUTAGE_S = 60
EPOCHS = 100  # long enough that the first trial is caught between two evaluations


def _sweep(name: str, storage: str, tracking_uri: str, root: Path, env: dict, epochs: int):
    """The ``ncsweep sweep`` command as a subprocess in ``root`` (its output in
    ``root/sweep.log``): two ce trials, one after the other."""
    command = [
        sys.executable,
        "-m",
        "ncsweep.cli",
        "sweep",
        "--name",
        name,
        "--families",
        "ce",
        "--trials",
        "2",
        "--max-concurrent",
        "1",
        "--scheduler",
        "none",
        "--confirm-top",
        "0",
        "--keep-checkpoints",  # every trial's recorded checkpoint is checked below
        "final",
        "--set",
        f"run.epochs={epochs}",
        "--set",
        "eval.val_nc=false",
        "--storage",
        storage,
        "--tracking-uri",
        tracking_uri,
        "--out",
        str(root / "best"),
    ]
    return subprocess.Popen(
        command,
        cwd=root,  # its report and local Ray log land there
        env=dict(env, PYTHONFAULTHANDLER="1"),
        stdout=open(root / "sweep.log", "w"),
        stderr=subprocess.STDOUT,
    )


def _finish(driver: subprocess.Popen, log: Path, timeout_s: float) -> None:
    """Wait for the sweep; a hang fails with its output and every thread's stack."""
    try:
        driver.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        driver.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        driver.wait(timeout=60)
        pytest.fail(f"the sweep hung for {timeout_s:.0f} s:\n{log.read_text()[-8000:]}")
    assert driver.returncode == 0, log.read_text()[-4000:]


def _trial_runs(client: MlflowClient, sweep: str) -> list:
    experiment = client.get_experiment_by_name(sweep)
    if experiment is None:
        return []
    return client.search_runs(
        [experiment.experiment_id],
        "tags.`ncsweep.kind` = 'train'",
        order_by=["attributes.start_time ASC"],
    )


def _evaluation_steps(run) -> list[int]:
    """Step 0 and the end of every epoch (one worker, the last partial batch dropped)."""
    params = run.data.params
    per_epoch = int(params["data.train_size"]) // int(params["run.batch_size"])
    return list(range(0, int(params["run.epochs"]) * per_epoch + 1, per_epoch))


def _assert_sweep_complete(client: MlflowClient, sweep: str, trials: int) -> None:
    """Every trial FINISHED with one point per evaluation of every evaluation metric (no
    gap, no duplicate), and the parent run FINISHED."""
    runs = _trial_runs(client, sweep)
    assert len(runs) == trials, [r.data.tags.get("ncsweep.trial_id") for r in runs]
    for run in runs:
        run_id = run.info.run_id
        assert run.info.status == "FINISHED", run.data.tags.get("ncsweep.failure_reason")
        expected = _evaluation_steps(run)
        evaluated = [key for key in run.data.metrics if key.startswith(("val/", "nc/"))]
        assert {"val/acc1", "val/loss", "nc/nc1"} <= set(evaluated), sorted(run.data.metrics)
        for key in evaluated:
            steps = sorted(m.step for m in client.get_metric_history(run_id, key))
            assert steps == expected, (run.data.tags["ncsweep.trial_id"], key, steps)
        loss_steps = [m.step for m in client.get_metric_history(run_id, "train/loss")]
        assert len(loss_steps) == len(set(loss_steps)), "train/loss logged twice"
    experiment = client.get_experiment_by_name(sweep)
    parents = client.search_runs([experiment.experiment_id], "tags.`ncsweep.kind` = 'sweep'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"


def test_sweep_survives_a_minute_without_its_mlflow_server(ray_session, tmp_path):
    root = tmp_path / "mlflow"
    root.mkdir()
    port = free_port()
    server, uri = start_mlflow_server(root, timeout_s=60, port=port)
    log = tmp_path / "sweep.log"
    env = dict(os.environ, RAY_ADDRESS=ray_session.get_runtime_context().gcs_address)
    driver = _sweep("outage-mlflow", str(tmp_path / "ray"), uri, tmp_path, env, EPOCHS)
    client = MlflowClient(uri)
    try:
        # Stop the server once the first trial has logged some of its evaluations. Every
        # wait is bounded so that together they end inside pytest's 600 s.
        deadline = time.time() + 120
        logged = []
        while not logged:
            assert driver.poll() is None, log.read_text()[-4000:]
            assert time.time() < deadline, "no trial logged in 120 s:\n" + log.read_text()[-4000:]
            time.sleep(0.2)
            runs = _trial_runs(client, "outage-mlflow")
            if runs:
                logged = client.get_metric_history(runs[0].info.run_id, "val/acc1")
        stop(server)
        assert len(logged) < EPOCHS + 1, "the first trial ended before the outage"
        down_until = time.time() + OUTAGE_S
        while time.time() < down_until:
            assert driver.poll() is None, (
                "the sweep ended during the outage:\n" + (log.read_text()[-4000:])
            )
            time.sleep(1)
        server, _ = start_mlflow_server(root, timeout_s=60, port=port)
        _finish(driver, log, timeout_s=240)
        _assert_sweep_complete(client, "outage-mlflow", trials=2)
    finally:
        if driver.poll() is None:
            driver.kill()
        stop(server)


class FlakyProxy:
    """A TCP proxy ``127.0.0.1:port`` -> ``127.0.0.1:target`` that goes down at chosen
    requests. ``outages``: ``(pattern, seconds)`` in order; when a client sends a request
    matching the next ``pattern``, every connection is closed (that request never arrives)
    and the port refuses connections for ``seconds``, then listens again on the same port.
    A pattern's ``trial`` group, if any, must name a trial no earlier outage matched (Tune's
    trial folders are ``trial_<id>``: "another trial" is all a test can say beforehand).
    The server behind it keeps its state."""

    def __init__(self, target: int, outages: list[tuple[bytes, float]]):
        self.target = target
        self.port = free_port()
        self.pending = list(outages)
        self.trials_hit: set[bytes] = set()
        self.down = threading.Event()
        self.served_after = 0  # connections accepted after the last outage
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listen()

    def _listen(self) -> None:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(64)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed: an outage began
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self._lock:
                self._sockets |= {client, upstream}
                self.served_after += 1
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, request: bool) -> None:
        try:
            while data := source.recv(65536):
                if request and self._trips(data):
                    return
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            self._close(sock)

    def _trips(self, data: bytes) -> bool:
        with self._lock:
            if self.down.is_set() or not self.pending:
                return False
            pattern, seconds = self.pending[0]
            match = re.search(pattern, data)
            trial = match and match.groupdict().get("trial")
            if not match or trial in self.trials_hit:
                return False
            if trial:
                self.trials_hit.add(trial)
            self.pending.pop(0)
            self.down.set()
        self.close()
        timer = threading.Timer(seconds, self._come_back)
        timer.daemon = True
        timer.start()
        return True

    def _come_back(self) -> None:
        with self._lock:
            self.served_after = 0
        self._listen()
        self.down.clear()

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def close(self) -> None:
        self._close(self._listener)
        with self._lock:
            live = list(self._sockets)
        for sock in live:
            self._close(sock)


def test_sweep_survives_s3_refusing_connections_during_a_checkpoint_upload(
    ray_session, mlflow_server, tmp_path
):
    moto, moto_port = start_moto_server(tmp_path)
    # Each trial uploads one checkpoint per evaluation (six; a trial's folder is
    # trial_<id>). S3 goes down as the first trial starts its third upload
    # (pyarrow's upload raises), and as the second trial sends the data of its last one
    # (pyarrow's upload returns as if the file had landed); the second outage outlasts one
    # of Tune's experiment-state saves in the driver (every 10 s or so).
    proxy = FlakyProxy(
        moto_port,
        [
            (rb"POST \S*/trial_(?P<trial>[0-9a-f]{8})/checkpoint_000002/state\.pt\?uploads ", 15),
            (rb"PUT \S*/trial_(?P<trial>[0-9a-f]{8})/checkpoint_000005/state\.pt\?partNumber=", 45),
        ],
    )
    endpoint = f"http://127.0.0.1:{proxy.port}"
    aws = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret-value",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    # The session's Ray workers have the session's S3 endpoint: the sweep's job gives its
    # own processes this one, as ``ray job submit --runtime-env-json`` does.
    env = dict(
        os.environ,
        **aws,
        RAY_ADDRESS=ray_session.get_runtime_context().gcs_address,
        RAY_JOB_CONFIG_JSON_ENV_VAR=json.dumps({"runtime_env": {"env_vars": aws}}),
    )
    direct = s3fs.S3FileSystem(
        client_kwargs={"endpoint_url": f"http://127.0.0.1:{moto_port}"},
        key="testing",
        secret="testing-secret-value",
        skip_instance_cache=True,
    )
    direct.mkdir("sweeps")
    driver = _sweep("outage-s3", "s3://sweeps/ray", mlflow_server, tmp_path, env, epochs=6)
    try:
        _finish(driver, tmp_path / "sweep.log", timeout_s=420)
        assert not proxy.pending, "a planned outage did not happen"
        assert proxy.served_after > 0, "nothing reached S3 after the last outage"
        client = MlflowClient(mlflow_server)
        _assert_sweep_complete(client, "outage-s3", trials=2)
        log = (tmp_path / "sweep.log").read_text()
        assert "ce 2/0/0/0/0" in log, log[-3000:]  # finished/running/pending/stopped/failed
        for run in _trial_runs(client, "outage-s3"):
            assert "resumed_from_step" not in run.data.metrics, "a trial was restarted"
            # the checkpoint the sweep recorded for the trial is in the bucket, complete
            state = f"{run.data.tags['ncsweep.checkpoint']}/{STATE_FILE}"
            assert direct.exists(state), (state, direct.find("sweeps/ray/outage-s3/ce"))
            with direct.open(state, "rb") as fh:
                saved = torch.load(fh, map_location="cpu", weights_only=True)
            assert saved["step"] == _evaluation_steps(run)[-1]
    finally:
        if driver.poll() is None:
            driver.kill()
        proxy.close()
        stop(moto)
