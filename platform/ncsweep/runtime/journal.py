"""Each family's Optuna study, saved next to the sweep's Tune state.

The study of family ``f`` of sweep ``name`` is an Optuna ``JournalStorage`` file at
``<storage>/<name>/studies/<f>.journal`` (a local path or any fsspec URI such as
``s3://``): a resumed sweep continues it and reports read it with ``load_study``.

Optuna appends to a working copy on the driver's disk (journal file locks need a local
filesystem), in a folder this process creates in the system's temporary directory
(:func:`_working_dir`, removed when the process exits), one file per sweep and family,
named by a hash of ``(storage, name, family)``. Nothing of that path is pickled: the
searcher Tune pickles into its experiment state holds a :class:`SweepJournal`, which
pickles as ``(storage, name, family)`` and unpickles onto this process's working copy, so
a resumed driver (another host, another user, another ``$HOME``) never appends to a copy
an earlier driver left behind. The copy is saved to storage whenever Tune saves its
experiment state (``journal_sync.StudySync``, in the background), so after a killed
driver storage is at most one save behind, and when the family ends. A save that meets a
storage outage does not end the sweep (Tune's own state upload only logs its failures
too): the next save, seconds later, catches up; the last one waits out an outage of up to
``STORAGE_OUTAGE_S`` (``train/checkpoint.py``).

Replacing or deleting the saved journal is fenced (``lease.fence``, right before the
write): a driver that lost the sweep's lease raises ``lease.LeaseLost`` instead of
overwriting the journal of the driver that holds it now.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
import threading
from pathlib import Path

import fsspec
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from ..config import SpecError
from ..plan.state import sweep_dir
from .lease import fence

__all__ = [
    "StudyReader",
    "SweepJournal",
    "journal_url",
    "load_study",
    "open_study_storage",
    "read_working_study",
    "save_study",
]


def journal_url(storage: str, name: str, family: str) -> str:
    return f"{sweep_dir(storage, name)}/studies/{family}.journal"


_dir_lock = threading.Lock()
_dir: Path | None = None


def _working_dir() -> Path:
    """This process's folder of working journals: created on first use (mode 0700, in
    ``tempfile.gettempdir()``), removed at exit; a later driver starts from storage."""
    global _dir
    with _dir_lock:
        if _dir is None:
            _dir = Path(tempfile.mkdtemp(prefix="ncsweep-studies-"))
            atexit.register(shutil.rmtree, _dir, ignore_errors=True)
        return _dir


def _working_path(storage: str, name: str, family: str) -> Path:
    key = hashlib.sha1("\0".join((storage, name, family)).encode()).hexdigest()[:16]
    return _working_dir() / f"{family}-{key}.journal"


def _fetch(storage: str, name: str, family: str) -> None:
    """The saved journal, if any, becomes this process's working copy (else none)."""
    local = _working_path(storage, name, family)
    fs, path = fsspec.core.url_to_fs(journal_url(storage, name, family))
    if fs.exists(path):
        fs.get(path, str(local))
    else:
        local.unlink(missing_ok=True)


class SweepJournal(JournalStorage):
    """The ``JournalStorage`` of family ``family`` of sweep ``name`` on this process's
    working copy. Pickles as ``(storage, name, family)``; unpickling attaches to the
    unpickling process's working copy, fetched from storage if that process has none yet
    (:func:`open_study_storage` normally fetched it before Tune unpickles its searcher)."""

    def __init__(self, storage: str, name: str, family: str) -> None:
        self.sweep = (storage, name, family)
        super().__init__(JournalFileBackend(str(_working_path(storage, name, family))))

    def __reduce__(self) -> tuple:
        return (_attach, self.sweep)


def _attach(storage: str, name: str, family: str) -> SweepJournal:
    if not _working_path(storage, name, family).exists():
        _fetch(storage, name, family)
    return SweepJournal(storage, name, family)


def open_study_storage(storage: str, name: str, family: str, restore: bool) -> SweepJournal:
    """The family's journal storage for ``OptunaSearch(storage=..., study_name=family)``.

    ``restore``: Tune restores the sweep; the saved journal is fetched into the working
    copy. Otherwise a fresh study: any journal left by an earlier sweep of this name goes.

    Raises:
        LeaseLost: a journal to delete, and this process no longer holds the sweep's lease.
    """
    if restore:
        _fetch(storage, name, family)
    else:
        _working_path(storage, name, family).unlink(missing_ok=True)
        fs, path = fsspec.core.url_to_fs(journal_url(storage, name, family))
        if fs.exists(path):
            fence(journal_url(storage, name, family), f"deleting the Optuna study of {family}")
            fs.rm(path)
    return SweepJournal(storage, name, family)


def read_working_study(storage: str, name: str, family: str) -> optuna.Study | None:
    """The study of ``family`` as this driver's working copy holds it now (another family's
    searcher reads it for relative constraints); None before Optuna wrote anything."""
    local = _working_path(storage, name, family)
    if not local.exists():
        return None
    try:
        return optuna.load_study(
            study_name=family, storage=JournalStorage(JournalFileBackend(str(local)))
        )
    except KeyError:  # the journal exists, the study not yet
        return None


def save_study(storage: str, name: str, family: str) -> None:
    """Copy the working journal to storage (a no-op before Optuna wrote anything).

    The copy ends at the last complete line: Optuna may be appending in another thread
    (``StudySync`` saves in the background), and a half line saved would, once a resumed
    driver appends after it, make the journal unreadable (Optuna tolerates a broken line
    only at the end).

    Raises:
        LeaseLost: this process no longer holds the sweep's lease (nothing is written).
    """
    local = _working_path(storage, name, family)
    if not local.exists():
        return
    data = local.read_bytes()
    fs, path = fsspec.core.url_to_fs(journal_url(storage, name, family))
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with tempfile.TemporaryDirectory(dir=_working_dir()) as tmp:
        snapshot = Path(tmp) / local.name
        snapshot.write_bytes(data[: data.rfind(b"\n") + 1])
        fence(journal_url(storage, name, family), f"replacing the Optuna study of {family}")
        fs.put(str(snapshot), path)


def load_study(storage: str, name: str, family: str) -> optuna.Study:
    """The saved study of ``family`` in sweep ``name`` (read-only use: reports, plots)."""
    url = journal_url(storage, name, family)
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        raise SpecError(
            f"no Optuna study for family {family} of sweep {name!r} (looked for {url}); "
            f"pass the --storage the sweep ran with"
        )
    with tempfile.TemporaryDirectory(prefix="ncsweep-study-") as tmp:
        local = Path(tmp) / f"{family}.journal"
        fs.get(path, str(local))
        source = JournalStorage(JournalFileBackend(str(local)))
        target = optuna.storages.InMemoryStorage()
        optuna.copy_study(
            from_study_name=family, from_storage=source, to_storage=target, to_study_name=family
        )
    return optuna.load_study(study_name=family, storage=target)


class StudyReader:
    """Reads another family's study from this driver's working journal (picklable: Tune
    saves the searcher with it)."""

    def __init__(self, storage: str, name: str) -> None:
        self.storage, self.name = storage, name

    def __call__(self, family: str) -> optuna.Study | None:
        return read_working_study(self.storage, self.name, family)
