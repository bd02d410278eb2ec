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
from botocore.exceptions import BotoCoreError

from ncsweep.runtime.lease import Lease, LeaseHeld, read_lease
from ncsweep.runtime.lease_store import LocalStore, S3Store, lease_filesystem, lease_store
from ncsweep.tracking import tracking_user
from services import dropping_port


def _quiet(**kw) -> dict:
    return {"settle_s": 0.05, "heartbeat_s": 0.1, "say": lambda text: None, **kw}


def test_the_store_is_a_compare_and_swap_on_local_paths_and_on_s3(storage):
    store = lease_store(f"{storage}/s/lease.json")
    assert isinstance(store, LocalStore if storage.startswith("/") else S3Store)
    first = store.create(b"a")
    assert first is not None and store.create(b"b") is None  # create-if-absent
    assert store.read() == (b"a", first)
    second = store.replace(b"c", first)
    assert second is not None and store.replace(b"d", first) is None  # a stale version
    assert store.read() == (b"c", second)


def test_a_held_lease_refuses_a_second_driver_naming_the_holder(storage):
    with Lease(storage, "s", "sweep", **_quiet()) as first:
        holder = read_lease(storage, "s")
        assert holder is not None and holder.pid == os.getpid() and holder.generation == 1
        with pytest.raises(LeaseHeld) as refused:
            Lease(storage, "s", "resume", **_quiet()).acquire()
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message and socket.gethostname() in message
        assert "`ncsweep sweep`" in message and "generation 1" in message
        assert holder.user == tracking_user() and f" by {holder.user} " in message
        assert "--force" in message
        assert not first.lost.is_set()
    assert read_lease(storage, "s") is None  # released: the next driver may run
    with Lease(storage, "s", "resume", **_quiet()) as second:
        assert second.generation == 2  # a released lease keeps its generation


def _write_holder(storage: str, name: str, text: str | None = None, **fields) -> None:
    holder = {
        "token": "other",
        "command": "sweep",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "ray_job": "raysubmit_abc",
        "started": time.time(),
        "generation": 7,
        "beat": 3,
        **fields,
    }
    data = (text if text is not None else json.dumps(holder)).encode()
    url = f"{storage}/{name}/lease.json"
    if url.startswith("s3://"):
        s3fs.S3FileSystem(skip_instance_cache=True).pipe(url, data)
    else:
        os.makedirs(os.path.dirname(url), exist_ok=True)
        with open(url, "wb") as handle:
            handle.write(data)


def test_a_lease_of_a_dead_pid_on_this_host_is_taken_over_at_once(storage):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    _write_holder(storage, "s", pid=int(dead.stdout))
    notes = []
    with Lease(storage, "s", "resume", **_quiet(stale_after_s=60, say=notes.append)) as lease:
        assert read_lease(storage, "s").pid == os.getpid()
        assert lease.generation == 8
    assert "gone from this host" in notes[0] and "raysubmit_abc" in notes[0]


def test_a_lease_is_stale_when_it_stops_changing_whatever_clock_it_was_written_with(storage):
    # the written start time is a day ahead: only the reader's monotonic clock counts
    _write_holder(storage, "s", host="elsewhere", pid=1, started=time.time() + 86_400)
    notes = []
    waited = time.monotonic()
    with Lease(storage, "s", "resume", **_quiet(stale_after_s=0.5, say=notes.append)):
        assert time.monotonic() - waited >= 0.5 + 0.1  # lease time plus margin
    assert "did not change for 0.6 s" in notes[-1] and "host elsewhere" in notes[-1]


def test_a_half_written_lease_is_held_not_free(storage):
    _write_holder(storage, "s", text='{"token": "oth')
    with pytest.raises(LeaseHeld, match="unreadable lease file"):
        read_lease(storage, "s")
    notes = []
    with Lease(storage, "s", "resume", **_quiet(stale_after_s=0.3, say=notes.append)):
        pass  # taken only after it stayed unchanged, and said so
    assert any("unreadable lease file" in note and "taking over" in note for note in notes)


def test_force_takes_a_live_lease_and_the_holder_learns_it_at_its_next_heartbeat(storage):
    lost = threading.Event()
    first = Lease(storage, "s", "sweep", **_quiet(on_lost=lambda h: lost.set()))
    first.acquire()
    try:
        with Lease(storage, "s", "resume", **_quiet(force=True)) as second:
            assert lost.wait(10), "the first holder never saw its lease taken"
            assert first.lost.is_set()
            assert read_lease(storage, "s").token == second.token
            assert second.generation == first.generation + 1
    finally:
        first.release()  # not ours any more: the file is left to its holder
    assert read_lease(storage, "s") is None


def test_the_heartbeat_keeps_a_long_running_holder_fresh(storage):
    with Lease(storage, "s", "sweep", **_quiet()):
        first = read_lease(storage, "s").beat
        time.sleep(1.0)
        assert read_lease(storage, "s").beat > first


def test_an_s3_lease_call_tries_once_so_the_heartbeat_owns_the_retries(monkeypatch):
    """A port that accepts and drops every connection: the lease's S3 client tries a call
    once (aiohttp may reconnect once: two connections at most); with s3fs's and botocore's
    own retries the same call connected 30 times over 25 s here and kept a heartbeat busy
    after an outage had ended."""
    with dropping_port() as (port, connections):
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        for key, value in {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}.items():
            monkeypatch.setenv(key, value)
        fs, path = lease_filesystem("s3://sweeps/s/lease.json")
        with pytest.raises((OSError, BotoCoreError)):  # the connection was closed
            S3Store(fs, path).replace(b"{}", "etag")
    assert 1 <= len(connections) <= 2
