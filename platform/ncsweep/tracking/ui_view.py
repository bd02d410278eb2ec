"""A saved view of the MLflow UI's runs page, written by a client: columns, filter, sort, charts.

What MLflow provides (read from 3.17.2's UI bundle, ``mlflow/server/js/build``; no Python
API or REST endpoint exists for it, the UI reads and writes experiment tags):

- The runs page's state is one JSON object: the search facets (``searchFilter``,
  ``orderByKey``, ``orderByAsc``, ``startTime``, ``lifecycleFilter``, ``datasetsFilter``,
  ``modelVersionFilter``) and the UI state (``selectedColumns`` as ``<group>.`<key>```,
  ``runsHiddenMode``, ``compareRunCharts``, ``compareRunSections``,
  ``isAccordionReordered``, ``hideEmptyCharts``, ``globalLineChartConfig`` ...).
- "Share" (MLflow 2.x and every 3.x, 3.10 included) stores that state as experiment tag
  ``mlflow.sharedViewState.<key>`` (JSON, or ``deflate;`` + base64 of zlib-deflated JSON)
  and opens it from ``#/experiments/<id>/runs?viewStateShareKey=<key>``.
- Saved views (3.15 and later; the "Views" menu beside the experiment's name, at most 40 per
  experiment) use the same tag and link with an envelope ``{"name", "createdAt",
  "updatedAt", "state": <the state as a JSON string>}``; 3.17 still opens the plain
  format. A UI before 3.15 reads an envelope as a state without any known key, i.e. the
  default table: so a view is written both ways (``<key>`` as a named view, and
  ``<key>.state`` in the plain format) and the link picks by the UI's version.
- The chart layout is part of the same state: ``compareRunCharts`` (chart cards, each in a
  section by ``metricSectionId``) and ``compareRunSections``; with ``isAccordionReordered``
  the UI keeps the sections' order and appends its own generated ones after them.
- ``?workflowType=machine_learning`` in a link picks the UI's "Model training" workflow
  (3.17's side bar switch; otherwise it is remembered per browser, default GenAI); the
  experiment's own kind is the tag ``mlflow.experimentKind`` (``links.py``).
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.request import urlopen

from .factory import open_store

__all__ = [
    "RunsView",
    "SAVED_VIEWS_SINCE",
    "VIEW_TAG_PREFIX",
    "attribute_column",
    "has_view",
    "installed_ui_version",
    "metric_column",
    "param_column",
    "runs_view_url",
    "save_runs_view",
    "tag_column",
    "ui_version",
    "view_state",
]

VIEW_TAG_PREFIX = "mlflow.sharedViewState."
SHARE_KEY_PARAM = "viewStateShareKey"
WORKFLOW_PARAM = "workflowType=machine_learning"
SAVED_VIEWS_SINCE = (3, 15)
PLAIN_SUFFIX = ".state"
# MLflow's limit for an experiment tag's value; the UI refuses to save a larger view too
MAX_TAG_CHARS = 20_000
_DEFLATE = "deflate;"


def _column(group: str, key: str) -> str:
    return f"{group}.`{key}`"


def metric_column(key: str) -> str:
    return _column("metrics", key)


def param_column(key: str) -> str:
    return _column("params", key)


def tag_column(key: str) -> str:
    return _column("tags", key)


def attribute_column(label: str) -> str:
    """An attribute column by its label in the UI: ``Duration``, ``Source``, ``User`` ..."""
    return _column("attributes", label)


@dataclass(frozen=True)
class RunsView:
    """What the runs page shows.

    Attributes:
        name: the view's name in the UI's "Views" menu.
        search_filter: an MLflow search expression (``tags.`ncsweep.kind` = 'train'``).
        order_by: the column key the table is sorted by (``metric_column("val/acc1")``).
        ascending: sort direction.
        columns: column keys, in order.
        charts: metric keys drawn as line charts against the step, in the first section of
            the chart view, every run of the table charted.
        section: that section's title.
    """

    name: str
    search_filter: str
    order_by: str
    ascending: bool
    columns: tuple[str, ...]
    charts: tuple[str, ...] = ()
    section: str = "Curves"


def _line_chart(metric: str, section_id: str, index: int) -> dict:
    return {
        "uuid": f"ncsweep-chart-{index}",
        "type": "LINE",
        "runsCountToCompare": 100,
        "metricSectionId": section_id,
        "deleted": False,
        "isGenerated": True,
        "displayName": metric,
        "metricKey": metric,
        "selectedMetricKeys": [metric],
        "lineSmoothness": 0,
        "xAxisScaleType": "linear",
        "scaleType": "linear",
        "range": {},
        "xAxisKey": "step",
        "selectedXAxisMetricKey": "",
        "yAxisKey": "metric",
        "yAxisExpressions": [],
        "ignoreOutliers": False,
        "useGlobalXaxisKey": True,
        "useGlobalLineSmoothing": True,
    }


def view_state(view: RunsView) -> dict:
    """The runs page's state for ``view``, as the UI stores it (module docstring)."""
    section_id = "ncsweep-section-0"
    charts = [_line_chart(m, section_id, i) for i, m in enumerate(view.charts)]
    return {
        "searchFilter": view.search_filter,
        "orderByKey": view.order_by,
        "orderByAsc": view.ascending,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": list(view.columns),
        # the order in the grid (otherwise by group: attributes, metrics, params, tags)
        "columnOrder": ["attributes.`Run Name`", *view.columns],
        "columnWidths": {},
        "runsHiddenMode": "SHOW_ALL",  # the UI's default charts the first 10 runs only
        "compareRunCharts": charts or None,
        "compareRunSections": (
            [
                {
                    "uuid": section_id,
                    "name": view.section,
                    "display": True,
                    "isReordered": False,
                    "deleted": False,
                    "isGenerated": False,
                }
            ]
            if charts
            else None
        ),
        "viewMaximized": False,
        "runListHidden": False,
        "isAccordionReordered": bool(charts),  # keep this section first
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "groupBy": None,
        "groupsExpanded": {},
        "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0},
        "chartsSearchFilter": "",
    }


