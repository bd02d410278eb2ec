"""Every loss family trains on digits with 2 Ray Train workers (gloo), tracked in a real
MLflow server, with NC metrics logged per evaluation step."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from ncsweep.config import load_spec
from ncsweep.runtime.trainer import run_training

# Bars held on digits (287 val images, chance 10 %) after 8 epochs of 8 steps (1,151 train
# images, full global batches of 128: 64 a worker).
FAMILIES = [("ce", 0.90), ("normface", 0.90), ("ntce", 0.90), ("nonl", 0.90), ("scl", 0.85)]


@pytest.mark.parametrize(("family", "bar"), FAMILIES)
def test_family_trains_on_digits_with_two_workers(
    ray_session, mlflow_server, tmp_path, family, bar
):
    spec = load_spec(
        None,
        [
            f"loss.name={family}",
            "run.workers=2",
            "run.epochs=8",
            "optim.lr=0.4",
            "eval.probe_epochs=10",
        ],
    )
    outcome = run_training(
        spec, run_name=f"family-{family}", tracking_uri=mlflow_server, storage_path=str(tmp_path)
    )
    assert outcome.ok, outcome.failure_reason
    assert outcome.metrics["status"] == "done"
    assert outcome.metrics["step"] == outcome.metrics["total_steps"] == 64
    assert outcome.metrics["val/acc1"] >= bar

    client = MlflowClient(mlflow_server)
    run = client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["ncsweep.loss"] == family
    assert run.data.params["loss.name"] == family
    nc1 = client.get_metric_history(outcome.run_id, "nc/nc1")
    assert [m.step for m in sorted(nc1, key=lambda m: m.step)] == list(range(0, 65, 8))
    scores = client.get_metric_history(outcome.run_id, "nc_score/erank_inter")
    assert all(0.0 <= m.value <= 100.0 for m in scores)
    assert client.get_metric_history(outcome.run_id, "val_nc/nc1")
    assert len(client.get_metric_history(outcome.run_id, "train/loss")) >= 8
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id)}
    assert {"spec.yaml", "checkpoint_location.txt"} <= artifacts
    if family == "scl":
        for key in ("val/acc1_prototypes", "val/acc1_probe", "val/acc1_normprobe"):
            assert outcome.metrics[key] >= 0.8, key
        assert outcome.metrics["probe_time_s/probe"] > 0
