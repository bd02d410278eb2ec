"""Issue 28: a sweep restores Tune's state by content, not by its file's clock, and a
sweep name belongs to one storage and one set of settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from ray import tune
from rich.console import Console

from ncsweep.config import SpecError
from ncsweep.runtime import tune_state
from ncsweep.runtime.lease import Lease
from ncsweep.runtime.ownership import TAG_STORAGE, owner_tags
from ncsweep.runtime.trial import TrialContext
from ncsweep.runtime.tuning import finished_missing, open_parent, restore_or_build
from ncsweep.status import RunState
from ncsweep.sweep import SweepConfig, run_sweep
from ncsweep.sweep.leaderboard import find_parent
from ncsweep.tracking import TAG_KIND, TAG_ORPHANED, TAG_SWEEP, TAG_TRIAL, open_store


def _states(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("experiment_state-*.json"))


def test_a_restore_reads_the_current_state_not_the_newest_name(
    ray_session, mlflow_server, tmp_path
):
    storage, name = str(tmp_path / "ray"), "skew"
    folder = tmp_path / "ray" / name / "fam"

    def _trainable(config):  # defined here: pickled by value for Ray's workers
        tune.report({"score": config["x"]})

    def build() -> tune.Tuner:
        return tune.Tuner(
            _trainable,
            param_space={"x": tune.grid_search([1, 2])},
            run_config=tune.RunConfig(name="fam", storage_path=f"{storage}/{name}"),
        )

    with Lease(storage, name, "sweep", say=lambda text: None):
        with tune_state.recording(str(folder)):
            first = build().fit()
        assert all(r.error is None for r in first)
        ids = sorted(r.metrics["trial_id"] for r in first)
        [current] = _states(folder)
        # An older session's state (one trial of two) written by a host whose clock runs
        # ahead: its name sorts after the current one, which is all Tune looks at.
        state = json.loads((folder / current).read_text())
        state["trial_data"], rest = state["trial_data"][:1], state["trial_data"][1:]
        older = "experiment_state-2099-01-01_00-00-00.json"
        (folder / older).write_text(json.dumps(state))

        restored = restore_or_build(str(folder), _trainable, build).fit()
        assert sorted(r.metrics["trial_id"] for r in restored) == ids  # nothing dropped
        assert older not in _states(folder)  # only the current state is kept

        # MLflow has both trials FINISHED. The older state lacks one: its restore is refused,
        # before anything is removed, while another state file holds that trial; when no
        # state file does, it goes on and keeps that trial's run as orphaned.
        uri = mlflow_server
        experiment_id, parent = open_parent(uri, name, TAG_SWEEP, "sweep", {}, storage)
        store = open_store(uri)
        for trial_id in ids:
            tags = {TAG_SWEEP: name, TAG_KIND: "train", TAG_TRIAL: trial_id}
            run = store.create_run(experiment_id, trial_id, {**tags, TAG_STORAGE: storage})
            store.end_run(run.run_id, RunState.FINISHED)
        owner = tuple(owner_tags(storage, name).items())
        context = TrialContext(name, TAG_SWEEP, uri, experiment_id, parent, owner=owner)
        for stale in _states(folder):
            (folder / stale).unlink()
        (folder / older).write_text(json.dumps(state))
        [(kept, *_)] = tune_state.state_trials(str(folder), older)
        [lost] = set(ids) - {kept}
        holder = "experiment_state-2000-01-01_00-00-00.json"  # as many ended: not chosen
        (folder / holder).write_text(json.dumps({**state, "trial_data": rest}))
        with pytest.raises(SpecError, match=f"lacks finished trials {lost} .*/{holder} holds"):
            restore_or_build(str(folder), _trainable, build, finished_missing(context, {}))
        assert _states(folder) == [holder, older]
        (folder / holder).unlink()  # no state file holds it now: nothing better to restore
        said: list[str] = []
        restore_or_build(str(folder), _trainable, build, finished_missing(context, {}), said.append)
        assert len(said) == 1 and lost in said[0] and "ncsweep.orphaned" in said[0]
        runs = {r.tags[TAG_TRIAL]: r for r in store.search_runs(experiment_id, {TAG_KIND: "train"})}
        assert {r.status for r in runs.values()} == {RunState.FINISHED}  # nothing deleted
        assert TAG_ORPHANED in runs[lost].tags and TAG_ORPHANED not in runs[kept].tags


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ncsweep.cli", *args],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_name_used_with_another_storage_or_other_settings_exits_2(
    ray_session, mlflow_server, tmp_path
):
    config = SweepConfig(
        name="same",
        families=["ce"],
        trials=2,
        max_concurrent=1,
        storage=str(tmp_path / "s1"),
        tracking_uri=mlflow_server,
        scheduler="none",
        confirm_top=0,
        overrides=["run.epochs=1", "eval.val_nc=false"],
    )
    run_sweep(config, Console(width=140), out_dir=tmp_path / "best")
    client = MlflowClient(mlflow_server)
    experiment_id, parent = find_parent(mlflow_server, "same")
    assert client.get_run(parent).data.tags[TAG_STORAGE] == config.storage

    def finished() -> set[str]:
        runs = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
        return {r.info.run_id for r in runs if r.info.status == "FINISHED"}

    before = finished()
    assert len(before) == 2

    # the reproduction: the same command with another --storage
    common = ["--name", "same", "--families", "ce", "--trials", "2", "--confirm-top", "0"]
    common += ["--tracking-uri", mlflow_server, "--set", "run.epochs=1"]
    second = _cli("sweep", *common, "--storage", str(tmp_path / "s2"), cwd=tmp_path)
    assert second.returncode == 2, second.stdout[-2000:] + second.stderr[-2000:]
    message = " ".join(second.stderr.split())
    assert str(tmp_path / "s1") in message and str(tmp_path / "s2") in message
    assert "Traceback" not in second.stderr
    assert not (tmp_path / "s2").exists()  # refused before it wrote anything

    # the same storage, one setting changed, without --resume
    changed = config.model_copy(update={"overrides": ["run.epochs=2", "eval.val_nc=false"]})
    with pytest.raises(SpecError) as refused:
        run_sweep(changed, Console(width=140), out_dir=tmp_path / "best")
    message = " ".join(str(refused.value).split())
    assert "already exists" in message and "run.epochs=1" in message and "run.epochs=2" in message
    assert "ncsweep resume same" in message

    assert finished() == before  # the first sweep's finished runs are intact
    assert client.get_run(parent).info.status == "FINISHED"