def _deflate(text: str) -> str:
    """Compressed as the UI does (pako's zlib stream, base64, behind ``deflate;``)."""
    return _DEFLATE + base64.b64encode(zlib.compress(text.encode())).decode("ascii")


def _fits(text: str) -> str:
    if len(text) > MAX_TAG_CHARS:
        raise ValueError(f"the view is too large for an MLflow tag ({len(text)} characters)")
    return text


def _encode(text: str) -> str:
    """``text`` as is, or deflated when it would not fit a tag."""
    return text if len(text) <= MAX_TAG_CHARS else _fits(_deflate(text))


def save_runs_view(uri: str, experiment_id: str, key: str, view: RunsView) -> None:
    """Write ``view`` to the experiment as saved view ``key`` (3.15+'s "Views" menu) and as
    a shared view ``<key>.state`` (the plain format every UI opens). Writing again replaces
    both (a resumed sweep's view keeps its key)."""
    state = json.dumps(view_state(view), separators=(",", ":"))
    now = int(time.time() * 1000)
    envelope = {"name": view.name, "createdAt": now, "updatedAt": now, "state": state}
    text = json.dumps(envelope, separators=(",", ":"))
    if len(text) > MAX_TAG_CHARS:
        envelope["state"] = _deflate(state)
        text = _fits(json.dumps(envelope, separators=(",", ":")))
    store = open_store(uri)
    store.set_experiment_tag(experiment_id, VIEW_TAG_PREFIX + key, text)
    store.set_experiment_tag(experiment_id, VIEW_TAG_PREFIX + key + PLAIN_SUFFIX, _encode(state))


def has_view(tags: dict[str, str], key: str) -> bool:
    return VIEW_TAG_PREFIX + key in tags


def ui_version(base: str) -> tuple[int, ...] | None:
    """The MLflow version of the UI at ``base`` (its ``/version`` page), None if unknown."""
    try:
        with urlopen(f"{base.rstrip('/')}/version", timeout=5) as answer:  # noqa: S310
            return _version(answer.read().decode().strip())
    except (OSError, ValueError):
        return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2])


def installed_ui_version() -> tuple[int, ...]:
    """The version of the MLflow UI that ``mlflow server`` here serves."""
    import mlflow

    return _version(mlflow.__version__)


def runs_view_url(
    base: str, experiment_id: str, key: str, version: Iterable[int] | None = None
) -> str:
    """The link that opens view ``key`` in the "Model training" workflow: the named view on
    a UI of 3.15 or later (``version``), its plain copy on an older or unknown one."""
    saved = version is not None and tuple(version) >= SAVED_VIEWS_SINCE
    share = key if saved else key + PLAIN_SUFFIX
    return (
        f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs"
        f"?{SHARE_KEY_PARAM}={share}&{WORKFLOW_PARAM}"
    )
