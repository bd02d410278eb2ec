"""``--objective eval/<suite>/<key>``: metric and direction come from the suite registry; the
searcher, the trial's Tune results and the leaderboard follow them (no Ray here)."""

from __future__ import annotations

import optuna
import pytest
import yaml
from optuna.study import StudyDirection
from optuna.trial import TrialState

from ncsweep.config import SpecError
from ncsweep.evaluate import SuiteResult, get_suite, list_suites, register_suite, run_suites
from ncsweep.evaluate._registry import SUITES, SuiteKey
from ncsweep.losses import DEFAULT_PROBE_TEMPERATURE, loss_info
from ncsweep.plan.objectives import resolve_objective
from ncsweep.plan.sweep_config import SweepConfig, SweepSettings, sweep_config
from ncsweep.runtime.searcher import CompletedOnlyOptunaSearch, build_searcher
from ncsweep.runtime.trial import tune_result
from ncsweep.sweep.leaderboard import TrialRow, best_per_family, rows_to_csv

WHERE = {"storage": "/tmp/ncsweep-objective", "tracking_uri": "sqlite:////tmp/ncsweep.db"}


def _space(trial) -> None:
    trial.suggest_float("x", 0.0, 1.0)


def _example(key: SuiteKey) -> str:
    """A concrete key of a declaration: each placeholder takes its first allowed value."""
    parts = []
    for part in key.key.split("/"):
        name = part[1:-1] if part.startswith("<") else None
        parts.append(key.values.get(name, ("x",))[0] if name else part)
    return "/".join(parts)


def _declared():
    return [(s, k) for s in list_suites() for k in get_suite(s).keys]


@pytest.mark.parametrize(
    ("suite", "key"), _declared(), ids=[f"{s}:{k.key}" for s, k in _declared()]
)
def test_each_declared_key_is_an_objective_in_its_direction_or_refused_with_the_reason(suite, key):
    name = f"eval/{suite}/{_example(key)}"
    if key.baseline:
        with pytest.raises(ValueError, match="baseline run"):
            resolve_objective(name)
    elif key.direction is None:
        with pytest.raises(ValueError, match="not a score"):
            resolve_objective(name)
    else:
        objective = resolve_objective(name)
        assert objective.metrics == (name,) and objective.modes == (key.direction,)
        assert objective.suite == suite and objective.meaning == key.meaning


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("val/acc1", ["unknown objective", "accuracy, pareto", "probes"]),
        ("eval/nosuch/acc", ["unknown suite 'nosuch'", "longtail"]),
        ("eval/probes/acc/foo", ["no key 'acc/foo'", "acc/<head>", "normprobe"]),
        ("eval/probes", ["no key ''", "acc/<head>"]),
        ("eval/corruption/error/fog/9", ["no key 'error/fog/9'", "<severity>: 1, 2, 3, 4, 5"]),
        ("eval/longtail/gain_points/few", ["baseline run", "acc/<group>"]),
    ],
)
def test_a_bad_objective_names_what_is_allowed(name, fragments):
    with pytest.raises(ValueError) as err:
        resolve_objective(name)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_the_objective_is_a_sweep_setting_from_arguments_or_the_preset(tmp_path):
    config = SweepConfig(name="o", objective="eval/corruption/mean_error", **WHERE)
    assert config.resolved_objective.modes == ("min",)
    root = tmp_path / "spaces"
    (root / "presets").mkdir(parents=True)
    (root / "ce.yaml").write_text(
        yaml.safe_dump({"family": "ce", "base": {"loss": {"name": "ce"}}})
    )
    (root / "presets" / "tiny.yaml").write_text(
        yaml.safe_dump({"sweep": {"objective": "eval/probes/acc/probe"}})
    )
    config = SweepConfig(name="t", preset="tiny", spaces_root=str(root), **WHERE)
    assert config.objective == "eval/probes/acc/probe"
    with pytest.raises(SpecError) as err:
        sweep_config(objective="eval/longtail/classes/many", **WHERE)
    assert "objective" in str(err.value) and "acc/<group>" in str(err.value)


