"""``ncsweep study paper`` at a tiny budget (CE and NONL, one seed, the balanced and the
0.01 long-tail variants, one epoch): the table (Markdown + JSON) and the MLflow runs."""

from __future__ import annotations

import json

from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from ncsweep.cli import app


def test_tiny_study_writes_the_table_and_tracks_parent_and_child_runs(
    ray_session, mlflow_server, tmp_path
):
    out = tmp_path / "tables"
    result = CliRunner().invoke(
        app,
        [
            "study",
            "paper",
            "--preset",
            "digits",
            "--seeds",
            "1",
            "--families",
            "ce,nonl",
            "--variants",
            "balanced,lt0.01",
            "--name",
            "tiny-study",
            "--set",
            "run.epochs=1",
            "--set",
            "eval.suite_options={corruption: {corruptions: [fog, contrast], limit: 80}}",
            "--storage",
            str(tmp_path / "ray"),
            "--tracking-uri",
            mlflow_server,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output[-4000:]
    data = json.loads((out / "tiny-study.json").read_text())
    markdown = (out / "tiny-study.md").read_text()
    assert data["families"] == ["ce", "nonl"] and data["finished"] == data["runs"] == 4
    for section in (
        "## Accuracy",
        "## NC: final score",
        "## Fraction of CE's steps",
        "## Class-mean prototypes vs linear probes",
        "## Long-tail, imbalance 0.01",
        "## Corruption",
        "## Transfer",
    ):
        assert section in markdown, section
    assert data["corruption"]["ce"]["mce"] == 100.0  # CE against itself
    assert data["corruption"]["nonl"]["mce"] is not None
    assert 0 < data["accuracy"]["nonl"]["mean"] <= 1
    lt = data["longtail"]["lt0.01"]
    assert lt["ce"]["gain_points_overall"] == 0.0 and lt["nonl"]["few"] is not None
    assert set(data["transfer"]["nonl"]) == {"digits_corrupted", "gain_relative_mean"}
    assert data["speed"]["ce"]["nc1"]["fraction"] <= 1.0  # CE matches its own final value

    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("tiny-study").experiment_id
    parent = client.search_runs([experiment], "tags.`ncsweep.kind` = 'study'")
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    children = client.search_runs(
        [experiment], f"tags.`mlflow.parentRunId` = '{parent[0].info.run_id}'"
    )
    assert sorted(r.data.tags["ncsweep.variant"] for r in children) == [
        "balanced",
        "balanced",
        "lt0.01",
        "lt0.01",
    ]
    nonl = next(
        r
        for r in children
        if r.data.tags["ncsweep.loss"] == "nonl" and r.data.tags["ncsweep.variant"] == "balanced"
    )
    assert (
        "eval/corruption/mce" in nonl.data.metrics and "eval/probes/acc/probe" in nonl.data.metrics
    )
    artifacts = {a.path for a in client.list_artifacts(parent[0].info.run_id)}
    assert {"study.md", "study.json"} <= artifacts
