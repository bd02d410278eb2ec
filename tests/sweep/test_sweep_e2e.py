"""End to end: a real sweep on Ray Tune + Optuna, tracked in a real MLflow server."""

from __future__ import annotations

import pytest
import yaml
from mlflow.tracking import MlflowClient
from rich.console import Console

from ncsweep.config import load_spec
from ncsweep.runtime.trainer import run_training
from ncsweep.sweep import SweepConfig, collect_rows, run_sweep
from ncsweep.sweep.leaderboard import find_parent


def test_two_families_three_trials_pareto(ray_session, mlflow_server, tmp_path):
    config = SweepConfig(
        name="e2e",
        preset="digits",
        families=["ce", "nonl"],
        trials=3,
        max_concurrent=2,
        storage=str(tmp_path / "ray"),
        # userinfo the server ignores: a secret the exports must not carry
        tracking_uri=mlflow_server.replace("http://", "http://e2e:e2e-hunter2-secret@"),
        objective="pareto",
        scheduler="none",
        confirm_top=0,  # no confirmation stage (test_sweep_confirm.py runs one)
        overrides=["run.epochs=3", "eval.val_nc=false"],
    )
    console = Console(record=True, width=140)
    outcome = run_sweep(config, console, out_dir=tmp_path / "best")

    client = MlflowClient(mlflow_server)
    experiment_id, parent = find_parent(mlflow_server, "e2e")
    assert client.get_run(parent).info.status == "FINISHED"
    children = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 6
    assert sorted(r.data.tags["ncsweep.loss"] for r in children) == ["ce"] * 3 + ["nonl"] * 3
    assert len({r.data.tags["ncsweep.trial_id"] for r in children}) == 6
    for run in children:
        assert run.info.status == "FINISHED", run.data.tags.get("ncsweep.failure_reason")
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "nc/nc1")]
        assert len(steps) == len(set(steps)) >= 3

    rows = collect_rows(mlflow_server, "e2e")
    assert len(rows) == 6 and all(r.complete for r in rows)
    assert {r.data.tags["ncsweep.stage"] for r in children} == {"search"}
    assert not list((tmp_path / "ray" / "e2e").glob("*-confirm"))
    text = console.export_text()
    assert "confirmation" not in text.lower()
    assert "Leaderboard: e2e" in text and "nonl" in text
    assert "Pareto front per family" in text
    parent_artifacts = {a.path for a in client.list_artifacts(parent)}
    assert {
        "leaderboard.csv",
        "leaderboard.json",
        "best_configs",
        "search_spaces",
    } <= parent_artifacts

    written = {p.name for p in outcome.exported}
    assert {"ce.yaml", "nonl.yaml", "ce_pareto.yaml", "nonl_pareto.yaml"} <= written
    best = yaml.safe_load((tmp_path / "best" / "nonl.yaml").read_text())
    provenance = best["provenance"]
    assert provenance["sweep"] == "e2e" and provenance["family"] == "nonl"
    assert provenance["mlflow_run_id"] in {r.info.run_id for r in children}
    assert provenance["metrics"]["val/acc1"] == max(r.acc1 for r in rows if r.family == "nonl")
    for exported in ("nonl.yaml", "nonl_pareto.yaml", "ce.yaml"):
        assert "hunter2" not in (tmp_path / "best" / exported).read_text()
    assert provenance["tracking_uri"] == mlflow_server.replace("http://", "http://***@")
    assert "hunter2" not in text
    front = yaml.safe_load((tmp_path / "best" / "nonl_pareto.yaml").read_text())["front"]
    assert front and all(set(entry) == {"provenance", "spec"} for entry in front)

    # The exported file is a complete `ncsweep train --config` input.
    spec = load_spec(tmp_path / "best" / "nonl.yaml", ["run.epochs=1"])
    assert spec.loss.name == "nonl"
    assert spec.loss.temperature == pytest.approx(
        float(client.get_run(provenance["mlflow_run_id"]).data.params["loss.temperature"])
    )
    again = run_training(
        spec,
        run_name="rerun-best",
        tracking_uri=mlflow_server,
        storage_path=str(tmp_path / "rerun"),
    )
    assert again.ok, again.failure_reason