@pytest.mark.parametrize(
    ("objective", "direction"),
    [
        ("eval/probes/acc/normprobe", StudyDirection.MAXIMIZE),
        ("eval/corruption/mean_error", StudyDirection.MINIMIZE),
    ],
)
def test_the_optuna_study_takes_the_declared_direction(objective, direction):
    storage = optuna.storages.InMemoryStorage()
    settings = SweepSettings(objective=objective, trials=2)
    limiter = build_searcher(settings, _space, 0, 1, storage, "family")
    limiter.suggest("t1")
    assert optuna.load_study(study_name="family", storage=storage).directions == [direction]


def test_the_searcher_learns_only_from_final_values_and_fails_a_trial_that_has_none():
    storage = optuna.storages.InMemoryStorage()
    metric = "eval/corruption/mean_error"
    searcher = CompletedOnlyOptunaSearch(
        space=_space,
        metric=metric,
        mode="min",
        sampler=optuna.samplers.RandomSampler(seed=0),
        storage=storage,
        study_name="s",
    )
    for trial_id in ("measured", "unmeasured", "stopped"):
        searcher.suggest(trial_id)
    # an intermediate result: the suites have not run yet
    searcher.on_trial_result("measured", {metric: None, "training_iteration": 1})
    searcher.on_trial_result("measured", {metric: 0.25, "training_iteration": 2})
    searcher.on_trial_complete("measured", {metric: 0.25, "status": "done"})
    searcher.on_trial_complete("unmeasured", {metric: None, "status": "done"})
    searcher.on_trial_complete("stopped", {metric: None, "status": "running"})
    study = optuna.load_study(study_name="s", storage=storage)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED]
    assert trials[0].intermediate_values == {2: 0.25} and study.best_value == 0.25


def test_every_tune_result_carries_the_objective_key():
    early = tune_result({"val/acc1": 0.5}, "mean", ("eval/probes/acc/probe",))
    final = tune_result(
        {"val/acc1": 0.9, "eval/probes/acc/probe": 0.8}, "mean", ("eval/probes/acc/probe",)
    )
    assert early["eval/probes/acc/probe"] is None and final["eval/probes/acc/probe"] == 0.8


def _row(trial: str, acc: float, metrics: dict, status: str = "FINISHED") -> TrialRow:
    return TrialRow(
        "ce", trial, f"run-{trial}", status, acc, None, None, 10, 10, {},
        {"val/acc1": acc, **metrics},
    )  # fmt: skip


def test_the_best_trial_is_the_best_by_the_objective_in_its_direction():
    key = "eval/corruption/mean_error"
    rows = [
        _row("a", 0.95, {key: 0.40}),
        _row("b", 0.90, {key: 0.20}),
        _row("c", 0.99, {}),  # the suite left it unmeasured: never the best
        _row("d", 0.50, {key: 0.10}, status="KILLED"),  # stopped early: incomplete
    ]
    assert best_per_family(rows, key)["ce"].trial_id == "b"
    assert best_per_family(rows, "accuracy")["ce"].trial_id == "c"
    assert best_per_family(rows, "eval/probes/acc/probe") == {}
    csv_lines = rows_to_csv(rows, key).splitlines()
    assert "objective" in csv_lines[0].split(",") and ",0.2," in csv_lines[2]


def test_a_suite_reporting_an_undeclared_key_is_refused():
    @register_suite("undeclared_for_test", keys=(SuiteKey("acc", "max", "accuracy"),))
    def run(subject) -> SuiteResult:
        """Reports one key it declared and one it did not."""
        return SuiteResult({"acc": 1.0, "surprise": 2.0})

    try:
        with pytest.raises(ValueError, match="undeclared keys \\['surprise'\\]"):
            run_suites(None, ["undeclared_for_test"])
    finally:
        SUITES.unregister("undeclared_for_test")


def test_the_normalised_probe_temperature_is_declared_by_the_loss_registry():
    assert loss_info("ce").normprobe_temperature({}) == 0.1
    assert loss_info("ntce").normprobe_temperature({"temperature": 0.2}) == 0.2
    default = loss_info("scl").defaults["temperature"]
    assert loss_info("scl").normprobe_temperature({}) == default
    assert isinstance(DEFAULT_PROBE_TEMPERATURE, float)
