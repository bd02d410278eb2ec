"""``ncsweep evaluate`` end to end: runs whose checkpoints are in S3 (moto's server), the
baseline evaluated and compared, results in MLflow; bad input exits 2 naming what is wrong.
The runs are trained by the training core in-process (no Ray: the evaluation is under test)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
import torch
from mlflow.tracking import MlflowClient

from ncsweep.config import load_spec
from ncsweep.runtime.mlflow_hooks import MlflowHooks
from ncsweep.runtime.trainer import close_run, open_run, outcome_from_metrics
from ncsweep.train import TrainingCore, fit
from ncsweep.train.checkpoint import STATE_FILE


def ncsweep(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ncsweep.cli", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def trained(s3_endpoint, mlflow_server):
    """A CE and a NONL digits run (1 epoch) trained by the training core in this process,
    tracked like ``ncsweep train``; each final state uploaded to s3://<bucket>/ray/<run>/ and
    recorded as Ray reports S3 checkpoints (``bucket/key``, no scheme)."""
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint}, skip_instance_cache=True)
    bucket = f"ckpt-{uuid.uuid4().hex[:8]}"
    fs.mkdir(bucket)
    runs = {}
    for family in ("ce", "nonl"):
        spec = load_spec(
            None,
            [
                f"loss.name={family}",
                "run.epochs=1",
                "eval.val_nc=false",
                f"run.storage_path=s3://{bucket}/ray",
                "run.experiment=evaluate-cli",
            ],
        )
        tracking = open_run(spec, f"{family}-{bucket}", mlflow_server)
        core = TrainingCore(spec)
        result = fit(core, [MlflowHooks(tracking)])
        with fs.open(f"{bucket}/ray/{family}/checkpoint_000000/{STATE_FILE}", "wb") as handle:
            torch.save(core.state_dict(), handle)
        outcome = outcome_from_metrics(
            tracking["run_id"], result.metrics, f"{bucket}/ray/{family}/checkpoint_000000"
        )
        runs[family] = close_run(tracking, outcome)
        assert runs[family].ok
    return runs


def test_evaluate_a_run_whose_checkpoint_is_in_s3_against_a_baseline(trained, mlflow_server):
    client = MlflowClient(mlflow_server)
    nonl, ce = trained["nonl"].run_id, trained["ce"].run_id
    assert client.get_run(nonl).data.tags["ncsweep.checkpoint"].startswith("ckpt-")
    out = ncsweep(
        "evaluate",
        nonl,
        "--suite",
        "probes,longtail,corruption",
        "--baseline",
        ce,
        "--tracking-uri",
        mlflow_server,
        "--option",
        "corruption.corruptions=[fog,impulse_noise]",
        "--option",
        "corruption.limit=60",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "prototypes" in out.stdout and "gaussian" not in out.stdout
    metrics = client.get_run(nonl).data.metrics
    for key in (
        "eval/probes/acc/probe",
        "eval/probes/acc/prototypes",
        "eval/longtail/acc/overall",
        "eval/corruption/error/fog/5",
        "eval/corruption/mce",
        "eval/longtail/gain_points/overall",
    ):
        assert key in metrics, key
    # the balanced validation set through the run's own classifier: its final val/acc1
    assert metrics["eval/longtail/acc/overall"] == pytest.approx(metrics["val/acc1"], abs=1e-6)
    assert "eval/longtail/acc/few" not in metrics  # digits are balanced: no few-shot class
    assert client.get_run(nonl).data.tags["ncsweep.eval.baseline"] == ce
    # the baseline had no results: it was evaluated and they were logged to it
    base = client.get_run(ce).data.metrics
    assert "eval/corruption/error/fog/1" in base and "eval/corruption/mce" not in base
    artifacts = {a.path for a in client.list_artifacts(nonl, "eval")}
    assert {"eval/probes.json", "eval/probes.md", "eval/corruption.json"} <= artifacts


def test_bad_input_exits_2_with_a_message(trained, mlflow_server, tmp_path):
    run_id = trained["nonl"].run_id
    unknown = ncsweep(
        "evaluate", run_id, "--suite", "probes,robustness", "--tracking-uri", mlflow_server
    )
    assert unknown.returncode == 2
    assert "robustness" in unknown.stderr and "longtail" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    (tmp_path / "empty").mkdir()
    layout = ncsweep(
        "evaluate",
        run_id,
        "--suite",
        "corruption",
        "--tracking-uri",
        mlflow_server,
        "--option",
        f"corruption.root={tmp_path / 'empty'}",
    )
    assert layout.returncode == 2, layout.stderr[-2000:]
    assert "labels.npy" in layout.stderr and "<corruption>/<1..5>/<wnid>/" in layout.stderr

    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("evaluate-cli").experiment_id
    bare = client.create_run(experiment).info.run_id
    client.log_text(bare, "loss:\n  name: ce\n", "spec.yaml")
    missing = ncsweep("evaluate", bare, "--suite", "probes", "--tracking-uri", mlflow_server)
    assert missing.returncode == 2
    assert "no checkpoint" in missing.stderr and "Traceback" not in missing.stderr

    option = ncsweep(
        "evaluate", run_id, "--option", "longtail.fewer=5", "--tracking-uri", mlflow_server
    )
    # the unknown key, and what the suite takes
    assert option.returncode == 2 and "longtail.fewer" in option.stderr
    assert "many" in option.stderr and "few" in option.stderr
