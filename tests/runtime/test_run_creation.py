"""A trial's MLflow run created through a gateway that answers 504 after the server acted:
MLflow's client sends the create again, and no second run stays RUNNING."""

from __future__ import annotations

from fault_proxy import TIMEOUT, FaultProxy, first
from mlflow.tracking import MlflowClient

from ncsweep.tracking import TAG_TRIAL, ensure_experiment, start_run


def test_create_retried_after_a_504_leaves_one_live_run(mlflow_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")  # retry at once
    rule = first("POST", lambda path: path.endswith("/runs/create"), TIMEOUT)
    tags = {"ncsweep.sweep": "gateway", TAG_TRIAL: "t504"}
    with FaultProxy(mlflow_server, rule) as proxy:
        experiment_id = ensure_experiment(proxy.url, "gateway-504")
        run_id = start_run(proxy.url, experiment_id, "t504", tags, reattach=tags)
    creates = [(f, s) for m, p, f, s in proxy.seen if p.endswith("/runs/create")]
    assert creates == [(TIMEOUT, 504), (None, 200)]  # the server made two runs

    client = MlflowClient(mlflow_server)
    live = client.search_runs([experiment_id], filter_string="tags.`ncsweep.trial_id` = 't504'")
    assert [r.info.run_id for r in live] == [run_id]
    assert live[0].info.status == "RUNNING"
    every = client.search_runs([experiment_id], run_view_type=3)  # ViewType.ALL
    twins = [r for r in every if r.info.run_id != run_id]
    assert len(twins) == 1
    assert twins[0].info.lifecycle_stage == "deleted"
    assert twins[0].info.status != "RUNNING"
