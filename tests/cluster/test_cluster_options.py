"""The cluster options without a cluster: bad ``--resources-per-worker`` exits 2 before
anything starts, a job's runtime_env never conflicts with ours, a study survives the
round trip through storage."""

from __future__ import annotations

import json
import subprocess
import sys

import optuna
import pytest

from ncsweep.config import SpecError, load_spec
from ncsweep.report.optuna_study import saved_study
from ncsweep.runtime.cluster import connect_kwargs, is_remote_storage, parse_resources
from ncsweep.runtime.journal import load_study, open_study_storage, save_study
from ncsweep.runtime.trainer import build_trainer


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{worker_node: 1}", ["--resources-per-worker", "not JSON", '{"worker_node": 0.01}']),
        ('{"worker_node": -1}', ["--resources-per-worker", "non-negative"]),
        ('["worker_node"]', ["JSON object"]),
        ('{"GPU": 1}', ["GPU", "--gpus-per-trial"]),
    ],
)
def test_bad_resources_are_refused_with_a_message(value, expected):
    with pytest.raises(SpecError) as caught:
        parse_resources(value)
    assert all(part in str(caught.value) for part in expected), caught.value
    assert parse_resources('{"worker_node": 0.01}') == {"worker_node": 0.01}


@pytest.mark.slow  # ``python -m ncsweep.cli sweep`` imports torch, Ray and MLflow
def test_bad_resources_exit_2_before_anything_starts(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "ncsweep.cli", "sweep", "--resources-per-worker", "{oops"]
        + ["--storage", str(tmp_path / "ray"), "--tracking-uri", f"sqlite:///{tmp_path}/m.db"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "--resources-per-worker" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_inside_a_job_only_unset_quiet_variables_are_added(monkeypatch):
    job = {"runtime_env": {"env_vars": {"RAY_USAGE_STATS_ENABLED": "0"}, "working_dir": "x"}}
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps(job))
    joined = connect_kwargs("127.0.0.1:6379")
    assert "RAY_USAGE_STATS_ENABLED" not in joined["runtime_env"]["env_vars"]
    assert joined["runtime_env"]["env_vars"]["MLFLOW_DISABLE_TELEMETRY"] == "true"
    # A joined cluster is not ours to configure (the local, loopback-only start is
    # tests/cli/test_cli_local_ray.py's; calling it here would switch this process's Ray).
    assert "include_dashboard" not in joined and "_node_ip_address" not in joined


def test_storage_kinds():
    assert is_remote_storage("s3://bucket/x") and is_remote_storage("gs://b")
    assert not is_remote_storage("/data/ray") and not is_remote_storage("file:///data")


def test_study_is_saved_to_storage_and_restored(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    storage = str(tmp_path / "storage")
    study = optuna.create_study(
        storage=open_study_storage(storage, "s", "ce", restore=False), study_name="ce"
    )
    for value in (0.5, 0.7):
        trial = study.ask()
        trial.suggest_float("lr", 0.01, 1.0)
        study.tell(trial, value)
    save_study(storage, "s", "ce")
    assert (tmp_path / "storage" / "s" / "studies" / "ce.journal").is_file()

    # A later job: the working copy is gone; restoring fetches the saved journal.
    monkeypatch.setenv("HOME", str(tmp_path / "other-home"))
    again = optuna.load_study(
        storage=open_study_storage(storage, "s", "ce", restore=True), study_name="ce"
    )
    assert [t.value for t in again.trials] == [0.5, 0.7]
    assert [t.value for t in load_study(storage, "s", "ce").trials] == [0.5, 0.7]
    assert [t.value for t in saved_study(storage, "s", "ce").trials] == [0.5, 0.7]  # reports
    assert saved_study(storage, "s", "nonl") is None  # no journal: reports rebuild it

    # A fresh sweep of the same name starts a fresh study.
    open_study_storage(storage, "s", "ce", restore=False)
    assert not (tmp_path / "storage" / "s" / "studies" / "ce.journal").exists()


@pytest.mark.parametrize(("gpus", "backend"), [(1.0, "nccl"), (0.0, "gloo")])
def test_gpus_turn_on_ray_trains_nccl_path_and_custom_resources_reach_workers(gpus, backend):
    spec = load_spec(None, [f"run.gpus_per_worker={gpus}", "run.workers=2"])
    trainer = build_trainer(spec, "t", None, "/tmp/unused", resources={"worker_node": 0.01})
    assert trainer.scaling_config.use_gpu is (gpus > 0)
    assert trainer.backend_config.backend == backend
    expected = {"CPU": 1.0, "worker_node": 0.01, **({"GPU": gpus} if gpus else {})}
    assert trainer.scaling_config.resources_per_worker == expected
