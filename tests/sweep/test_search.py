"""The searcher uses Optuna through Ray's public OptunaSearch API; what it relies on is pinned."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from ncsweep.plan.sweep_config import SweepSettings
from ncsweep.runtime.searcher import CompletedOnlyOptunaSearch, build_searcher


def _space(trial):
    trial.suggest_float("loss.temperature", 0.05, 0.5, log=True)


def _searcher(storage) -> CompletedOnlyOptunaSearch:
    return CompletedOnlyOptunaSearch(
        space=_space,
        metric="val/acc1",
        mode="max",
        sampler=optuna.samplers.RandomSampler(seed=0),
        storage=storage,
        study_name="pinned",
    )


def test_a_trial_without_result_or_error_is_told_to_optuna_as_pruned():
    """The behaviour of OptunaSearch.on_trial_complete the adapter relies on."""
    storage = optuna.storages.InMemoryStorage()
    searcher = _searcher(storage)
    for trial_id in ("done", "stopped", "failed"):
        assert "loss.temperature" in searcher.suggest(trial_id)
    searcher.on_trial_complete("done", {"val/acc1": 0.9, "status": "done"})
    searcher.on_trial_complete("stopped", {"val/acc1": 0.5, "status": "running"})
    searcher.on_trial_complete("failed", None, error=True)
    study = optuna.load_study(study_name="pinned", storage=storage)
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]
    assert study.best_trial.value == 0.9  # the early accuracy 0.5 never reached the study


def test_build_searcher_is_multi_objective_for_pareto_and_holds_the_study_in_storage():
    storage = optuna.storages.InMemoryStorage()
    limiter = build_searcher(
        SweepSettings(objective="pareto", trials=3), _space, 0, 2, storage, "family-ce"
    )
    limiter.suggest("t1")
    study = optuna.load_study(study_name="family-ce", storage=storage)
    assert len(study.directions) == 2 and len(study.get_trials()) == 1


def test_a_trial_run_again_after_the_study_recorded_it_keeps_its_first_verdict(tmp_path):
    # a resumed sweep re-runs a trial whose COMPLETE verdict reached the study's journal
    # before the driver died (Tune's own state had not saved it yet)
    backend = optuna.storages.journal.JournalFileBackend(str(tmp_path / "journal.log"))
    storage = optuna.storages.JournalStorage(backend)
    searcher = _searcher(storage)
    searcher.suggest("t")
    searcher.save(str(tmp_path / "searcher.pkl"))  # Tune's last snapshot: "t" running
    searcher.on_trial_complete("t", {"val/acc1": 0.9, "status": "done", "training_iteration": 2})
    resumed = _searcher(storage)  # the next driver
    resumed.restore(str(tmp_path / "searcher.pkl"))
    resumed.on_trial_result("t", {"val/acc1": 0.7, "training_iteration": 1})
    resumed.on_trial_complete("t", {"val/acc1": 0.8, "status": "done", "training_iteration": 2})
    study = optuna.load_study(study_name="pinned", storage=storage)
    assert [(t.state, t.value) for t in study.get_trials()] == [(TrialState.COMPLETE, 0.9)]


def _resumed_without_b(settings: SweepSettings, storage, tmp_path):
    """A searcher restored from a checkpoint taken after it suggested "a" and before "b",
    to which "b" then reports its first result; returns it, b's config and b's
    ``config/<key>`` result keys."""
    first = build_searcher(settings, _space, 0, 2, storage, "pinned")
    first.suggest("a")
    first.save_to_dir(str(tmp_path), session_str="s")  # what SearchGenerator.save_to_dir does
    limiter_state = first.get_state()
    config_b = first.suggest("b")
    resumed = build_searcher(settings, _space, 0, 2, storage, "pinned")
    resumed.set_state(limiter_state)
    resumed.restore_from_dir(str(tmp_path))
    flat = {f"config/{k}": v for k, v in config_b.items()}
    resumed.on_trial_result("b", {**flat, "training_iteration": 1})
    return resumed, config_b, flat


@pytest.mark.parametrize("persistent", [True, False], ids=["journal", "in-memory"])
def test_a_trial_tune_restored_that_the_searcher_checkpoint_missed_is_adopted(tmp_path, persistent):
    # Tune uploads experiment state and searcher checkpoint separately: a driver killed in
    # between leaves a restored trial "b" that the restored searcher never suggested.
    if persistent:
        backend = optuna.storages.journal.JournalFileBackend(str(tmp_path / "journal.log"))
        storage = optuna.storages.JournalStorage(backend)
    else:
        storage = optuna.storages.InMemoryStorage()
    settings = SweepSettings(trials=4)
    resumed, config_b, flat = _resumed_without_b(settings, storage, tmp_path)
    assert resumed.suggest("c") is None  # "a" and "b" run: the limit of 2 holds
    resumed.on_trial_complete("b", {**flat, "val/acc1": 0.8, "status": "done"})
    # the in-memory study travelled in the searcher's pickle: read the restored copy
    study = (
        resumed.searcher._ot_study
        if not persistent
        else optuna.load_study(study_name="pinned", storage=storage)
    )
    states = sorted((t.state.name, t.value, t.params == config_b) for t in study.get_trials())
    assert states == [("COMPLETE", 0.8, True), ("RUNNING", None, False)]
    assert resumed.suggest("c") is not None  # "b" freed its slot


def test_an_unknown_trial_without_its_parameters_is_left_untold():
    # results without config/<param> keys: nothing to adopt it by, and no KeyError
    searcher = _searcher(optuna.storages.InMemoryStorage())
    searcher.on_trial_result("ghost", {"val/acc1": 0.5, "training_iteration": 1})
    searcher.on_trial_complete("ghost", {"val/acc1": 0.5, "status": "done"})
    assert searcher._ot_study.get_trials() == []


def test_a_trial_adopted_after_a_resume_is_told_with_its_constraints(tmp_path):
    # as the adoption test above, under a constraint: "b" is adopted by number and must reach
    # the study with its violation (a constrained sampler would otherwise count it feasible)
    storage = optuna.storages.InMemoryStorage()
    settings = SweepSettings(trials=4, constraint=["val/acc1>=0.85"])
    resumed, config_b, flat = _resumed_without_b(settings, storage, tmp_path)
    assert isinstance(resumed.searcher._ot_trials["b"], int)  # adopted by number
    resumed.on_trial_complete("b", {**flat, "val/acc1": 0.8, "status": "done"})
    (done,) = [t for t in resumed.searcher._ot_study.get_trials() if t.state.is_finished()]
    assert done.params == config_b and done.value == 0.8
    assert done.constraints == {"val/acc1>=0.85": pytest.approx(0.05)}
    assert done.user_attrs == {"val/acc1": 0.8}


def test_a_constrained_trial_run_again_after_its_verdict_keeps_its_first_constraints(tmp_path):
    backend = optuna.storages.journal.JournalFileBackend(str(tmp_path / "journal.log"))
    storage = optuna.storages.JournalStorage(backend)
    settings = SweepSettings(trials=4, constraint=["val/acc1>=0.85"])
    first = build_searcher(settings, _space, 0, 1, storage, "pinned")
    first.suggest("t")
    first.save_to_dir(str(tmp_path), session_str="s")  # Tune's last snapshot: "t" running
    limiter_state = first.get_state()
    first.on_trial_complete("t", {"val/acc1": 0.9, "status": "done"})
    resumed = build_searcher(settings, _space, 0, 1, storage, "pinned")
    resumed.set_state(limiter_state)
    resumed.restore_from_dir(str(tmp_path))
    resumed.on_trial_complete("t", {"val/acc1": 0.8, "status": "done"})  # no error
    (trial,) = optuna.load_study(study_name="pinned", storage=storage).get_trials()
    assert (trial.value, trial.user_attrs) == (0.9, {"val/acc1": 0.9})
    assert trial.constraints == {"val/acc1>=0.85": pytest.approx(-0.05)}
