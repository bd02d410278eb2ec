"""One writer per sweep: a fenced lease in the sweep's storage, held with a heartbeat.

A sweep (or study) named ``name`` writes its Tune state, Optuna journal and MLflow verdicts
under ``<storage>/<name>``; two drivers doing that at once destroy each other's work. So
every driver that writes there first takes ``<storage>/<name>/lease.json`` and keeps it
until it ends. The lease is a lock (``lease_store.py``): it is created only if absent and
replaced only if unchanged since the writer read it (S3 conditional writes, probed once;
``os.link``/``os.rename`` under ``flock`` on a local or NFS path). A store that ignores
conditions falls back to write-then-confirm, which is not a lock; the driver says so.

The lease record holds a **generation**, incremented by every acquisition or takeover (a
released lease keeps its generation, so generations only grow), and a **beat** counter
the heartbeat increments. The generation is a fencing token: every destructive step
(removing orphans, replacing the journal, deleting runs, dropping old Tune state) calls
:func:`fence` right before it acts; that reads the lease and raises :class:`LeaseLost`
unless it still holds this driver's token and generation.

No wall clocks of different hosts are compared. A driver that finds the lease held watches
its content: if the generation or beat changes, the holder is alive and the driver is
refused (:class:`LeaseHeld`, exit 2). If nothing changes for ``stale_after_s +
margin_s`` on the watcher's own monotonic clock, the holder is gone and the watcher takes
over by compare-and-swap on the content it watched. The holder, on its own monotonic clock,
gives up (``lost``, ``on_lost``) when it has not renewed for ``stale_after_s``, i.e. before
anyone may take over; a failed read or write counts as a failed renewal, and a failed
renewal is tried again every ``heartbeat_s / 10`` (not at the next heartbeat), so an outage
of the storage shorter than about ``stale_after_s`` minus one heartbeat keeps the lease. A
half-written or unparsable lease file is held by an unknown holder, watched the same way,
and reported.
Shortcuts: a holder on this host whose pid is gone is taken over at once; ``force`` takes
a live lease (the holder's next renewal fails and it stops).
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

from ..config import SpecError
from ..plan.state import sweep_dir
from .lease_store import LeaseStore, lease_store

__all__ = [
    "HEARTBEAT_S",
    "LEASE_FILE",
    "STALE_AFTER_S",
    "Lease",
    "LeaseHeld",
    "LeaseHolder",
    "LeaseLost",
    "console_notes",
    "exit_now",
    "fence",
    "held_generation",
    "read_lease",
]

LEASE_FILE = "lease.json"
HEARTBEAT_S = 10.0
# Six missed heartbeats: long enough for a storage hiccup, short enough to resume a sweep
# whose head node died without waiting long.
STALE_AFTER_S = 60.0


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a sweep's lease, as written in ``lease.json``. ``started`` is the holder's
    wall clock, shown to people only; ``generation`` and ``beat`` are what readers watch."""

    token: str
    command: str
    host: str
    pid: int
    ray_job: str | None
    started: float
    generation: int = 0
    beat: int = 0
    user: str | None = None  # tracking.tracking_user(); None in leases written before it

    def describe(self) -> str:
        job = f", Ray job {self.ray_job}" if self.ray_job else ""
        user = f" by {self.user}" if self.user else ""
        return (
            f"`ncsweep {self.command}`{user} on host {self.host}, pid {self.pid}{job} "
            f"(lease generation {self.generation}, heartbeat {self.beat})"
        )

    def pid_gone(self) -> str | None:
        """Why the holder is gone if it ran on this host and its pid is gone, else None."""
        if self.host == socket.gethostname() and not _pid_alive(self.pid):
            return f"pid {self.pid} is gone from this host"
        return None


class LeaseHeld(SpecError):
    """Another driver holds the sweep's lease (exit code 2)."""


class LeaseLost(RuntimeError):
    """This driver no longer holds the lease it took (taken over, or not renewed in time):
    it must not write or delete anything more; the sweep ends resumable."""


def console_notes(console: Any) -> Callable[[str], None]:
    """``say`` for a rich console: notes in yellow, as the sweep's other warnings."""
    return lambda text: console.print(f"[yellow]{text}[/]", highlight=False)


