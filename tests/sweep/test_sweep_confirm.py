"""The confirmation stage: each family's top configs trained again over seeds, as child runs
of the sweep, unseen by the searcher, resumable without running a (config, seed) pair twice.

The first tests read trials written into the in-memory store (no Ray); those marked slow run
real sweeps on Ray Tune, tracked in MLflow.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
import yaml
from mlflow.tracking import MlflowClient
from rich.console import Console

from ncsweep.config import SpecError
from ncsweep.plan.constraints import parse_constraint
from ncsweep.plan.state import load_state, save_state
from ncsweep.runtime.journal import load_study
from ncsweep.sweep import SweepConfig, collect_rows, run_sweep
from ncsweep.sweep.confirm_stage import confirmation_order, confirmation_runs
from ncsweep.sweep.confirmation import confirmed_results
from ncsweep.sweep.leaderboard import find_parent
from ncsweep.sweep.runner import run_confirm
from ncsweep.tracking import (
    STAGE_CONFIRM,
    TAG_CONFIRMS,
    TAG_FAMILY,
    TAG_KIND,
    TAG_SEED,
    TAG_STAGE,
    TAG_SWEEP,
    TAG_TRIAL,
    MetricPoint,
    ensure_experiment,
    finish_run,
    open_store,
    start_run,
)
from ncsweep.tracking.memory_store import drop_memory_store

TOTAL = 100


@pytest.fixture
def uri():
    name = f"memory://confirm-{uuid.uuid4().hex[:8]}"
    yield name
    drop_memory_store(name)


def _run(uri, experiment, parent, trial, acc1, nc_iters, *, step=TOTAL, tags=None) -> str:
    base = {TAG_SWEEP: "cf", TAG_FAMILY: "ce", TAG_TRIAL: trial, TAG_KIND: "train"}
    run_id = start_run(uri, experiment, trial, {**base, **(tags or {})}, parent_run_id=parent)
    metrics = {"step": step, "total_steps": TOTAL, "val/acc1": acc1, "nc_score/nc1": 96.0}
    metrics["nc_iters/nc1"] = nc_iters
    open_store(uri).log_batch(
        run_id, metrics=[MetricPoint(k, float(v), 0, step) for k, v in metrics.items()]
    )
    finish_run(uri, run_id, "FINISHED")
    return run_id


def test_top_configs_are_the_leaderboards_and_the_pareto_front_comes_first(uri):
    experiment = ensure_experiment(uri, "cf")
    parent = start_run(uri, experiment, "cf", {TAG_SWEEP: "cf", TAG_KIND: "sweep"})
    _run(uri, experiment, parent, "a", 0.90, 50)  # dominated by b
    _run(uri, experiment, parent, "b", 0.92, 40)  # front
    _run(uri, experiment, parent, "c", 0.80, 10)  # front: fastest to collapse
    _run(uri, experiment, parent, "d", 0.99, 5, step=40)  # stopped early: never confirmed
    # a confirmation run is not a trial of the search, however good
    _run(uri, experiment, parent, "e", 0.999, 1, tags={TAG_STAGE: STAGE_CONFIRM})
    rows = collect_rows(uri, "cf", objective="pareto")

    assert sorted(r.trial_id for r in rows) == ["a", "b", "c", "d"]
    assert [r.trial_id for r in confirmation_order(rows, "ce", "accuracy")] == ["b", "a", "c"]
    assert [r.trial_id for r in confirmation_order(rows, "ce", "pareto")] == ["b", "c", "a"]
    assert confirmation_order(rows, "nonl", "accuracy") == []


def test_a_trial_that_breaks_a_constraint_is_never_confirmed(uri):
    experiment = ensure_experiment(uri, "cf")
    parent = start_run(uri, experiment, "cf", {TAG_SWEEP: "cf", TAG_KIND: "sweep"})
    _run(uri, experiment, parent, "a", 0.90, 50)  # 2 points under b: infeasible
    _run(uri, experiment, parent, "b", 0.92, 40)
    _run(uri, experiment, parent, "c", 0.915, 10)  # within 1 point of b, fastest
    _run(uri, experiment, parent, "d", 0.80, 5)  # would lead the pareto front unconstrained
    within = [parse_constraint("val/acc1>=ce-1")]
    rows = collect_rows(uri, "cf", objective="pareto", constraints=within)

    assert [r.trial_id for r in rows if not r.feasible] == ["a", "d"]
    assert [r.trial_id for r in confirmation_order(rows, "ce", "accuracy")] == ["b", "c"]
    assert [r.trial_id for r in confirmation_order(rows, "ce", "pareto")] == ["b", "c"]


def test_confirmation_seeds_follow_the_search_seed_and_old_sweeps_resume_without_a_stage(
    tmp_path,
):
    config = SweepConfig(name="s", families=["ce"], storage=str(tmp_path), tracking_uri="x")
    # the digits preset: its best trial over 3 seeds, none the search's own seed 0
    assert (config.confirm_top, config.confirm_seed_list) == (1, [1, 2, 3])
    assert config.model_copy(update={"seed": 7}).confirm_seed_list == [8, 9, 10]
    assert not config.model_copy(update={"confirm_seeds": 0}).confirms
    save_state(config)
    saved = (tmp_path / "s" / "sweep.yaml").read_text()
    lines = [line for line in saved.splitlines() if not line.startswith("confirm_")]
    (tmp_path / "s" / "sweep.yaml").write_text("\n".join(lines))  # as saved before the stage
    assert load_state(str(tmp_path), "s").confirm_top == 0
    assert load_state(str(tmp_path), "s").confirm_seeds == 3


def _confirm_sweep(name, tmp_path, uri, families, trials, **settings) -> SweepConfig:
    return SweepConfig(
        name=name,
        preset="digits",
        families=list(families),
        trials=trials,
        storage=str(tmp_path / "ray"),
        tracking_uri=uri,
        scheduler="none",
        overrides=["run.epochs=1", "eval.val_nc=false"],
        **settings,
    )


def test_top_configs_run_again_over_seeds_as_children_the_searcher_never_sees(
    ray_session, mlflow_server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    config = _confirm_sweep(
        "confirm", tmp_path, mlflow_server, ("ce", "nonl"), 3, confirm_top=2, confirm_seeds=2
    )
    console = Console(record=True, width=160)
    run_sweep(config, console, out_dir=tmp_path / "best")

    client = MlflowClient(mlflow_server)
    experiment_id, parent = find_parent(mlflow_server, "confirm")
    assert client.get_run(parent).info.status == "FINISHED"
    children = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    stages = Counter(r.data.tags.get(TAG_STAGE) for r in children)
    assert stages == {"search": 6, "confirm": 8}, stages
    rows = collect_rows(mlflow_server, "confirm")
    assert len(rows) == 6  # the leaderboard holds the search's trials only
    confirmed = [r for r in children if r.data.tags[TAG_STAGE] == STAGE_CONFIRM]
    assert {r.info.run_id for r in confirmed} == {
        r.run_id for r in confirmation_runs(mlflow_server, "confirm")
    }
    pairs = Counter()
    for run in confirmed:
        tags, params = run.data.tags, run.data.params
        assert run.info.status == "FINISHED", tags.get("ncsweep.failure_reason")
        assert params["run.seed"] == tags[TAG_SEED] and params["eval.test"] == "True"
        searched = client.get_run(tags[TAG_CONFIRMS])
        assert searched.data.tags[TAG_STAGE] == "search"
        assert searched.data.params["run.seed"] == "0"
        assert tags[TAG_FAMILY] == searched.data.tags[TAG_FAMILY]
        # the confirmed trial's spec, trained again: only the seed (and the test) differ
        differ = {"run.seed", "run.name", "eval.test"}
        assert {k: v for k, v in params.items() if k not in differ} == {
            k: v for k, v in searched.data.params.items() if k not in differ
        }
        # the held-out test split is measured by confirmation runs only, once, at the end
        assert "test/acc1" in run.data.metrics
        assert len(client.get_metric_history(run.info.run_id, "test/acc1")) == 1
        pairs[(tags[TAG_FAMILY], tags[TAG_CONFIRMS], tags[TAG_SEED])] += 1
    assert set(pairs.values()) == {1}
    for run in children:
        if run.data.tags[TAG_STAGE] == "search":  # what the searcher learns from
            assert not [k for k in run.data.metrics if k.startswith("test")], run.data.metrics
    # the export and the confirmed statistics name the same winner per family
    confirmed = confirmed_results(mlflow_server, "confirm")
    for family, result in confirmed.families.items():
        exported = yaml.safe_load((tmp_path / "best" / f"{family}.yaml").read_text())
        provenance = exported["provenance"]
        assert provenance["mlflow_run_id"] == result.winner.search_run_id, family
        assert provenance["confirmation"]["seeds"] == [1, 2], family
        # the parent run carries the confirmed numbers, not only the search-best's
        summary = client.get_run(parent).data
        assert summary.tags[f"ncsweep.confirmed.{family}"] == result.winner.search_run_id
        test_acc1 = result.test_acc1
        assert test_acc1 is not None
        assert summary.metrics[f"confirmed/{family}/test/acc1/mean"] == pytest.approx(
            test_acc1.mean
        )
        low = summary.metrics[f"confirmed/{family}/val/acc1/low"]
        assert low <= summary.metrics[f"confirmed/{family}/val/acc1/mean"]
    for family in ("ce", "nonl"):
        top = [r.run_id for r in confirmation_order(rows, family, "accuracy")[:2]]
        assert {(c, s) for f, c, s in pairs if f == family} == {
            (c, s) for c in top for s in ("1", "2")
        }, family
        # the searcher learnt from its own trials only
        assert len(load_study(config.storage, "confirm", family).trials) == 3
    text = console.export_text()
    assert "Confirmed leaderboard: confirm" in text and "confirmation:" in text

    # run again: the stage is complete (Tune restores it, nothing runs twice)
    run_confirm(config, Console(width=160))
    assert len(confirmation_runs(mlflow_server, "confirm")) == 8
    # the configs were chosen with K=2 and S=2: another K is refused, nothing changes
    with pytest.raises(SpecError, match="confirm_top 2"):
        run_confirm(config.model_copy(update={"confirm_top": 3}), Console(width=160))
    assert load_state(config.storage, "confirm").confirm_top == 2


def _active_confirmations(uri: str, name: str):
    try:
        return confirmation_runs(uri, name)
    except SpecError:  # the sweep's parent run does not exist yet
        return []


def test_a_driver_killed_during_confirmation_resumes_each_pair_once(
    ray_session, mlflow_server, tmp_path
):
    env = dict(os.environ, RAY_ADDRESS=ray_session.get_runtime_context().gcs_address)
    common = ["--storage", str(tmp_path / "ray"), "--tracking-uri", mlflow_server]
    common += ["--out", str(tmp_path / "best")]
    log = tmp_path / "first.log"
    driver = subprocess.Popen(
        [sys.executable, "-m", "ncsweep.cli", "sweep", "--families", "ce", "--trials", "2"]
        + ["--max-concurrent", "1", "--scheduler", "none", "--name", "killed"]
        + ["--confirm-top", "2", "--confirm-seeds", "2"]
        + ["--set", "run.epochs=6", "--set", "eval.val_nc=false", *common],
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 360
    while not any(r.status == "FINISHED" for r in _active_confirmations(mlflow_server, "killed")):
        assert driver.poll() is None, log.read_text()[-3000:]
        assert time.time() < deadline, "no confirmation run finished:\n" + log.read_text()[-3000:]
        time.sleep(1)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=60)
    before = confirmation_runs(mlflow_server, "killed")
    finished_before = {r.run_id for r in before if r.status == "FINISHED"}
    assert len(finished_before) < 4, "the stage ended before the kill"
    time.sleep(5)  # Ray ends the dead driver's trial actors

    resumed = subprocess.run(
        [sys.executable, "-m", "ncsweep.cli", "resume", "killed", *common],
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    runs = confirmation_runs(mlflow_server, "killed")
    pairs = Counter((r.tags[TAG_CONFIRMS], r.tags[TAG_SEED]) for r in runs)
    assert len(pairs) == 4 and set(pairs.values()) == {1}, pairs
    assert all(r.status == "FINISHED" for r in runs), [r.status for r in runs]
    assert finished_before <= {r.run_id for r in runs}, "a finished run was trained again"
    assert len(collect_rows(mlflow_server, "killed")) == 2
    assert len(load_study(str(tmp_path / "ray"), "killed", "ce").trials) == 2
    _, parent = find_parent(mlflow_server, "killed")
    assert MlflowClient(mlflow_server).get_run(parent).info.status == "FINISHED"
