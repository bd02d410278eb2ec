"""Issue 28: the saved Optuna journal is replaced or deleted only under the sweep's lease
(``journal.py`` fences right before the write). The driver whose lease another driver took
(here: the lease file rewritten to another holder, as a driver on another host does) raises
``LeaseLost`` and leaves the new holder's journal as it is, on every path: a fresh study,
a background save, the last save at the end of the experiment."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import optuna
import pytest

from ncsweep.runtime.journal import open_study_storage, save_study
from ncsweep.runtime.journal_sync import StudySync
from ncsweep.runtime.lease import Lease, LeaseHolder, LeaseLost
from ncsweep.runtime.lease_store import lease_store

SPACE = {"lr": optuna.distributions.FloatDistribution(0.01, 1.0)}


def _take_over(storage: str, name: str) -> None:
    """Another driver's takeover: the lease now holds its token and the next generation."""
    store = lease_store(f"{storage}/{name}/lease.json")
    data, version = store.read()
    theirs = replace(LeaseHolder(**json.loads(data)), token="other", host="elsewhere")
    theirs = replace(theirs, generation=theirs.generation + 1, beat=0)
    assert store.replace(json.dumps(asdict(theirs)).encode(), version) is not None


def test_a_driver_that_lost_its_lease_neither_replaces_nor_deletes_the_saved_journal(tmp_path):
    storage = str(tmp_path / "ray")
    lost: list[object] = []
    lease = Lease(storage, "s", "sweep", heartbeat_s=0.05, on_lost=lost.append, say=lambda _: 0)
    with lease:
        study = optuna.create_study(
            storage=open_study_storage(storage, "s", "ce", restore=False), study_name="ce"
        )
        study.tell(study.ask(SPACE), 0.1)
        save_study(storage, "s", "ce")  # the holder saves
        saved = (tmp_path / "ray" / "s" / "studies" / "ce.journal").read_bytes()
        _take_over(storage, "s")
        study.tell(study.ask(SPACE), 0.2)
        with pytest.raises(LeaseLost, match="not replacing the Optuna study of ce"):
            save_study(storage, "s", "ce")
        background = StudySync(storage, "s", "ce")
        background.get_state()  # an upload in the background thread: refused, logged
        with pytest.raises(LeaseLost):  # the last one raises on Tune's loop, not retried
            background.on_experiment_end(trials=[])
        with pytest.raises(LeaseLost):  # the last one without a background upload before
            StudySync(storage, "s", "ce").on_experiment_end(trials=[])
        with pytest.raises(LeaseLost, match="not deleting the Optuna study of ce"):
            open_study_storage(storage, "s", "ce", restore=False)
        assert (tmp_path / "ray" / "s" / "studies" / "ce.journal").read_bytes() == saved