def exit_now(holder: LeaseHolder | None) -> None:
    """A lost lease with nobody to stop gracefully: exit at once (code 1), as a killed
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


class _Unreadable:
    """A lease file that does not parse (half-written, foreign): held by someone unknown."""

    generation = 0

    def __init__(self, data: bytes):
        self.data = data

    def describe(self) -> str:
        return f"an unreadable lease file ({len(self.data)} bytes: {self.data[:60]!r})"


def _parse(data: bytes) -> LeaseHolder | _Unreadable | int:
    """A holder, an unreadable file, or (a released lease) its last generation."""
    try:
        record = json.loads(data)
        if record.get("released"):
            return int(record["generation"])
        return LeaseHolder(**record)
    except (ValueError, TypeError, KeyError, AttributeError):
        return _Unreadable(data)


def read_lease(storage: str, name: str) -> LeaseHolder | None:
    """The holder recorded for sweep ``name``; None when nobody holds it.

    Raises:
        LeaseHeld: the file does not parse (treated as held, never as free).
    """
    current = lease_store(_url(storage, name)).read()
    if current is None:
        return None
    parsed = _parse(current[0])
    if isinstance(parsed, _Unreadable):
        raise LeaseHeld(f"sweep {name}: {parsed.describe()} at {_url(storage, name)}")
    return parsed if isinstance(parsed, LeaseHolder) else None


_held: dict[str, Lease] = {}  # sweep folder -> the lease this process holds on it
_held_lock = threading.Lock()


def _covering(path: str) -> Lease | None:
    with _held_lock:
        for root, lease in _held.items():
            if path == root or path.startswith(root.rstrip("/") + "/"):
                return lease
    return None


def fence(path: str, what: str) -> None:
    """Right before a destructive step on ``path`` (or on what a sweep under it owns):
    check that this process still holds the lease covering it.

    Raises:
        LeaseLost: the lease was lost, taken, or cannot be read now.
    """
    lease = _covering(path)
    if lease is not None:
        lease.verify(what)


def held_generation(path: str) -> int | None:
    """The generation of the lease this process holds on ``path``'s sweep (None: none)."""
    lease = _covering(path)
    return lease.generation if lease is not None else None


