"""The report's reads and numbers, on a synthetic sweep in a real MLflow server."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from report_synthetic import CURVE_KEYS, make_sweep

from ncsweep.geometry import iterations_to_match
from ncsweep.report import build_report
from ncsweep.report.data import load_sweep
from ncsweep.tracking import mlflow_history as history

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.fixture(scope="module")
def synthetic(mlflow_server):
    make_sweep(mlflow_server, "syn-report", 14, running=True)
    return mlflow_server, "syn-report"


def _assert_equal_to_public_reads(uri: str, name: str) -> None:
    data = load_sweep(uri, name)
    run_ids = [t.row.run_id for t in data.trials]
    keys = ["val/acc1", "nc/nc1"]
    got = history.metric_histories(uri, run_ids, keys)
    assert got
    client = MlflowClient(uri)
    for run_id in run_ids:
        for key in keys:
            expected = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
            assert got.get(run_id, {}).get(key, []) == expected


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "public"])
def test_server_histories_equal_one_read_per_run_and_key(synthetic, monkeypatch, bulk):
    """The bulk endpoint (MLflow versions it was checked on) and the public reads agree."""
    # answers of at most 25 points: every 100-run request is split until it fits
    monkeypatch.setattr(history, "POINTS_PER_REQUEST", 25)
    monkeypatch.setattr(history, "bulk_reads", lambda: bulk)
    _assert_equal_to_public_reads(*synthetic)


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "public"])
def test_database_store_histories_equal_one_read_per_run_and_key(tmp_path, monkeypatch, bulk):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    make_sweep(uri, "syn-sqlite", 4)
    monkeypatch.setattr(history, "bulk_reads", lambda: bulk)
    _assert_equal_to_public_reads(uri, "syn-sqlite")


def test_bulk_reads_cover_the_mlflow_versions_pyproject_allows():
    """The range pyproject.toml installs is the range the bulk reads were checked on."""
    spec = next(
        d
        for d in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
        if d.startswith("mlflow")
    )
    bounds = re.fullmatch(r"mlflow>=(\d+)\.(\d+),<(\d+)\.(\d+)", spec)
    assert bounds, spec
    low_major, low_minor, high_major, high_minor = map(int, bounds.groups())
    newest = (high_major, high_minor - 1)
    assert history.CHECKED_MLFLOW == ((low_major, low_minor), newest), spec
    assert history.bulk_reads()  # the installed MLflow
    assert history.bulk_reads(f"{low_major}.{low_minor}.0")
    assert not history.bulk_reads(f"{high_major}.{high_minor}.0")


def test_statuses_budget_and_ce_fraction_of_a_running_sweep(synthetic, tmp_path):
    uri, name = synthetic
    data = load_sweep(uri, name)
    statuses = [t.status for t in data.trials]
    assert statuses.count("failed") == 2 and statuses.count("stopped early") == 2
    assert statuses.count("running") == 1 and statuses.count("finished") == 9
    assert data.parent_status == "RUNNING"

    report = build_report(uri, name, out=tmp_path / "r.html")
    html = report.path.read_text()
    assert "running: this report shows what has finished" in html
    assert html.count("non-finite loss at step") == 2  # failure reasons in the trial table
    # ASHA: 2 stopped trials each saved 200 - 60 steps
    assert "280 steps" in html

    ce, nonl = data.best["ce"], data.best["nonl"]
    keys = [f"nc/{k}" for k in CURVE_KEYS]
    series = data.histories([ce.row.run_id, nonl.row.run_id], keys)

    def as_history(run_id):
        steps = {}
        for key in keys:
            for step, value in series[run_id][key]:
                steps.setdefault(step, {})[key.removeprefix("nc/")] = value
        return sorted(steps.items())

    expected = iterations_to_match(as_history(nonl.row.run_id), as_history(ce.row.run_id))
    row = re.search(r'<table class="ce-fraction">.*?<tbody><tr>(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert cells[:2] == ["nonl", nonl.row.trial_id]
    for cell, name_ in zip(cells[2:], CURVE_KEYS, strict=True):
        value = expected[name_]
        assert cell == ("never" if value is None else f"{100 * value:.1f} %")


def test_a_finished_sweep_says_finished_and_when(synthetic, tmp_path):
    uri, _ = synthetic
    make_sweep(uri, "syn-done", 4)
    data = load_sweep(uri, "syn-done")
    assert data.parent_status == "FINISHED" and data.parent_end_ms
    html = build_report(uri, "syn-done", out=tmp_path / "d.html").path.read_text()
    when = datetime.fromtimestamp(data.parent_end_ms / 1000, tz=UTC)
    assert f"<b>finished {when:%Y-%m-%d %H:%M} UTC</b>sweep" in html
    assert "running: this report" not in html


def test_compare_puts_two_sweeps_side_by_side(synthetic, tmp_path):
    uri, name = synthetic
    make_sweep(uri, "syn-other", 6, families=("ce", "ntce"), seed=1)
    report = build_report(uri, name, out=tmp_path / "c.html", compare="syn-other")
    html = report.path.read_text()
    assert "syn-report vs syn-other" in html
    assert html.count("<h3>syn-other</h3>") == report.panels
    assert report.plots >= 2 * 2  # at least a pareto and a curves figure per sweep
