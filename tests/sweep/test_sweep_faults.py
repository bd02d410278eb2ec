"""Sweeps under faults: failing trials, and a driver killed mid-sweep then resumed from S3."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import s3fs
import yaml
from mlflow.tracking import MlflowClient
from rich.console import Console

from ncsweep.runtime.journal import load_study
from ncsweep.sweep import SweepConfig, collect_rows, run_sweep
from ncsweep.sweep.leaderboard import find_parent
from ncsweep.tracking import TAG_RETRIES

REPO = Path(__file__).resolve().parents[2]


def _fix(root: Path, family: str, values: dict) -> None:
    path = root / f"{family}.yaml"
    data = yaml.safe_load(path.read_text())
    data["space"] = {key: {"type": "fixed", "value": value} for key, value in values.items()}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("parallel", [True, False], ids=["families-at-once", "one-at-a-time"])
def test_failing_trials_are_recorded_and_the_sweep_completes(ray_session, tmp_path, parallel):
    spaces = tmp_path / "spaces"
    shutil.copytree(REPO / "search_spaces", spaces)
    preset = yaml.safe_load((spaces / "presets" / "digits.yaml").read_text())
    preset.pop("space")  # the preset's replacements would override the fixed values below
    (spaces / "presets" / "digits.yaml").write_text(yaml.safe_dump(preset))
    _fix(spaces, "ce", {"optim.lr": 1.0e12})  # goes non-finite
    _fix(spaces, "normface", {"run.batch_size": 4096})  # raises in the worker: no full batch
    _fix(spaces, "ntce", {"optim.lr": 0.4})
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = SweepConfig(
        name="faults",
        families=["ce", "normface", "ntce"],
        trials=1,
        parallel_families=parallel,
        storage=str(tmp_path / "ray"),
        tracking_uri=uri,
        scheduler="none",
        spaces_root=str(spaces),
        overrides=["run.epochs=2", "run.max_failures=0", "eval.val_nc=false"],
        confirm_top=0,
    )
    outcome = run_sweep(config, Console(width=140), out_dir=tmp_path / "best")

    by_family = {r.family: r for r in collect_rows(uri, "faults")}
    assert set(by_family) == {"ce", "normface", "ntce"}
    client = MlflowClient(uri)
    reasons = {
        f: client.get_run(r.run_id).data.tags.get("ncsweep.failure_reason", "")
        for f, r in by_family.items()
    }
    assert by_family["ce"].status == "FAILED" and reasons["ce"].startswith(
        "non-finite loss at step"
    )
    assert by_family["normface"].status == "FAILED"
    assert "smaller than one batch" in reasons["normface"]
    assert by_family["ntce"].status == "FINISHED" and by_family["ntce"].complete
    assert [p.name for p in outcome.exported] == ["ntce.yaml"]
    # deterministic failures are verdicts, not infrastructure: never retried, FAIL in Optuna
    for family, state in (("ce", "FAIL"), ("normface", "FAIL"), ("ntce", "COMPLETE")):
        study = load_study(config.storage, "faults", family)
        assert [t.state.name for t in study.trials] == [state], family
        assert TAG_RETRIES not in client.get_run(by_family[family].run_id).data.tags
    _, parent = find_parent(uri, "faults")
    assert client.get_run(parent).info.status == "FINISHED"


def _child_runs(uri: str, sweep: str):
    client = MlflowClient(uri)
    experiment_id, parent = find_parent(uri, sweep)
    return client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")


def test_killed_driver_resumes_from_s3_without_losing_or_repeating_trials(
    ray_session, s3_server, mlflow_server, tmp_path
):
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)
    fs.mkdir("sweeps")
    env = dict(os.environ, RAY_ADDRESS=ray_session.get_runtime_context().gcs_address)
    common = [
        "--storage",
        "s3://sweeps/ray",
        "--tracking-uri",
        mlflow_server,
        "--out",
        str(tmp_path / "best"),
    ]
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ncsweep.cli",
            "sweep",
            "--families",
            "ce",
            "--trials",
            "4",
            "--max-concurrent",
            "1",
            "--scheduler",
            "none",
            "--name",
            "resume-s3",
            "--set",
            "run.epochs=4",
            "--set",
            "eval.val_nc=false",
            "--confirm-top",
            "0",  # the search's resume (test_sweep_confirm.py resumes a confirmation)
            "--keep-checkpoints",
            "final",  # every trial's checkpoints are checked below (retention: test_retention)
            *common,
        ],
        env=env,
        stdout=open(tmp_path / "first.log", "w"),
        stderr=subprocess.STDOUT,
    )
    # every wait here ends well inside pytest's 600 s limit, so a hang fails with its output
    deadline = time.time() + 240
    finished_before = {}
    while len(finished_before) < 2:
        assert driver.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.time() < deadline, (
            "two trials did not finish in 240 s:\n" + (tmp_path / "first.log").read_text()[-3000:]
        )
        time.sleep(2)
        try:
            finished_before = {
                r.data.tags["ncsweep.trial_id"]: r.info.run_id
                for r in _child_runs(mlflow_server, "resume-s3")
                if r.info.status == "FINISHED"
            }
        except Exception:  # the sweep's experiment or parent run does not exist yet
            finished_before = {}
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=60)
    time.sleep(5)  # Ray ends the dead driver's trial actors

    # What a trial that started just before the kill leaves and Tune's state never saw.
    fs.pipe("sweeps/ray/resume-s3/ce/trial_0rphan00/checkpoint_000000/state.pt", b"x")
    fs.pipe("sweeps/ray/resume-s3/train/0rphan00/checkpoint_000000/state.pt", b"x")

    resumed = subprocess.Popen(
        [sys.executable, "-m", "ncsweep.cli", "resume", "resume-s3", *common],
        env=dict(env, PYTHONFAULTHANDLER="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = resumed.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        resumed.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        stdout, stderr = resumed.communicate(timeout=60)
        pytest.fail(f"the resumed sweep hung for 300 s:\n{stdout[-4000:]}\n{stderr[-8000:]}")
    assert resumed.returncode == 0, stdout[-3000:] + stderr[-3000:]

    runs = _child_runs(mlflow_server, "resume-s3")
    trial_ids = [r.data.tags["ncsweep.trial_id"] for r in runs]
    assert len(runs) == 4 and len(set(trial_ids)) == 4, trial_ids
    assert all(r.info.status == "FINISHED" for r in runs)
    client = MlflowClient(mlflow_server)
    for trial_id, run_id in finished_before.items():
        assert run_id in {r.info.run_id for r in runs}, trial_id
        steps = [m.step for m in client.get_metric_history(run_id, "nc/nc1")]
        assert len(steps) == len(set(steps)), f"trial {trial_id} trained again"
    experiment_id, _ = find_parent(mlflow_server, "resume-s3")
    parents = client.search_runs([experiment_id], "tags.`ncsweep.kind` = 'sweep'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"

    # Tune's state and every trial's checkpoints live in the bucket (one-worker CPU trials
    # checkpoint through Tune under ce/<trial>/, Ray Train runs under train/<trial>/).
    assert fs.exists("sweeps/ray/resume-s3/sweep.yaml")
    assert fs.ls("sweeps/ray/resume-s3/ce")
    # A trial started in the second before the kill that the restored Tuner never knew
    # may leave a folder (and an MLflow run, soft-deleted as orphaned), as the one planted
    # above does for sure: the resume removed them.
    # Every trial folder left is one of the sweep's trials, and each has its checkpoints.
    fs.invalidate_cache()
    family_dir = "sweeps/ray/resume-s3/ce"
    folders = {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(family_dir) if fs.isdir(p)}
    folders.discard("ce")  # the folder's own marker object, which Tune writes on S3
    assert folders == {f"trial_{trial_id}" for trial_id in trial_ids}, folders
    for trial_id in trial_ids:
        assert fs.glob(f"sweeps/ray/resume-s3/ce/trial_{trial_id}/checkpoint_*"), trial_id
    assert not fs.exists("sweeps/ray/resume-s3/train/0rphan00")
    assert (tmp_path / "best" / "ce.yaml").is_file()
