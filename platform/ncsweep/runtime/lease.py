"""One writer per sweep: a lease in the sweep's storage, held with a heartbeat.

A sweep (or study) named ``name`` writes its Tune state, Optuna journal and MLflow verdicts
under ``<storage>/<name>``; two drivers doing that at once destroy each other's work (the
second one's reconciliation deleted the first one's finished runs as orphans). So every
driver that writes there first takes ``<storage>/<name>/lease.json`` (local path or any
fsspec URI, e.g. ``s3://``), keeps its heartbeat fresh from a daemon thread and removes it
when it ends. Another driver is refused (:class:`LeaseHeld`, a :class:`SpecError`: exit 2)
with the holder's host, pid, Ray job id and heartbeat age, unless

- the heartbeat is older than ``stale_after_s`` (the holder died on another host, e.g. a
  lost head node), or
- the holder ran on this host and its pid is gone (a killed driver: resume at once), or
- ``force`` is given (the user says the holder is gone; the holder, if alive, sees the
  lease taken at its next heartbeat and stops, as a killed driver would).

Object stores have no atomic create-if-absent that every backend honours, so taking the
lease is write-then-confirm: a driver writes its claim, waits ``settle_s``, reads the file
back and holds the lease only if its own claim is still there. Two drivers starting within
the same instant therefore cannot both win (the later writer wins; the earlier one sees the
later claim when it confirms).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import fsspec

from ..config import SpecError
from ..plan.state import sweep_dir
from ..tracking import tracking_user

__all__ = [
    "HEARTBEAT_S",
    "LEASE_FILE",
    "STALE_AFTER_S",
    "Lease",
    "LeaseHeld",
    "LeaseHolder",
    "console_notes",
    "exit_now",
    "read_lease",
]

LEASE_FILE = "lease.json"
HEARTBEAT_S = 10.0
# Six missed heartbeats: long enough for a storage hiccup, short enough to resume a sweep
# whose head node died without waiting long.
STALE_AFTER_S = 60.0


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a sweep's lease, as written in ``lease.json``."""

    token: str
    command: str
    host: str
    pid: int
    ray_job: str | None
    started: float
    heartbeat: float
    user: str | None = None  # tracking.tracking_user(); None in leases written before it

    def age_s(self, now: float | None = None) -> float:
        return max(0.0, (now if now is not None else time.time()) - self.heartbeat)

    def describe(self, now: float | None = None) -> str:
        job = f", Ray job {self.ray_job}" if self.ray_job else ""
        user = f" by {self.user}" if self.user else ""
        return (
            f"`ncsweep {self.command}`{user} on host {self.host}, pid {self.pid}{job}, "
            f"last heartbeat {self.age_s(now):.0f} s ago"
        )

    def is_gone(self, stale_after_s: float, now: float | None = None) -> str | None:
        """Why the holder no longer holds the lease (None: it may still be running)."""
        if self.age_s(now) > stale_after_s:
            return f"its heartbeat is older than {stale_after_s:.0f} s"
        if self.host == socket.gethostname() and not _pid_alive(self.pid):
            return f"pid {self.pid} is gone from this host"
        return None


class LeaseHeld(SpecError):
    """Another driver holds the sweep's lease (exit code 2)."""


def console_notes(console: Any) -> Callable[[str], None]:
    """``say`` for a rich console: notes in yellow, as the sweep's other warnings."""
    return lambda text: console.print(f"[yellow]{text}[/]", highlight=False)


