"""The report of a real sweep in headless Chromium, opened from file:// with the network cut."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from plotly.offline import get_plotlyjs
from report_browser import chromium_page

from ncsweep.cli import main
from ncsweep.report import load_dashboards

# the first test to use the session's tiny sweep runs it (minutes on a busy 2-core machine)
pytestmark = pytest.mark.timeout(1800)

SCREENSHOT_DIR = Path(tempfile.gettempdir()) / "ncsweep-test-artifacts"


def _trial_ids(sweep) -> set[str]:
    client = MlflowClient(sweep.uri)
    runs = client.search_runs(
        [client.get_experiment_by_name(sweep.name).experiment_id],
        f"tags.`mlflow.parentRunId` = '{sweep.parent_run_id}'",
    )
    return {r.data.tags["ncsweep.trial_id"] for r in runs}


def test_sweep_writes_report_and_logs_it_on_the_parent_run(tiny_sweep):
    assert tiny_sweep.report.is_file()
    assert f"Report: {tiny_sweep.report}" in tiny_sweep.output
    client = MlflowClient(tiny_sweep.uri)
    listed = {a.path for a in client.list_artifacts(tiny_sweep.parent_run_id, "report")}
    assert listed == {f"report/{tiny_sweep.name}.html"}


def test_report_renders_offline_every_panel_drawn(tiny_sweep, chromium, capsys):
    out = tiny_sweep.root / "cli_report.html"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "report",
                tiny_sweep.name,
                "--tracking-uri",
                tiny_sweep.uri,
                "--storage",
                str(tiny_sweep.storage),
                "--out",
                str(out),
            ]
        )
    assert done.value.code in (0, None)
    assert str(out.resolve()) in capsys.readouterr().out.replace("\n", "")
    html = out.read_text()
    assert html.count(get_plotlyjs()[:300]) == 1  # plotly's bundle inline, once
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", html)

    declared = [p for board in load_dashboards() for p in board.panels]
    ids = _trial_ids(tiny_sweep)
    with chromium_page(offline=True) as page:
        page.goto(out.resolve().as_uri(), wait_until="load")
        page.wait_for_selector(".js-plotly-plot .main-svg")
        page.wait_for_timeout(500)

        sections = page.locator("section.panel")
        assert sections.count() == len(declared)
        drawn = 0
        for i, panel in enumerate(declared):
            section = sections.nth(i)
            assert section.get_attribute("data-kind") == panel.kind
            assert section.locator("h2").inner_text() == panel.title
            promised = int(section.get_attribute("data-plots"))
            plots = section.locator(".js-plotly-plot")
            assert plots.count() == promised, panel.title
            for j in range(promised):  # each figure has its SVG and at least one trace
                assert plots.nth(j).locator(".main-svg").count() >= 1
                assert plots.nth(j).locator("g.trace, g.parcoords, g.bars").count() >= 1
            drawn += promised
        by_kind = {p.kind: sections.nth(i) for i, p in enumerate(declared)}
        for kind in ("pareto", "curves", "search"):
            assert int(by_kind[kind].get_attribute("data-plots")) >= 1, kind
        assert page.locator(".js-plotly-plot").count() == drawn

        # hover a point of the accuracy-vs-NC-speed plot: its label names the trial
        point = by_kind["pareto"].locator(".scatterlayer .trace .points path").first
        point.hover(force=True)
        page.wait_for_selector(".hoverlayer .hovertext", timeout=5000)
        # the pareto figure's own hover layer: other figures come first on the page
        hover = by_kind["pareto"].locator(".hoverlayer .hovertext").first.text_content()
        assert any(t in hover for t in ids), hover
        assert "run " in hover

        # the paper's table: one row per non-CE family, every cell a fraction or "never"
        table = by_kind["ce_fraction"].locator("table.ce-fraction")
        rows = table.locator("tbody tr")
        assert rows.count() == 1
        cells = rows.first.locator("td").all_inner_texts()
        assert cells[0] == "nonl" and cells[1] in ids
        assert all(re.fullmatch(r"\d+\.\d %|never", c) for c in cells[2:]), cells

        trials = by_kind["trials"].locator("table.trials tbody tr")
        assert trials.count() == len(ids)
        assert {trials.nth(i).locator("td").nth(1).inner_text() for i in range(len(ids))} == ids

        assert page.errors == []
        external = [u for u in page.requests if not u.startswith(("file:", "data:", "blob:"))]
        assert external == [], external

        SCREENSHOT_DIR.mkdir(exist_ok=True)
        shot = SCREENSHOT_DIR / "report_tiny_sweep.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"report screenshot: {shot}")
    assert shot.stat().st_size > 50_000
