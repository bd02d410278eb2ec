"""Warm start and budgets: a sweep tries an earlier sweep's best config first, and a time
budget stops a sweep cleanly, as resumable (the resume finishes the budget of trials, each
once)."""

from __future__ import annotations

import pytest
import yaml
from mlflow.tracking import MlflowClient
from rich.console import Console

from ncsweep.runtime.journal import load_study
from ncsweep.runtime.tuning import SweepInterrupted
from ncsweep.status import RunState
from ncsweep.sweep import SweepConfig, collect_rows, run_sweep
from ncsweep.sweep.leaderboard import find_parent

WARM = {"optim.lr": 0.123, "optim.weight_decay": 0.000321, "run.batch_size": 64}


def _ce_sweep(
    name: str, tmp_path, uri: str, trials: int, epochs: int, families=("ce",), **settings
) -> SweepConfig:
    """Trials one at a time per family, run to the end (no ASHA), no NC on validation."""
    return SweepConfig(
        name=name,
        families=list(families),
        trials=trials,
        max_concurrent=1,
        storage=str(tmp_path / "ray"),
        tracking_uri=uri,
        scheduler="none",
        overrides=[f"run.epochs={epochs}", "eval.val_nc=false"],
        **{"confirm_top": 0, **settings},  # budgets of the search; the stage has its own test
    )


def test_warm_start_from_exported_configs_is_the_first_trial(
    ray_session, mlflow_server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "best_configs"
    folder.mkdir()
    spec = {"loss": {"name": "ce"}, "optim": {"lr": 0.123, "weight_decay": 0.000321}}
    spec["run"] = {"batch_size": 64}
    spec["provenance"] = {"sweep": "earlier"}  # as an exported config has
    (folder / "ce.yaml").write_text(yaml.safe_dump(spec))
    config = _ce_sweep("warm", tmp_path, mlflow_server, 2, 1, warm_start=str(folder))
    console = Console(record=True, width=200)
    run_sweep(config, console, out_dir=tmp_path / "best")
    assert "warm start, ce: first trial optim.lr=0.123" in console.export_text()

    first = load_study(config.storage, "warm", "ce").trials[0]
    # what the config sets is tried first; a key it does not set (label smoothing) is sampled
    assert {key: first.params[key] for key in WARM} == WARM, first.params
    experiment_id, parent = find_parent(mlflow_server, "warm")
    runs = MlflowClient(mlflow_server).search_runs(
        [experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'", order_by=["start_time ASC"]
    )
    params = runs[0].data.params
    assert float(params["optim.lr"]) == 0.123 and params["run.batch_size"] == "64"
    assert float(runs[1].data.params["optim.lr"]) != 0.123  # then TPE samples

    # an earlier sweep's name: its best trial (by its objective) is the first of the next
    [best] = [r for r in collect_rows(mlflow_server, "warm") if r.status == RunState.FINISHED][:1]
    again = config.model_copy(update={"name": "warm-again", "trials": 1, "warm_start": "warm"})
    run_sweep(again, Console(width=200), out_dir=tmp_path / "best")
    best_params = MlflowClient(mlflow_server).get_run(best.run_id).data.params
    [trial] = load_study(config.storage, "warm-again", "ce").trials
    for key in ("optim.lr", "optim.weight_decay", "loss.label_smoothing", "run.batch_size"):
        assert str(trial.params[key]) == best_params[key], key


@pytest.mark.parametrize(
    "families", [("ce",), ("ce", "ntce")], ids=["one-family", "families-in-parallel"]
)
def test_a_spent_time_budget_stops_the_sweep_resumably(
    ray_session, mlflow_server, tmp_path, monkeypatch, families
):
    monkeypatch.chdir(tmp_path)
    # 5 s: on this machine a ce trial takes ~2 s and Tune ~4 s to start its first one; with
    # two families they run at once (threads of one driver), each stopped by the budget
    # one name per case: the cases share the MLflow server, a name belongs to one storage
    name = f"budget-{len(families)}"
    config = _ce_sweep(
        name,
        tmp_path,
        mlflow_server,
        6,
        25,
        families,
        time_budget="5s",
        parallel_families=len(families) > 1,
    )
    budget = 6 * len(families)
    console = Console(record=True, width=200)
    with pytest.raises(SweepInterrupted):
        run_sweep(config, console, out_dir=tmp_path / "best")
    text = console.export_text()
    assert "budget of 5 s spent" in text and f"ncsweep resume {name}" in text
    experiment_id, parent = find_parent(mlflow_server, name)
    client = MlflowClient(mlflow_server)
    assert client.get_run(parent).info.status == RunState.KILLED
    before = [r for r in collect_rows(mlflow_server, name) if r.status == RunState.FINISHED]
    assert len(before) < budget, "the budget did not stop the sweep"

    resumed = config.model_copy(update={"time_budget": None})
    run_sweep(resumed, Console(width=200), out_dir=tmp_path / "best", resume=True)
    rows = collect_rows(mlflow_server, name)
    assert sorted(r.status for r in rows) == [RunState.FINISHED] * budget
    assert len({(r.family, r.trial_id) for r in rows}) == budget
    assert client.get_run(parent).info.status == RunState.FINISHED
    for family in families:  # each study holds its trials once
        assert len(load_study(config.storage, name, family).trials) == 6
