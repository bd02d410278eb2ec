"""The MLflow UI that `ncsweep ui` serves, in headless Chromium: the sweep's runs table."""

from __future__ import annotations

import os
import re
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
        match = re.search(r"http://127\.0\.0\.1:\d+/#/experiments/\d+/runs", log.read_text())
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
    assert mlflow_ui.endswith(f"/#/experiments/{experiment.experiment_id}/runs")
    children = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{tiny_sweep.parent_run_id}'"
    )
    child_names = {r.info.run_name for r in children}
    assert len(child_names) == 4

    with chromium_page() as page:
        page.goto(mlflow_ui, wait_until="load")  # the UI polls: never wait for networkidle
        parent = page.locator("[role=row]", has_text=tiny_sweep.name).first
        parent.wait_for(timeout=90_000)
        assert page.get_by_text("Training runs").count() >= 1
        for name in child_names:  # children are folded under the parent
            assert page.locator("[role=row]", has_text=name).count() == 0
        parent.locator("button").first.click()
        for name in child_names:
            page.locator("[role=row]", has_text=name).first.wait_for(timeout=30_000)

        page.goto(mlflow_ui + "?compareRunsMode=CHART", wait_until="load")
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

        page.goto(f"{mlflow_ui}/{tiny_sweep.parent_run_id}/artifacts", wait_until="load")
        page.get_by_text("report", exact=True).first.wait_for(timeout=60_000)
        page.get_by_text("report", exact=True).first.click()
        page.get_by_text(f"{tiny_sweep.name}.html").first.wait_for(timeout=30_000)
