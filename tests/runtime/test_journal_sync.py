"""``StudySync`` (``runtime/journal_sync.py``) without Ray trials: Tune's loop never waits
for a journal upload (a driver blocked past Ray Train's 60 s health check stops healthy
trials), saves asked for during an upload are coalesced into one, and the end of the
experiment uploads the latest journal once more. Storage is a test protocol, an fsspec
memory filesystem whose uploads wait for the test's word."""

from __future__ import annotations

import pickle
import threading

import fsspec
import optuna
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from ncsweep.runtime.journal import journal_url, load_study, open_study_storage
from ncsweep.runtime.journal_sync import StudySync

GUARD_S = 30  # only a broken StudySync waits this long (a test that would hang fails)


class GatedMemoryFileSystem(MemoryFileSystem):
    """Memory filesystem of its own whose ``put_file`` records what it uploads and from
    which thread, then waits for ``gate`` (``PermissionError``, which ``retry_storage``
    does not retry, if the test never opens it)."""

    protocol = "gatedmem"
    store: dict = {}
    pseudo_dirs = [""]
    entered = threading.Semaphore(0)
    gate = threading.Semaphore(0)
    puts: list[tuple[threading.Thread, bytes]] = []
    refuse = False  # every upload fails at once

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(str(path).removeprefix("gatedmem://"))

    def put_file(self, lpath, rpath, **kwargs):
        if type(self).refuse:
            raise PermissionError("refused by the test")
        with open(lpath, "rb") as handle:
            type(self).puts.append((threading.current_thread(), handle.read()))
        type(self).entered.release()
        if not type(self).gate.acquire(timeout=GUARD_S):
            raise PermissionError("the test never let this upload through")
        super().put_file(lpath, rpath, **kwargs)


@pytest.fixture
def gated():
    fsspec.register_implementation("gatedmem", GatedMemoryFileSystem, clobber=True)
    GatedMemoryFileSystem.store.clear()
    GatedMemoryFileSystem.pseudo_dirs[:] = [""]
    GatedMemoryFileSystem.entered = threading.Semaphore(0)
    GatedMemoryFileSystem.gate = threading.Semaphore(0)
    GatedMemoryFileSystem.puts = []
    GatedMemoryFileSystem.refuse = False
    return GatedMemoryFileSystem


def _values(journal: bytes, tmp_path) -> list[float | None]:
    local = tmp_path / f"upload-{len(list(tmp_path.iterdir()))}.journal"
    local.write_bytes(journal)
    storage = JournalStorage(JournalFileBackend(str(local)))
    return [t.value for t in optuna.load_study(study_name="ce", storage=storage).trials]


def test_uploads_leave_tunes_loop_free_coalesce_and_end_with_one_upload_of_the_latest(
    gated, tmp_path
):
    storage = "gatedmem://bucket/sweeps"
    study = optuna.create_study(
        storage=open_study_storage(storage, "s", "ce", restore=False), study_name="ce"
    )

    def add(value: float) -> None:
        study.tell(study.ask({"lr": optuna.distributions.FloatDistribution(0.01, 1.0)}), value)

    sync = StudySync(storage, "s", "ce")
    add(0.1)
    assert sync.get_state() is None
    assert gated.entered.acquire(timeout=GUARD_S)  # the upload started, and is held
    assert gated.puts[0][0] is not threading.current_thread()  # not on Tune's loop
    fs, path = fsspec.core.url_to_fs(journal_url(storage, "s", "ce"))
    assert not fs.exists(path)  # get_state returned with its upload still held
    # Tune pickles its callbacks (tuner.pkl) while an upload runs
    copy = pickle.loads(pickle.dumps(sync))
    assert (copy.storage, copy.name, copy.family) == (storage, "s", "ce")

    add(0.2)
    sync.get_state()
    add(0.3)
    sync.get_state()
    gated.gate.release()  # the first upload lands
    assert gated.entered.acquire(timeout=GUARD_S)  # one more for the two saves asked since
    add(0.4)
    gated.gate.release(2)  # that one, and the last
    sync.on_experiment_end(trials=[])

    uploaded = [_values(data, tmp_path) for _, data in gated.puts]
    assert uploaded == [[0.1], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4]]
    assert [t.value for t in load_study(storage, "s", "ce").trials] == [0.1, 0.2, 0.3, 0.4]


def test_the_last_upload_failing_for_good_is_raised_on_tunes_loop(gated):
    storage = "gatedmem://bucket/sweeps"
    study = optuna.create_study(
        storage=open_study_storage(storage, "s", "ce", restore=False), study_name="ce"
    )
    study.tell(study.ask({"lr": optuna.distributions.FloatDistribution(0.01, 1.0)}), 0.1)
    gated.refuse = True
    sync = StudySync(storage, "s", "ce")
    sync.get_state()
    with pytest.raises(PermissionError, match="refused by the test"):
        sync.on_experiment_end(trials=[])