def exit_now(holder: LeaseHolder | None) -> None:
    """What a driver does when another took its lease: exit at once (code 1), as a killed
    driver would. Its trial actors end with it; the new holder restores them from their
    checkpoints, which is what a resumed sweep does after a killed driver."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _ray_job_id() -> str | None:
    """The submission id of the Ray job whose entrypoint this driver is: Ray's job
    supervisor passes the job's metadata (``job_submission_id``) to the entrypoint in
    ``RAY_JOB_CONFIG_JSON_ENV_VAR``; None outside a Ray job."""
    try:
        config = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}"))
    except ValueError:
        return None
    return (config.get("metadata") or {}).get("job_submission_id")


def _url(storage: str, name: str) -> str:
    return f"{sweep_dir(storage, name)}/{LEASE_FILE}"


def read_lease(storage: str, name: str) -> LeaseHolder | None:
    """The holder recorded for sweep ``name`` (None: no lease, or an unreadable one)."""
    fs, path = fsspec.core.url_to_fs(_url(storage, name))
    try:
        with fs.open(path, "r") as handle:
            data = json.loads(handle.read())
        return LeaseHolder(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):  # half-written or foreign: treated as no lease
        return None


class Lease:
    """The lease of sweep ``name`` in ``storage``; a context manager.

    Args:
        command: what holds it (``sweep``, ``resume``, ``study``), shown to a refused driver.
        force: take the lease even from a live holder.
        stale_after_s: a heartbeat older than this frees the lease.
        heartbeat_s: how often the holder refreshes it.
        settle_s: how long a claim must stand before it is confirmed (module docstring).
        on_lost: called once, from the heartbeat thread, if another driver took the lease
            (default :func:`exit_now`).
        say: where notes go (taking over a stale lease, losing it).
    """

    def __init__(
        self,
        storage: str,
        name: str,
        command: str,
        *,
        force: bool = False,
        stale_after_s: float = STALE_AFTER_S,
        heartbeat_s: float = HEARTBEAT_S,
        settle_s: float = 1.0,
        on_lost: Callable[[LeaseHolder | None], None] | None = None,
        say: Callable[[str], None] = print,
    ):
        self.storage, self.name, self.command = storage, name, command
        self.force, self.stale_after_s = force, stale_after_s
        self.heartbeat_s, self.settle_s = heartbeat_s, settle_s
        self.on_lost, self.say = on_lost or exit_now, say
        self.token = uuid.uuid4().hex
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.time()
        self._fs, self._path = fsspec.core.url_to_fs(_url(storage, name))

    # -- the file ------------------------------------------------------------------------

    def _claim(self) -> LeaseHolder:
        return LeaseHolder(
            token=self.token,
            command=self.command,
            host=socket.gethostname(),
            pid=os.getpid(),
            ray_job=_ray_job_id(),
            started=self._started,
            heartbeat=time.time(),
            user=tracking_user(),
        )

    def _write(self) -> None:
        self._fs.makedirs(self._path.rsplit("/", 1)[0], exist_ok=True)
        with self._fs.open(self._path, "w") as handle:
            handle.write(json.dumps(asdict(self._claim())))

    def _holder(self) -> LeaseHolder | None:
        self._fs.invalidate_cache()
        return read_lease(self.storage, self.name)

    # -- taking, keeping, giving back ----------------------------------------------------

    def acquire(self) -> Lease:
        """Take the lease or raise :class:`LeaseHeld` naming the holder."""
        holder = self._holder()
        if holder is not None and holder.token != self.token:
            gone = holder.is_gone(self.stale_after_s)
            if gone is None and not self.force:
                raise LeaseHeld(
                    f"sweep {self.name} is being run by {holder.describe()} "
                    f"(lease {_url(self.storage, self.name)}). One driver writes a sweep at a "
                    f"time: wait for it, stop it (ray job stop / Ctrl-C), or pass --force if "
                    f"you know it is gone (a lease is taken over by itself once its heartbeat "
                    f"is {self.stale_after_s:.0f} s old)."
                )
            why = gone or "--force"
            self.say(f"taking over the lease of sweep {self.name} from {holder.describe()} ({why})")
        self._write()
        time.sleep(self.settle_s)
        confirmed = self._holder()
        if confirmed is None or confirmed.token != self.token:
            raise LeaseHeld(
                f"sweep {self.name} was claimed at the same moment by "
                f"{confirmed.describe() if confirmed else 'another driver'}; try again"
            )
        self._thread = threading.Thread(
            target=self._beat, name=f"ncsweep-lease-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                holder = self._holder()
                if holder is not None and holder.token != self.token:
                    self._lose(holder)
                    return
                self._write()
            except Exception as err:  # storage outage: try again at the next beat
                self.say(f"lease heartbeat for sweep {self.name} failed ({err}); retrying")

    def _lose(self, holder: LeaseHolder | None) -> None:
        self.lost.set()
        self.say(
            f"sweep {self.name}: the lease was taken over by "
            f"{holder.describe() if holder else 'another driver'}; this driver stops writing"
        )
        self.on_lost(holder)

    def release(self) -> None:
        """Stop the heartbeat and remove the lease file if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat_s + 5)
            self._thread = None
        try:
            holder = self._holder()
            if holder is not None and holder.token == self.token:
                self._fs.rm(self._path)
        except Exception as err:  # a lease left behind frees itself (stale or pid gone)
            self.say(f"could not remove the lease of sweep {self.name}: {err}")

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