class Lease:
    """The lease of sweep ``name`` in ``storage``; a context manager (module docstring).

    Args:
        command: what holds it (``sweep``, ``resume``, ``study``), shown to a refused driver.
        force: take the lease even from a live holder.
        stale_after_s: the lease time: a holder that has not renewed for this long stops,
            and a watcher that saw no change for this long (plus ``margin_s``) takes over.
        heartbeat_s: how often the holder renews it.
        margin_s: extra wait of a takeover (default: one heartbeat) for clock-rate drift.
        settle_s: how long a claim must stand on a store without conditional writes.
        on_lost: called once, from a lease thread, when the lease is lost (taken over, or
            not renewed within ``stale_after_s``); default :func:`exit_now`.
        say: where notes go (taking over a lease, losing it, failed renewals).
        store: the lease file's store (default: ``lease_store(<storage>/<name>/lease.json)``).
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
        margin_s: float | None = None,
        settle_s: float = 1.0,
        on_lost: Callable[[LeaseHolder | None], None] | None = None,
        say: Callable[[str], None] = print,
        store: LeaseStore | None = None,
    ):
        self.storage, self.name, self.command = storage, name, command
        self.force, self.stale_after_s = force, stale_after_s
        self.heartbeat_s, self.settle_s = heartbeat_s, settle_s
        self.margin_s = heartbeat_s if margin_s is None else margin_s
        self.on_lost, self.say = on_lost or exit_now, say
        self.token = uuid.uuid4().hex
        self.generation = 0
        self.lost = threading.Event()
        self._store = store
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = time.time()
        self._beat = 0
        self._version = ""
        self._renewed = 0.0  # monotonic start of the last renewal that landed
        self._lose_lock = threading.Lock()

    @property
    def store(self) -> LeaseStore:
        if self._store is None:
            self._store = lease_store(_url(self.storage, self.name), self.settle_s)
        return self._store

    def _record(self) -> bytes:
        # imported here: ``journal.py`` fences through this module and must stay free of
        # mlflow (whose import is slow and writes under ``$HOME``)
        from ..tracking import tracking_user

        holder = LeaseHolder(
            token=self.token,
            command=self.command,
            host=socket.gethostname(),
            pid=os.getpid(),
            ray_job=_ray_job_id(),
            started=self._started,
            generation=self.generation,
            beat=self._beat,
            user=tracking_user(),
        )
        return json.dumps(asdict(holder)).encode()

    # -- taking ------------------------------------------------------------------------

    def acquire(self) -> Lease:
        """Take the lease or raise :class:`LeaseHeld` naming the holder (module docstring)."""
        store = self.store
        if not store.conditional:
            self.say(
                f"the storage of sweep {self.name} ignores conditional writes: its lease is "
                f"write-then-confirm (not a lock when writes take over {self.settle_s:.1f} s)"
            )
        for _ in range(3):  # a create or swap lost to another driver: read again
            current = store.read()
            if current is None:
                self.generation, self._beat = 1, 0
                started = time.monotonic()  # the lease time runs from the write's start
                version = store.create(self._record())
            else:
                data, seen = current
                self.generation = self._takeover_generation(data, seen)
                self._beat = 0
                started = time.monotonic()
                version = store.replace(self._record(), seen)
            if version is not None:
                self._version, self._renewed = version, started
                break
        else:
            current = store.read()
            holder = _parse(current[0]) if current else None
            shown = holder.describe() if isinstance(holder, LeaseHolder) else "another driver"
            raise LeaseHeld(f"sweep {self.name} was claimed at the same moment by {shown}")
        with _held_lock:
            _held[sweep_dir(self.storage, self.name)] = self
        for target, role in ((self._heartbeat, "heartbeat"), (self._watchdog, "watchdog")):
            thread = threading.Thread(
                target=target, name=f"ncsweep-lease-{role}-{self.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _takeover_generation(self, data: bytes, seen: str) -> int:
        """The generation to claim over lease content ``data`` (version ``seen``): at once
        when released, its holder's pid is gone from this host, or ``force``; after
        watching it unchanged for ``stale_after_s + margin_s``; else :class:`LeaseHeld`."""
        parsed = _parse(data)
        if isinstance(parsed, int):
            return parsed + 1
        if isinstance(parsed, LeaseHolder) and parsed.token == self.token:
            return parsed.generation + 1
        why = parsed.pid_gone() if isinstance(parsed, LeaseHolder) else None
        if why is None and self.force:
            why = "--force"
        if why is None:
            self._watch(parsed, seen)
            why = f"its lease did not change for {self.stale_after_s + self.margin_s:g} s"
        self.say(f"taking over the lease of sweep {self.name} from {parsed.describe()} ({why})")
        return parsed.generation + 1

    def _watch(self, holder: LeaseHolder | _Unreadable, seen: str) -> None:
        """Return when the lease stayed at version ``seen`` for ``stale_after_s +
        margin_s`` on this driver's monotonic clock; raise :class:`LeaseHeld` as soon as
        it changes (its holder renews it: alive)."""
        wait = self.stale_after_s + self.margin_s
        self.say(
            f"sweep {self.name} has a lease by {holder.describe()}: watching it for up to "
            f"{wait:g} s (a holder renews every {self.heartbeat_s:g} s or so)"
        )
        deadline = time.monotonic() + wait
        poll = max(0.05, min(self.heartbeat_s / 2, 2.0))
        while time.monotonic() < deadline:
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
            current = self.store.read()
            if current is None or current[1] != seen:
                parsed = _parse(current[0]) if current else None
                shown = (
                    parsed.describe()
                    if parsed is not None and not isinstance(parsed, int)
                    else holder.describe()
                )
                raise LeaseHeld(
                    f"sweep {self.name} is being run by {shown} "
                    f"(lease {self.store.where}). One driver writes a sweep at a time: wait "
                    f"for it, stop it (ray job stop / Ctrl-C), or pass --force if you know it "
                    f"is gone (a lease that stops changing is taken over after "
                    f"{wait:g} s)."
                )

    # -- keeping -----------------------------------------------------------------------

    def _heartbeat(self) -> None:
        wait, failing_since = self.heartbeat_s, None
        while not self._stop.wait(wait) and not self.lost.is_set():
            started = time.monotonic()
            self._beat += 1
            try:
                version = self.store.replace(self._record(), self._version)
            except Exception as err:  # a failed renewal: the watchdog counts the time
                if failing_since is None:
                    failing_since = started
                    self.say(
                        f"lease heartbeat of sweep {self.name} failed ({err}); retrying every "
                        f"{self.heartbeat_s / 10:g} s (the lease is given up after "
                        f"{self.stale_after_s:g} s without a renewal)"
                    )
                wait = self.heartbeat_s / 10  # the storage may be back in a moment
                continue
            if version is None:
                version = self._own_version()  # a write that failed late may have landed
            if version is None:
                self._lose("another driver took it over")
                return
            if not self.lost.is_set():
                self._version, self._renewed = version, started
                if failing_since is not None:
                    self.say(
                        f"lease of sweep {self.name} renewed again after "
                        f"{time.monotonic() - failing_since:.0f} s of failed heartbeats"
                    )
            wait, failing_since = self.heartbeat_s, None

    def _own_version(self) -> str | None:
        """The lease's version if it holds this driver's token and generation, else None."""
        try:
            current = self.store.read()
        except Exception:
            return None
        parsed = _parse(current[0]) if current else None
        if isinstance(parsed, LeaseHolder) and (parsed.token, parsed.generation) == (
            self.token,
            self.generation,
        ):
            return current[1] if current else None
        return None

    def _watchdog(self) -> None:
        """Give the lease up once it has not been renewed for ``stale_after_s`` (a write
        that hangs, a storage that cannot be read): before anyone may take it over."""
        poll = max(0.02, min(self.heartbeat_s / 4, 1.0))
        while not self._stop.wait(poll) and not self.lost.is_set():
            if time.monotonic() - self._renewed > self.stale_after_s:
                self._lose(f"not renewed for {self.stale_after_s:g} s")
                return

    def _lose(self, why: str) -> None:
        with self._lose_lock:
            if self.lost.is_set():
                return
            self.lost.set()
        holder = None
        try:
            current = self.store.read()
            parsed = _parse(current[0]) if current else None
            holder = parsed if isinstance(parsed, LeaseHolder) else None
        except Exception:  # the storage may be what failed
            pass
        self.say(
            f"sweep {self.name}: lease generation {self.generation} lost ({why}); this "
            f"driver stops writing"
        )
        self.on_lost(holder)

    def verify(self, what: str) -> None:
        """Raise :class:`LeaseLost` unless the lease still holds this driver's token and
        generation, read now (``what``: the step about to act, named in the error)."""
        reason = None
        if self.lost.is_set():
            reason = "it was lost"
        elif time.monotonic() - self._renewed > self.stale_after_s:
            reason = f"it was not renewed for {self.stale_after_s:g} s"
        else:
            try:
                current = self.store.read()
            except Exception as err:
                current, reason = None, f"it cannot be read ({err})"
            if reason is None:
                parsed = _parse(current[0]) if current else None
                mine = (
                    isinstance(parsed, LeaseHolder)
                    and parsed.token == self.token
                    and parsed.generation == self.generation
                )
                if not mine:
                    shown = parsed.describe() if isinstance(parsed, LeaseHolder) else "nobody"
                    reason = f"it is now held by {shown}"
        if reason is not None:
            if not self.lost.is_set() and "cannot be read" not in reason:
                self._lose(reason)
            raise LeaseLost(
                f"sweep {self.name}: not {what}: this driver's lease (generation "
                f"{self.generation}) is not valid: {reason}; the sweep stops, resumable"
            )

    # -- giving back ---------------------------------------------------------------------

    def release(self) -> None:
        """Stop the lease threads and mark the lease released if it is still ours (its
        generation stays, so the next holder's is higher)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.heartbeat_s + 5)
        self._threads = []
        with _held_lock:
            if _held.get(sweep_dir(self.storage, self.name)) is self:
                del _held[sweep_dir(self.storage, self.name)]
        if self.lost.is_set() or not self._version:
            return
        try:
            released = json.dumps({"released": True, "generation": self.generation})
            self.store.replace(released.encode(), self._version)
        except Exception as err:  # a lease left behind is taken over once it stops changing
            self.say(f"could not release the lease of sweep {self.name}: {err}")

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
