"""Each family's Optuna study, saved next to the sweep's Tune state.

The study of family ``f`` of sweep ``name`` is an Optuna ``JournalStorage`` file at
``<storage>/<name>/studies/<f>.journal`` (a local path or any fsspec URI such as
``s3://``): a resumed sweep continues it and reports read it with ``load_study``.

Optuna appends to a working copy on the driver's disk (journal file locks need a local
filesystem), at ``~/.cache/ncsweep/studies/<hash of the sweep dir>/<f>.journal``: the path
is fixed so that the searcher Tune pickles into its experiment state finds its journal
again in a later job. The copy is saved to storage whenever Tune saves its experiment
state (a Tune callback's ``get_state``), so after a killed driver the two agree, and when
the family ends. A save that meets a storage outage does not end the sweep (Tune's own
state upload only logs its failures too): the next save, seconds later, catches up; the
last one waits out an outage of up to ``STORAGE_OUTAGE_S`` (``train/checkpoint.py``).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import fsspec
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from ..config import SpecError
from ..plan.state import sweep_dir

__all__ = ["journal_url", "load_study", "open_study_storage", "read_working_study", "save_study"]


def journal_url(storage: str, name: str, family: str) -> str:
    return f"{sweep_dir(storage, name)}/studies/{family}.journal"


def _working_path(storage: str, name: str, family: str) -> Path:
    key = hashlib.sha1(sweep_dir(storage, name).encode()).hexdigest()[:16]
    return Path.home() / ".cache" / "ncsweep" / "studies" / key / f"{family}.journal"


def open_study_storage(storage: str, name: str, family: str, restore: bool) -> JournalStorage:
    """The family's journal storage for ``OptunaSearch(storage=..., study_name=family)``.

    ``restore``: Tune restores the sweep; the saved journal is fetched into the working
    copy. Otherwise a fresh study: any journal left by an earlier sweep of this name goes.
    """
    local = _working_path(storage, name, family)
    local.parent.mkdir(parents=True, exist_ok=True)
    fs, path = fsspec.core.url_to_fs(journal_url(storage, name, family))
    if restore and fs.exists(path):
        fs.get(path, str(local))
    else:
        local.unlink(missing_ok=True)
        if fs.exists(path):
            fs.rm(path)
    return JournalStorage(JournalFileBackend(str(local)))


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
    """Copy the working journal to storage (a no-op before Optuna wrote anything)."""
    local = _working_path(storage, name, family)
    if not local.exists():
        return
    fs, path = fsspec.core.url_to_fs(journal_url(storage, name, family))
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.put(str(local), path)


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
