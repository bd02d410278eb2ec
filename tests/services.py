"""Servers the tests and benchmarks start on 127.0.0.1 (one home for how each is started)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "dropping_port",
    "free_port",
    "start_mlflow_server",
    "start_moto_server",
    "stop",
    "wait_until_answering",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dropping_port() -> Iterator[tuple[int, list[int]]]:
    """A port on 127.0.0.1 that accepts every connection and closes it unanswered (a server
    that went away mid-request); yields ``(port, connections)``, one entry per connection."""
    connections: list[int] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)

        def drop() -> None:
            while True:
                try:
                    connection, _ = server.accept()
                except OSError:  # the port was closed
                    return
                connections.append(1)
                connection.close()

        threading.Thread(target=drop, daemon=True).start()
        yield server.getsockname()[1], connections


def start_mlflow_server(
    root: Path, timeout_s: float = 180, port: int | None = None
) -> tuple[subprocess.Popen, str]:
    """The lean ``mlflow server`` (SQLite store and proxied artifacts under ``root``,
    one worker, no job runner) on ``port`` (default: a free loopback port); returns
    (process, URI) once it answers ``/health``. Its log is ``root/server.log``, appended
    to: started again on the same ``root`` and port, it is the same server after a restart."""
    port = port or free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root}/mlflow.db",
            "--artifacts-destination",
            str(root / "artifacts"),
        ],
        env=env,
        stdout=open(root / "server.log", "a"),
        stderr=subprocess.STDOUT,
    )
    uri = f"http://127.0.0.1:{port}"
    wait_until_answering(process, f"{uri}/health", root / "server.log", timeout_s)
    return process, uri


def start_moto_server(root: Path, timeout_s: float = 60) -> tuple[subprocess.Popen, int]:
    """moto's S3 server in a process of its own (its own in-memory state, unlike the
    session's in-process one) on a free loopback port; returns (process, port) once it
    answers. Its log is ``root/moto.log``."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=open(root / "moto.log", "w"),
        stderr=subprocess.STDOUT,
    )
    wait_until_answering(
        process, f"http://127.0.0.1:{port}/moto-api/", root / "moto.log", timeout_s
    )
    return process, port


def wait_until_answering(process: subprocess.Popen, url: str, log: Path, timeout_s: float) -> None:
    """Poll ``url`` until it answers; a server that exits or stays silent is killed and
    the error carries its log."""
    deadline = time.time() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError(f"{url} did not answer: {log.read_text()}") from None
            time.sleep(0.5)


def stop(process: subprocess.Popen, grace_s: float = 20) -> None:
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
