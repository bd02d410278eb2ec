"""The MLflow UI that `ncsweep ui` serves, in headless Chromium: the sweep's runs table."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from report_browser import chromium_page

from services import free_port

# the first test to use the session's tiny sweep runs it (minutes on a busy 2-core machine)
pytestmark = [pytest.mark.mlflow, pytest.mark.timeout(1800)]  # `ncsweep ui` is an MLflow server


@pytest.fixture
def mlflow_ui(tiny_sweep, tmp_path):
    """`ncsweep ui NAME` on a free loopback port; yields the runs-table link it printed."""
    port = free_port()
    log = tmp_path / "ui.log"
    env = dict(os.environ, COLUMNS="400")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ncsweep.cli",
            "ui",
            tiny_sweep.name,
            "--tracking-uri",
            tiny_sweep.uri,
            "--port",
            str(port),
        ],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"ncsweep ui did not start: {log.read_text()}") from None
                time.sleep(0.5)
        match = re.search(r"http://127\.0\.0\.1:\d+/#/experiments/\d+/runs\S*", log.read_text())
        assert match, log.read_text()
        yield match.group(0)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_ui_opens_on_runs_table_parent_expands_children_charted(tiny_sweep, mlflow_ui, chromium):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tiny_sweep.uri)
    experiment = client.get_experiment_by_name(tiny_sweep.name)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs_table = mlflow_ui.split("?")[0]
    assert runs_table.endswith(f"/#/experiments/{experiment.experiment_id}/runs")
    children = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{tiny_sweep.parent_run_id}'"
    )
    child_names = {r.info.run_name for r in children}
    assert len(child_names) == 4

    with chromium_page() as page:
        page.goto(runs_table, wait_until="load")  # the UI polls: never wait for networkidle
        parent = page.locator("[role=row]", has_text=tiny_sweep.name).first
        parent.wait_for(timeout=90_000)
        assert page.get_by_text("Training runs").count() >= 1
        for name in child_names:  # children are folded under the parent
            assert page.locator("[role=row]", has_text=name).count() == 0
        parent.locator("button").first.click()
        for name in child_names:
            page.locator("[role=row]", has_text=name).first.wait_for(timeout=30_000)

        page.goto(runs_table + "?compareRunsMode=CHART", wait_until="load")
        search = page.get_by_placeholder("Search metric charts")
        search.wait_for(timeout=60_000)
        search.fill("nc_score/erank_inter")
        # the search leaves exactly one chart: the one of that key
        page.wait_for_function(
            "document.querySelectorAll('.js-plotly-plot').length === 1", timeout=30_000
        )
        chart = page.locator(".js-plotly-plot").first
        chart.locator(".main-svg").first.wait_for(timeout=30_000)
        lines = chart.locator(".scatterlayer .trace path.js-line")
        assert lines.count() >= len(child_names)
        assert all(
            len(d or "") > 10
            for d in (lines.nth(i).get_attribute("d") for i in range(lines.count()))
        )
        assert "Step" in chart.inner_text()

        page.goto(f"{runs_table}/{tiny_sweep.parent_run_id}/artifacts", wait_until="load")
        page.get_by_text("report", exact=True).first.wait_for(timeout=60_000)
        page.get_by_text("report", exact=True).first.click()
        page.get_by_text(f"{tiny_sweep.name}.html").first.wait_for(timeout=30_000)


def test_printed_link_opens_leaderboard_view_with_family_accuracy_and_durations(
    tiny_sweep, mlflow_ui, chromium, tmp_path
):
    """The link `ncsweep ui` prints opens the sweep's saved view "ncsweep leaderboard": the
    trials named <family>-<trial id>, family and val/acc1 columns with values, best first,
    no negative duration; a screenshot is kept (copied to $NCSWEEP_TEST_ARTIFACTS if set)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tiny_sweep.uri)
    experiment = client.get_experiment_by_name(tiny_sweep.name)
    assert "viewStateShareKey=ncsweep-leaderboard" in mlflow_ui
    assert "workflowType=machine_learning" in mlflow_ui
    children = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{tiny_sweep.parent_run_id}'"
    )
    names = {r.info.run_name: r for r in children}
    assert {n.split("-")[0] for n in names} == {"ce", "nonl"}
    for name, run in names.items():
        assert name == f"{run.data.tags['ncsweep.loss']}-{run.data.tags['ncsweep.trial_id']}"
        assert run.info.end_time >= run.info.start_time
    parent = client.get_run(tiny_sweep.parent_run_id)
    assert parent.info.run_name == f"sweep {tiny_sweep.name}"

    screenshot = tmp_path / "mlflow-leaderboard-view.png"
    with chromium_page(width=3000) as page:  # every column in view (the grid virtualises)
        page.goto(mlflow_ui, wait_until="load")
        page.get_by_text("ncsweep leaderboard").first.wait_for(timeout=90_000)
        for name in names:  # the view lists the trials themselves, not the parent folded
            page.locator("[role=row]", has_text=name).first.wait_for(timeout=60_000)
        headers = page.evaluate(_HEADERS)
        table = page.evaluate(_CELLS)
        page.screenshot(path=str(screenshot), full_page=True)
    _keep(screenshot)
    print("view columns:", headers)
    assert "ncsweep.loss" in headers and "val/acc1" in headers, headers
    assert headers.index("ncsweep.loss") < headers.index("val/acc1")
    rows = [row for row in table if any(name in " ".join(row.values()) for name in names)]
    assert len(rows) == len(names), table
    families = [_cell(row, "ncsweep.loss") for row in rows]
    assert sorted(families) == ["ce", "ce", "nonl", "nonl"], rows
    accuracies = [float(_cell(row, "val/acc1")) for row in rows]
    assert accuracies == sorted(accuracies, reverse=True)  # best first by the objective
    expected = sorted((r.data.metrics["val/acc1"] for r in names.values()), reverse=True)
    assert accuracies == [round(a, 4) for a in expected] or all(
        abs(a - e) < 1e-3 for a, e in zip(accuracies, expected, strict=True)
    )
    durations = [_cell(row, "Duration") for row in rows]
    assert all(d and not d.startswith("-") for d in durations), durations


# the grid's column labels left to right, and its rows as {label: text} (ag-grid renders a row
# once in the pinned and once in the scrolled part: joined by row-index)
_HEADERS = """() => Array.from(document.querySelectorAll('[role=columnheader][col-id]'))
    .filter(e => e.innerText.trim())
    .sort((a, b) => a.getBoundingClientRect().left - b.getBoundingClientRect().left)
    .map(e => e.innerText.trim())"""
_CELLS = """() => {
  const labels = {};
  document.querySelectorAll('[role=columnheader][col-id]').forEach(
      e => { labels[e.getAttribute('col-id')] = e.innerText.trim(); });
  const rows = {};
  document.querySelectorAll('[role=row][row-index]').forEach(r => {
    const row = rows[r.getAttribute('row-index')] ||= {};
    r.querySelectorAll('[role=gridcell]').forEach(c => {
      const id = c.getAttribute('col-id');
      row[labels[id] || id || ''] = c.innerText.trim();
    });
  });
  return Object.values(rows);
}"""


def _cell(row: dict[str, str], label: str) -> str:
    matches = [v for k, v in row.items() if k == label or k.endswith(label)]
    assert matches, (label, row)
    return matches[0]


def _keep(path) -> None:
    """Copy a test artifact to $NCSWEEP_TEST_ARTIFACTS when it is set."""
    target = os.environ.get("NCSWEEP_TEST_ARTIFACTS")
    if target:
        os.makedirs(target, exist_ok=True)
        shutil.copy(path, target)
