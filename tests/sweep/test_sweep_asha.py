"""ASHA end to end: weak trials stopped in evaluation units, told to Optuna as pruned, their
CPUs freed, kept off the Pareto front, their MLflow runs KILLED as Tune stopped them."""

from __future__ import annotations

import shutil
import time

import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from rich.console import Console

from ncsweep.plan.spaces import search_spaces_dir
from ncsweep.runtime import completed_trials, tuning
from ncsweep.runtime.journal import load_study
from ncsweep.sweep import SweepConfig, collect_rows, run_sweep
from ncsweep.sweep.export import pareto_rows
from ncsweep.sweep.leaderboard import find_parent

# digits: 1,151 training images; batch 64 or 128 (the preset's space) -> 17 or 8 steps an
# epoch; two epochs evaluated every 4 steps -> 9 or 4 evaluations, not the 2 epochs.
EPOCHS, EVAL_EVERY = 2, 4


def _spaces_with_a_dead_learning_rate(tmp_path):
    """The shipped spaces, with lr either useless (1e-7: chance accuracy) or good (0.4), so
    that ASHA has weak trials to stop whatever TPE samples."""
    spaces = tmp_path / "spaces"
    shutil.copytree(search_spaces_dir(), spaces)
    preset_file = spaces / "presets" / "digits.yaml"
    preset = yaml.safe_load(preset_file.read_text())
    preset["space"]["all"]["optim.lr"] = {"type": "categorical", "choices": [1.0e-7, 0.4]}
    preset_file.write_text(yaml.safe_dump(preset))
    return spaces


def test_asha_stops_weak_trials_counted_in_evaluations(
    ray_session, mlflow_server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the sweep writes reports/ where it runs
    # what the verdicts after fit() still had to write (completed_trials writes it as Tune
    # completes each trial)
    written_after_fit: dict[str, list[bool]] = {"close_stopped": [], "record_checkpoint": []}
    for name, writes in written_after_fit.items():

        def counted(*args, _write=getattr(completed_trials, name), _log=writes, **kwargs):
            _log.append(_write(*args, **kwargs))
            return _log[-1]

        monkeypatch.setattr(tuning, name, counted)
    storage = str(tmp_path / "ray")
    config = SweepConfig(
        name="asha",
        preset="digits",
        families=["ce"],
        trials=6,
        max_concurrent=1,  # one at a time: each trial meets the rungs of those before it
        storage=storage,
        tracking_uri=mlflow_server,
        objective="pareto",
        scheduler="asha",
        grace_period=1,
        reduction_factor=2,
        confirm_top=0,  # the search's trials only
        spaces_root=str(_spaces_with_a_dead_learning_rate(tmp_path)),
        overrides=[f"run.epochs={EPOCHS}", f"eval.eval_every={EVAL_EVERY}", "eval.val_nc=false"],
    )
    outcome = run_sweep(config, Console(record=True, width=140), out_dir=tmp_path / "best")
    assert outcome.exported

    client = MlflowClient(mlflow_server)
    experiment_id, parent = find_parent(mlflow_server, "asha")
    children = client.search_runs(
        [experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'", order_by=["start_time ASC"]
    )
    assert len(children) == 6
    stopped = [r for r in children if r.data.tags.get("ncsweep.stopped_early") == "asha"]
    finished = [r for r in children if r.info.status == "FINISHED"]
    assert stopped, "ASHA stopped no trial although half of them cannot learn"
    assert finished and len(stopped) + len(finished) == 6

    for run in children:
        evaluations = [m.value for m in client.get_metric_history(run.info.run_id, "evaluation")]
        total_steps = run.data.metrics["total_steps"]
        planned = -(-total_steps // EVAL_EVERY)
        if run in finished:
            # the whole budget, counted in evaluations (more than the 2 epochs)
            assert max(evaluations) == planned > EPOCHS
        else:
            assert run.info.status == "KILLED"
            assert "ncsweep.failure_reason" not in run.data.tags
            assert max(evaluations) < planned
    dead = [r for r in stopped if float(r.data.params["optim.lr"]) < 1e-6]
    assert dead and all(r.data.metrics["val/acc1"] < 0.5 for r in dead)
    # Closed when Tune stopped it, not after fit(): the verdicts then had nothing to write.
    assert len(written_after_fit["close_stopped"]) == len(stopped)
    assert not any(written_after_fit["close_stopped"] + written_after_fit["record_checkpoint"])
    # A stopped run ended when it stopped, before the next trial started (one at a time).
    for run, following in zip(children, children[1:], strict=False):
        if run in stopped:
            assert run.info.end_time <= following.info.start_time + 1000

    # Told to Optuna as pruned, never as complete with early values.
    study = load_study(storage, "asha", "ce")
    states = [t.state for t in study.trials]
    assert states.count(TrialState.PRUNED) == len(stopped)
    assert states.count(TrialState.COMPLETE) == len(finished)

    # Off the Pareto front; the leaderboard knows them as incomplete.
    rows = collect_rows(mlflow_server, "asha")
    front_ids = {r.run_id for r in pareto_rows(rows, "ce")}
    assert front_ids and front_ids.isdisjoint({r.info.run_id for r in stopped})
    assert sum(not r.complete for r in rows) == len(stopped)

    # Stopped trials gave their CPUs back.
    deadline = time.monotonic() + 60
    while ray_session.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(1)
    assert ray_session.available_resources().get("CPU", 0) == 2
