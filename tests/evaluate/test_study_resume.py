"""``ncsweep study paper`` resumed: a driver stopped (SIGTERM) after its first cell
finished, then the same command again (the default name, the same storage) finishes the
study without training the finished cell again or creating a second run of any cell;
another plan under the same name exits 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from ncsweep.cli import main

PARENT = "tags.`ncsweep.kind` = 'study'"


def _study_name(storage) -> str | None:
    """The default name the study chose: its folder under the storage (made first)."""
    names = [p.name for p in storage.iterdir()] if storage.is_dir() else []
    return names[0] if len(names) == 1 else None


def _runs(uri: str, name: str):
    """(parent runs, child runs) of study ``name`` at ``uri``."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    parents = client.search_runs([experiment.experiment_id], PARENT) if experiment else []
    if not parents:
        return [], []
    children = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}'"
    )
    return parents, children


def test_killed_study_resumes_with_the_same_command(ray_session, mlflow_server, tmp_path):
    out = tmp_path / "tables"
    command = [
        sys.executable,
        "-m",
        "ncsweep.cli",
        "study",
        "paper",
        "--preset",
        "digits",
        "--seeds",
        "1",
        "--families",
        "ce,nonl",
        "--variants",
        "lt0.01",
        "--max-concurrent",
        "1",
        "--set",
        "run.epochs=6",
        "--storage",
        str(tmp_path / "ray"),
        "--tracking-uri",
        mlflow_server,
        "--out",
        str(out),
    ]
    env = dict(os.environ, RAY_ADDRESS=ray_session.get_runtime_context().gcs_address)
    log = tmp_path / "first.log"
    driver = subprocess.Popen(command, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    finished_before: dict[str, str] = {}
    while not finished_before:
        assert driver.poll() is None, log.read_text()[-3000:]
        assert time.time() < deadline, "no cell finished in time"
        time.sleep(0.5)
        name = _study_name(tmp_path / "ray")
        _, children = _runs(mlflow_server, name) if name else ([], [])
        finished_before = {
            r.data.tags["ncsweep.trial_id"]: r.info.run_id
            for r in children
            if r.info.status == "FINISHED"
        }
    # `ray job stop` sends SIGTERM: the study stops as resumable (parent run KILLED, the
    # way to continue in its log), as a sweep does (sweep/tuning.GracefulStop)
    driver.send_signal(signal.SIGTERM)
    assert driver.wait(timeout=120) != 0
    time.sleep(5)  # Ray ends the stopped driver's trial actors
    assert not list(out.glob("*.json")), "the study ended before it was stopped"
    stopped = " ".join(log.read_text().split())
    assert f"study {name} stopped (SIGTERM)" in stopped and "run the same command" in stopped
    parents, _ = _runs(mlflow_server, name)
    assert [p.info.status for p in parents] == ["KILLED"]

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    (tmp_path / "second.log").write_text(resumed.stdout + resumed.stderr)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "(resumed)" in resumed.stdout

    assert _study_name(tmp_path / "ray") == name  # the same default name: no second study
    parents, children = _runs(mlflow_server, name)
    keys = sorted(r.data.tags["ncsweep.trial_id"] for r in children)
    assert keys == ["ce-s0-lt0.01", "nonl-s0-lt0.01"], keys  # one run per cell, no duplicate
    assert all(r.info.status == "FINISHED" for r in children)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    client = MlflowClient(mlflow_server)
    for key, run_id in finished_before.items():
        assert run_id in {r.info.run_id for r in children}, key
        steps = [m.step for m in client.get_metric_history(run_id, "train/loss")]
        assert steps and len(steps) == len(set(steps)), f"cell {key} trained again"
    data = json.loads((out / f"{name}.json").read_text())
    assert data["families"] == ["ce", "nonl"] and data["finished"] == data["runs"] == 2
    assert "## Long-tail, imbalance 0.01" in (out / f"{name}.md").read_text()
    assert name.startswith("paper-digits-") and (tmp_path / "ray" / name / "study.yaml").is_file()


def test_a_finished_study_run_again_rewrites_its_table_and_another_plan_exits_2(
    ray_session, mlflow_server, tmp_path, capsys
):
    """A finished study run again trains nothing and rewrites its table; the plan is checked
    before anything trains (the third call asks for two seeds under the same name)."""
    common = [
        "study",
        "paper",
        "--families",
        "ce,nonl",
        "--variants",
        "lt0.01",
        "--name",
        "plan-check",
        "--set",
        "run.epochs=1",
        "--storage",
        str(tmp_path / "ray"),
        "--tracking-uri",
        mlflow_server,
        "--out",
        str(tmp_path / "tables"),
    ]
    with pytest.raises(SystemExit) as first:
        main([*common, "--seeds", "1"])
    assert first.value.code == 0
    runs_before = {r.info.run_id: r.info.end_time for r in _children(mlflow_server, "plan-check")}
    table = tmp_path / "tables" / "plan-check.md"
    table.unlink()
    with pytest.raises(SystemExit) as again:
        main([*common, "--seeds", "1"])
    assert again.value.code == 0 and table.is_file()
    cells = [r for r in _children(mlflow_server, "plan-check") if r.info.run_id in runs_before]
    assert len(cells) == len(runs_before) == len(_children(mlflow_server, "plan-check"))
    for run in cells:  # only the parent run was reopened and closed again
        if run.data.tags.get("ncsweep.kind") != "study":
            assert run.info.end_time == runs_before[run.info.run_id], run.data.tags
    with pytest.raises(SystemExit) as second:
        main([*common, "--seeds", "2"])
    assert second.value.code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert (
        "plan-check" in message and "another plan" in message and "seeds 1 then, 2 now" in (message)
    ), message
    assert len(_children(mlflow_server, "plan-check")) == len(runs_before)


def _children(uri: str, name: str):
    """Every run of study ``name`` (parent and cells)."""
    client = MlflowClient(uri)
    return client.search_runs([client.get_experiment_by_name(name).experiment_id])
