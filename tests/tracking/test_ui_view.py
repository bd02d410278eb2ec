"""A saved MLflow UI view written by a client, and run end times (in-memory store)."""

from __future__ import annotations

import base64
import json
import uuid
import zlib

import pytest

from ncsweep.tracking import ensure_experiment, finish_run, open_store, start_run
from ncsweep.tracking.memory_store import drop_memory_store
from ncsweep.tracking.ui_view import (
    VIEW_TAG_PREFIX,
    RunsView,
    metric_column,
    runs_view_url,
    save_runs_view,
    tag_column,
)

VIEW = RunsView(
    name="ncsweep leaderboard",
    search_filter="tags.`ncsweep.sweep` = 'tiny'",
    order_by=metric_column("val/acc1"),
    ascending=False,
    columns=(tag_column("ncsweep.loss"), metric_column("val/acc1")),
    charts=("val/acc1", "nc_score/nc1"),
)


@pytest.fixture
def uri():
    name = f"memory://ui-view-{uuid.uuid4().hex[:8]}"
    yield name
    drop_memory_store(name)


def _state(text: str) -> dict:
    if text.startswith("deflate;"):
        text = zlib.decompress(base64.b64decode(text[len("deflate;") :])).decode()
    return json.loads(text)


def test_view_is_saved_as_named_view_and_plain_shared_state(uri):
    experiment = ensure_experiment(uri, "tiny")
    save_runs_view(uri, experiment, "ncsweep-leaderboard", VIEW)
    tags = open_store(uri).get_experiment("tiny").tags
    envelope = json.loads(tags[VIEW_TAG_PREFIX + "ncsweep-leaderboard"])
    assert envelope["name"] == "ncsweep leaderboard"
    assert isinstance(envelope["createdAt"], int) and isinstance(envelope["state"], str)
    state = _state(envelope["state"])
    assert state == _state(tags[VIEW_TAG_PREFIX + "ncsweep-leaderboard.state"])
    assert state["selectedColumns"] == ["tags.`ncsweep.loss`", "metrics.`val/acc1`"]
    assert state["orderByKey"] == "metrics.`val/acc1`" and state["orderByAsc"] is False
    assert state["runsHiddenMode"] == "SHOW_ALL"
    (section,) = state["compareRunSections"]
    charts = state["compareRunCharts"]
    assert [c["metricKey"] for c in charts] == ["val/acc1", "nc_score/nc1"]
    assert {c["metricSectionId"] for c in charts} == {section["uuid"]}
    assert all(c["type"] == "LINE" and c["xAxisKey"] == "step" for c in charts)
    assert state["isAccordionReordered"] is True  # the UI keeps this section first


def test_large_view_is_deflated_to_fit_a_tag(uri):
    experiment = ensure_experiment(uri, "wide")
    wide = RunsView(
        name="wide",
        search_filter="",
        order_by=metric_column("val/acc1"),
        ascending=False,
        columns=tuple(metric_column(f"nc_score/metric_{i:04d}") for i in range(900)),
    )
    save_runs_view(uri, experiment, "wide", wide)
    tags = open_store(uri).get_experiment("wide").tags
    envelope = json.loads(tags[VIEW_TAG_PREFIX + "wide"])
    assert envelope["state"].startswith("deflate;")
    assert len(_state(envelope["state"])["selectedColumns"]) == 900
    assert all(len(v) <= 20_000 for v in tags.values())


@pytest.mark.parametrize(
    ("version", "key"),
    [((3, 17), "k"), ((3, 15), "k"), ((3, 10), "k.state"), (None, "k.state")],
)
def test_link_opens_named_view_from_315_plain_state_before(version, key):
    url = runs_view_url("http://127.0.0.1:5000/", "7", "k", version)
    assert url == (
        f"http://127.0.0.1:5000/#/experiments/7/runs?viewStateShareKey={key}"
        "&workflowType=machine_learning"
    )


def test_end_time_never_precedes_start_and_keeps_milliseconds(uri):
    experiment = ensure_experiment(uri, "ends")
    store = open_store(uri)
    early = start_run(uri, experiment, "early", {})
    start = store.get_run(early).start_ms
    finish_run(uri, early, "KILLED", end_time_s=start // 1000)  # a whole-second timestamp
    assert store.get_run(early).end_ms == start
    exact = start_run(uri, experiment, "exact", {})
    start = store.get_run(exact).start_ms
    finish_run(uri, exact, "KILLED", end_time_s=(start + 1234) / 1000)
    run = store.get_run(exact)
    assert run.end_ms - run.start_ms == 1234
    assert run.tags["ncsweep.status"] == "KILLED"
