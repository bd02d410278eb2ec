"""``--sampler`` and ``--constraint`` in the searcher, in process (Optuna in memory or on a
journal file, no Ray trials): every sampler suggests, learns and resumes from its journal;
constraints reach the study as each finished trial's violations."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from ncsweep.plan.samplers import SAMPLERS, multi_objective_samplers
from ncsweep.plan.settings import SweepSettings
from ncsweep.plan.spaces import load_space
from ncsweep.runtime.searcher import SAMPLER_FACTORIES, build_searcher


def test_the_sampler_registry_and_the_plan_table_name_the_same_samplers():
    assert list(SAMPLER_FACTORIES) == list(SAMPLERS)


def _finish(limiter, trial_id: str, acc: float, steps: float = 100.0) -> dict:
    config = limiter.suggest(trial_id)
    result = {"val/acc1": acc, "objective/nc_steps": steps, "status": "done"}
    result["training_iteration"] = 1
    limiter.on_trial_result(trial_id, result)
    limiter.on_trial_complete(trial_id, result)
    return config


# a GP fit takes seconds on a loaded CI machine (16 s for this case): slow tier
@pytest.mark.parametrize(
    "sampler", [pytest.param(s, marks=pytest.mark.slow) if s == "gp" else s for s in SAMPLERS]
)
def test_every_sampler_searches_a_shipped_space_with_categorical_and_conditional_parameters(
    sampler,
):
    # nonl: categorical anchor/batch size, a switch and a conditional memory size
    space = load_space("nonl")
    storage = optuna.storages.InMemoryStorage()
    # 4 trials: 2 at random, then 2 from the model (GP fits take a second each)
    settings = SweepSettings(sampler=sampler, trials=4, seed=3)
    limiter = build_searcher(settings, space.suggest, 0, 1, storage, "nonl")
    configs = [_finish(limiter, f"t{i}", 0.5 + 0.05 * i) for i in range(4)]
    study = optuna.load_study(study_name="nonl", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert all("run.batch_size" in c and "loss.anchor" in c for c in configs)
    # seeded: the same settings suggest the same first trials
    again = build_searcher(settings, space.suggest, 0, 1, optuna.storages.InMemoryStorage(), "nonl")
    assert [_finish(again, f"t{i}", 0.5 + 0.05 * i) for i in range(4)] == configs


@pytest.mark.parametrize("sampler", sorted(set(SAMPLERS) - set(multi_objective_samplers())))
def test_a_single_objective_sampler_is_refused_under_pareto(sampler):
    with pytest.raises(ValueError, match=r"under objective pareto \(--objective\) allowed: tpe"):
        SweepSettings(sampler=sampler, objective="pareto")


@pytest.mark.parametrize("sampler", multi_objective_samplers())
def test_every_multi_objective_sampler_runs_a_pareto_study(sampler):
    storage = optuna.storages.InMemoryStorage()
    settings = SweepSettings(sampler=sampler, objective="pareto", trials=3)
    limiter = build_searcher(settings, load_space("ce").suggest, 0, 1, storage, "ce")
    for i in range(3):
        _finish(limiter, f"t{i}", 0.5 + 0.05 * i, 100.0 - i)
    study = optuna.load_study(study_name="ce", storage=storage)
    assert len(study.directions) == 2 and len(study.best_trials) >= 1


def test_an_unknown_sampler_names_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed: tpe, random, qmc, gp, cmaes, nsga2"):
        SweepSettings(sampler="bohb")


def test_a_cmaes_study_resumes_from_its_journal_where_an_unbroken_one_goes(tmp_path):
    """Resumable like TPE: a searcher restored from Tune's checkpoint on the journal file
    suggests what the searcher that never stopped suggests."""
    space = load_space("ce")
    settings = SweepSettings(sampler="cmaes", trials=8, seed=1)

    def journal(name):
        backend = optuna.storages.journal.JournalFileBackend(str(tmp_path / name))
        return optuna.storages.JournalStorage(backend)

    unbroken = build_searcher(settings, space.suggest, 0, 1, journal("a.log"), "ce")
    first = build_searcher(settings, space.suggest, 0, 1, journal("b.log"), "ce")
    accs = [0.6, 0.7, 0.65, 0.8, 0.75, 0.9, 0.85, 0.88]
    expected = [_finish(unbroken, f"t{i}", a) for i, a in enumerate(accs)]
    for i, a in enumerate(accs[:5]):
        _finish(first, f"t{i}", a)
    first.save(str(tmp_path / "searcher.pkl"))
    del first  # the driver dies
    second = build_searcher(settings, space.suggest, 0, 1, journal("b.log"), "ce")
    second.restore(str(tmp_path / "searcher.pkl"))
    resumed = [_finish(second, f"t{i}", a) for i, a in enumerate(accs[5:], start=5)]
    assert resumed == expected[5:]
    study = optuna.load_study(study_name="ce", storage=journal("b.log"))
    assert len(study.trials) == 8 and study.trials[-1].system_attrs  # CMA-ES state in the study


def test_constraints_reach_the_study_as_violations_and_tpe_ranks_by_them():
    storage = optuna.storages.InMemoryStorage()
    settings = SweepSettings(trials=4, constraint=["val/acc1>=0.8", "val/acc1>=family-0.5"])
    limiter = build_searcher(settings, load_space("ce").suggest, 0, 1, storage, "ce")
    for i, acc in enumerate([0.9, 0.7, 0.897, 0.85]):
        _finish(limiter, f"t{i}", acc)
    study = optuna.load_study(study_name="ce", storage=storage)
    feasible = [
        all(v <= 0 for v in t.constraints.values()) for t in study.trials
    ]  # 0.7 < 0.8 ; 0.85 < 0.9 - 0.005 ; 0.897 >= 0.895
    assert feasible == [True, False, True, False]
    assert study.trials[1].constraints["val/acc1>=0.8"] == pytest.approx(0.1)
    assert study.trials[3].constraints["val/acc1>=family-0.5"] == pytest.approx(0.045)
    assert study.trials[0].user_attrs == {"val/acc1": 0.9}


def test_nc_at_accuracy_minimises_steps_under_the_family_accuracy_floor():
    storage = optuna.storages.InMemoryStorage()
    settings = SweepSettings(objective="nc-at-accuracy", accuracy_delta=1.0, trials=3)
    limiter = build_searcher(settings, load_space("ce").suggest, 0, 1, storage, "ce")
    _finish(limiter, "a", 0.90, steps=300)
    _finish(limiter, "b", 0.85, steps=50)  # fastest, but 5 points below the best
    _finish(limiter, "c", 0.895, steps=200)
    study = optuna.load_study(study_name="ce", storage=storage)
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE]
    assert study.best_trial.value == 200  # Optuna's best is the best feasible trial


@pytest.mark.parametrize("sampler", sorted(SAMPLER_FACTORIES))
def test_every_sampler_survives_the_pickle_ray_tune_makes_of_its_searcher(sampler):
    """``tune.Tuner`` pickles the searcher (NSGA-II's thread lock once made
    ``--sampler nsga2`` fail before any trial); the copy still samples."""
    import ray.cloudpickle as cloudpickle

    copy = cloudpickle.loads(cloudpickle.dumps(SAMPLER_FACTORIES[sampler](0, 2)))
    study = optuna.create_study(sampler=copy)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3)
    assert len(study.trials) == 3
