"""The Optuna journal's working copy (``runtime/journal.py``), without Ray: a searcher that
Tune pickled resumes in another driver process, with another ``$HOME``, on that process's
own copy of the saved journal, and what it adds reaches storage."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from pathlib import Path

import optuna

from ncsweep.plan.settings import SweepSettings
from ncsweep.plan.spaces import load_space
from ncsweep.runtime.journal import load_study, open_study_storage, save_study
from ncsweep.runtime.searcher import StudyReader, build_searcher

# A later driver, as Tune resumes one: the journal is fetched (``sweep/runner.py`` opens
# it before Tune unpickles its searcher), the searcher's state is unpickled
# (``OptunaSearch.restore``), a trial is asked and told through the unpickled study, and
# the journal is saved (``StudySync``). Optuna and the journal only: no Ray, no torch.
RESUME = """
import pickle, sys
from ncsweep.runtime.journal import open_study_storage, save_study

storage, searcher_pkl = sys.argv[1:]
open_study_storage(storage, "s", "ce", restore=True)
with open(searcher_pkl, "rb") as handle:
    state = pickle.load(handle)
study = state["_ot_study"]
trial = study.ask()
state["_space"](trial)
study.tell(trial, 0.7)
save_study(storage, "s", "ce")
"""


def test_a_searcher_resumed_under_another_home_adds_its_trials_to_the_saved_study(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("HOME", str(tmp_path / "home-a"))
    storage = str(tmp_path / "storage")
    settings = SweepSettings(sampler="random", trials=4, seed=1)
    limiter = build_searcher(
        settings,
        load_space("ce").suggest,
        0,
        1,
        open_study_storage(storage, "s", "ce", restore=False),
        "ce",
        read_study=StudyReader(storage, "s"),
    )
    limiter.suggest("t0")
    result = {"val/acc1": 0.6, "objective/nc_steps": 100.0, "status": "done"}
    limiter.on_trial_complete("t0", result)
    save_study(storage, "s", "ce")
    searcher_pkl = tmp_path / "searcher.pkl"
    limiter.save(str(searcher_pkl))  # what Tune keeps in its experiment state
    # no journal file's path is pickled (the module ncsweep.runtime.journal is)
    assert re.search(rb"/[^/\x00-\x1f]*\.journal", searcher_pkl.read_bytes()) is None

    resumed = subprocess.run(
        [sys.executable, "-c", RESUME, storage, str(searcher_pkl)],
        env={"HOME": str(tmp_path / "home-b"), "PYTHONPATH": ":".join(sys.path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert [t.value for t in load_study(storage, "s", "ce").trials] == [0.6, 0.7]
    assert not Path(tmp_path / "home-b").exists()  # nothing of the journal under $HOME


def test_an_unpickled_study_storage_fetches_the_saved_journal_when_this_process_has_none(
    tmp_path,
):
    storage = str(tmp_path / "storage")
    journal = open_study_storage(storage, "s", "ce", restore=False)
    study = optuna.create_study(storage=journal, study_name="ce")
    study.enqueue_trial({"lr": 0.1})
    trial = study.ask()
    trial.suggest_float("lr", 0.01, 1.0)
    study.tell(trial, 0.5)
    save_study(storage, "s", "ce")
    data = pickle.dumps(journal)
    code = (
        "import pickle, sys, optuna; "
        "s = pickle.loads(sys.stdin.buffer.read()); "
        "print([t.value for t in optuna.load_study(study_name='ce', storage=s).trials])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=data,
        env={"PYTHONPATH": ":".join(sys.path)},
        capture_output=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().strip() == "[0.5]"


def test_a_save_during_an_append_keeps_the_saved_journal_appendable(tmp_path):
    """``StudySync`` saves while Optuna may be appending: a half-written last line is not
    saved, so the driver that resumes from the saved journal can append to it."""
    from ncsweep.runtime.journal import _working_path

    storage = str(tmp_path / "storage")
    study = optuna.create_study(
        storage=open_study_storage(storage, "s", "ce", restore=False), study_name="ce"
    )
    study.enqueue_trial({"lr": 0.1})
    study.tell(study.ask({"lr": optuna.distributions.FloatDistribution(0.01, 1.0)}), 0.5)
    with _working_path(storage, "s", "ce").open("ab") as working:
        working.write(b'{"op_code":4,"worker_id":"half')  # an append under way
    save_study(storage, "s", "ce")

    resumed = optuna.load_study(
        storage=open_study_storage(storage, "s", "ce", restore=True), study_name="ce"
    )
    resumed.tell(resumed.ask({"lr": optuna.distributions.FloatDistribution(0.01, 1.0)}), 0.6)
    save_study(storage, "s", "ce")
    assert [t.value for t in load_study(storage, "s", "ce").trials] == [0.5, 0.6]
