"""The local Ray instance ncsweep starts listens on loopback only: every port of every process.

A fresh interpreter (own HOME and Ray temp dir) starts Ray through ``ensure_ray`` with Ray
already imported, uses it (task, actor, 2-worker TorchTrainer with its process group), and
lists the listening sockets of itself and all its children (GCS, raylet and its object
manager, dashboard, dashboard agent with the metrics export port, runtime env agent, core
workers) plus those the Train workers saw of themselves.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.ray

HERE = Path(__file__).parent


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def test_every_port_of_the_local_ray_instance_is_on_loopback(tmp_path):
    ray_tmp = tempfile.mkdtemp(prefix="ncsl", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(tmp_path), RAY_TMPDIR=ray_tmp, RAY_USAGE_STATS_ENABLED="0")
    try:
        done = subprocess.run(
            [sys.executable, str(HERE / "_list_ray_sockets.py"), str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        for proc in psutil.process_iter(["cmdline"]):
            if ray_tmp in " ".join(proc.info["cmdline"] or []):
                proc.kill()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("SOCKETS "))
    sockets = json.loads(line.removeprefix("SOCKETS "))
    names = " ".join(s["name"] for s in sockets)
    for process in ("gcs_server", "raylet", "DashboardAgent", "RuntimeEnvAgent", "RayTrainWorker"):
        assert process in names, names
    assert len(sockets) >= 8
    exposed = [s for s in sockets if not _is_loopback(s["ip"])]
    # The one exception, documented in runtime/local_ray.py: torch's TCPStore server (the
    # rendezvous of a multi-worker process group, rank 0, MASTER_PORT) binds every interface
    # whatever MASTER_ADDR is; torch has no bind-address option for it.
    assert [(s["name"], s.get("tcpstore")) for s in exposed] in (
        [],
        [("ray::RayTrainWorker", True)],
    )
