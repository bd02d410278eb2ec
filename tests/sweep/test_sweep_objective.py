"""A real sweep optimising an evaluation suite's metric: the suite runs at the end of every
trial (turned on by the objective), Optuna maximises it, and the leaderboard, the exported
config and the MLflow parent run all name the trial with its best value."""

from __future__ import annotations

import tempfile

import yaml
from mlflow.tracking import MlflowClient
from optuna.study import StudyDirection
from optuna.trial import TrialState
from rich.console import Console
from typer.testing import CliRunner

from ncsweep.cli import app
from ncsweep.config import read_yaml
from ncsweep.runtime.journal import load_study
from ncsweep.sweep import SweepConfig, collect_rows, run_sweep
from ncsweep.sweep.leaderboard import find_parent

OBJECTIVE = "eval/probes/acc/normprobe"


def test_a_sweep_optimises_a_probe_accuracy(ray_session, mlflow_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the sweep writes reports/ where it runs
    storage = str(tmp_path / "ray")
    config = SweepConfig(
        name="objective-probes",
        preset="digits",
        families=["ce"],
        trials=2,
        max_concurrent=2,
        storage=storage,
        tracking_uri=mlflow_server,
        objective=OBJECTIVE,
        # ASHA (on val/acc1) with its only rung at the end: it runs beside the objective
        # and stops nothing, so both trials measure it
        scheduler="asha",
        grace_period=2,
        confirm_top=0,  # the search's trials only
        # two evaluations a trial: the first reaches Tune before the suite has run
        overrides=["run.epochs=2", "eval.val_nc=false", "eval.probe_epochs=5"],
    )
    console = Console(record=True, width=160)
    outcome = run_sweep(config, console, out_dir=tmp_path / "best")

    client = MlflowClient(mlflow_server)
    experiment_id, parent = find_parent(mlflow_server, "objective-probes")
    children = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 2
    values = {}
    for run in children:
        assert run.info.status == "FINISHED", run.data.tags.get("ncsweep.failure_reason")
        # the preset has no eval.suites: the objective turned the probes suite on
        with tempfile.TemporaryDirectory() as tmp:
            spec = read_yaml(client.download_artifacts(run.info.run_id, "spec.yaml", tmp))
        assert spec["eval"]["suites"] == ["probes"]
        values[run.info.run_id] = run.data.metrics[OBJECTIVE]
    best_value = max(values.values())

    # Optuna maximised the metric (its direction in the suite registry) and got its values
    study = load_study(storage, "objective-probes", "ce")
    assert study.directions == [StudyDirection.MAXIMIZE]
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert sorted(t.value for t in study.trials) == sorted(values.values())

    # leaderboard, export and parent run: the trial with the best value of the objective
    rows = collect_rows(mlflow_server, "objective-probes", objective=OBJECTIVE)
    best_run = rows[0].run_id  # ties on the objective: higher val/acc1 first
    assert values[best_run] == best_value
    text = " ".join(console.export_text().split())
    assert f"ranked by {OBJECTIVE} (max)" in text
    assert [p.name for p in outcome.exported] == ["ce.yaml"]
    provenance = yaml.safe_load((tmp_path / "best" / "ce.yaml").read_text())["provenance"]
    assert provenance["mlflow_run_id"] == best_run
    assert provenance["objective"] == {
        "name": OBJECTIVE,
        "metric": OBJECTIVE,
        "mode": "max",
        "value": best_value,
    }
    parent_run = client.get_run(parent)
    assert parent_run.data.tags["ncsweep.objective"] == OBJECTIVE
    assert parent_run.data.tags["ncsweep.best.ce"] == best_run
    assert parent_run.data.metrics[f"best/ce/{OBJECTIVE}"] == best_value
    assert parent_run.data.params["objective"] == OBJECTIVE

    # `ncsweep export` picks the same trial from the saved sweep
    result = CliRunner().invoke(
        app, ["export", "objective-probes", "--storage", storage, "--out", str(tmp_path / "again")]
    )
    assert result.exit_code == 0, result.output
    again = yaml.safe_load((tmp_path / "again" / "ce.yaml").read_text())["provenance"]
    assert again["mlflow_run_id"] == best_run
