"""The sweep lease (runtime/lease.py) on a local folder and on the S3 API server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import s3fs

from ncsweep.runtime.lease import Lease, LeaseHeld, read_lease


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def storage(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "ray")
    endpoint = request.getfixturevalue("s3_server")
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}).mkdir("leases")
    return "s3://leases/ray"


def _quiet(**kw) -> dict:
    return {"settle_s": 0.05, "say": lambda text: None, **kw}


def test_a_held_lease_refuses_a_second_driver_naming_the_holder(storage):
    with Lease(storage, "s", "sweep", **_quiet()):
        holder = read_lease(storage, "s")
        assert holder is not None and holder.pid == os.getpid()
        with pytest.raises(LeaseHeld) as refused:
            Lease(storage, "s", "resume", **_quiet()).acquire()
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message and socket.gethostname() in message
        assert "`ncsweep sweep`" in message and "heartbeat" in message and "--force" in message
    assert read_lease(storage, "s") is None  # released: the next driver may run
    with Lease(storage, "s", "resume", **_quiet()):
        pass


def _write_holder(storage: str, name: str, **fields) -> None:
    holder = {
        "token": "other",
        "command": "sweep",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "ray_job": "raysubmit_abc",
        "started": time.time(),
        "heartbeat": time.time(),
        **fields,
    }
    url = f"{storage}/{name}/lease.json"
    if url.startswith("s3://"):
        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        fs.pipe(url, json.dumps(holder).encode())
    else:
        os.makedirs(os.path.dirname(url), exist_ok=True)
        with open(url, "w") as handle:
            handle.write(json.dumps(holder))


def test_a_lease_of_a_dead_pid_on_this_host_is_taken_over(storage):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    _write_holder(storage, "s", pid=int(dead.stdout))
    notes = []
    with Lease(storage, "s", "resume", **_quiet(say=notes.append)):
        assert read_lease(storage, "s").pid == os.getpid()
    assert "gone from this host" in notes[0] and "raysubmit_abc" in notes[0]


def test_a_stale_heartbeat_from_another_host_is_taken_over_a_fresh_one_is_not(storage):
    _write_holder(storage, "s", host="elsewhere", pid=1, heartbeat=time.time() - 5)
    with pytest.raises(LeaseHeld, match="host elsewhere, pid 1, Ray job raysubmit_abc"):
        Lease(storage, "s", "resume", **_quiet(stale_after_s=60)).acquire()
    _write_holder(storage, "s", host="elsewhere", pid=1, heartbeat=time.time() - 120)
    notes = []
    with Lease(storage, "s", "resume", **_quiet(stale_after_s=60, say=notes.append)):
        pass
    assert "heartbeat is older than 60 s" in notes[0]


def test_force_takes_a_live_lease_and_the_holder_learns_it_at_its_next_heartbeat(storage):
    lost = threading.Event()
    first = Lease(storage, "s", "sweep", **_quiet(heartbeat_s=0.2, on_lost=lambda h: lost.set()))
    first.acquire()
    try:
        with Lease(storage, "s", "resume", **_quiet(force=True, heartbeat_s=0.2)) as second:
            assert lost.wait(10), "the first holder never saw its lease taken"
            assert first.lost.is_set()
            assert read_lease(storage, "s").token == second.token
    finally:
        first.release()  # not ours any more: the file is left to its holder
    assert read_lease(storage, "s") is None


def test_the_heartbeat_keeps_a_long_running_holder_fresh(storage):
    with Lease(storage, "s", "sweep", **_quiet(heartbeat_s=0.2)):
        first = read_lease(storage, "s").heartbeat
        time.sleep(1.0)
        assert read_lease(storage, "s").heartbeat > first
