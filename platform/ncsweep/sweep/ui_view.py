"""The sweep's saved view in the MLflow UI, "ncsweep leaderboard": its trials as a table.

Rows: the sweep's trial runs (search trials and confirmation runs, told apart by the
``ncsweep.stage`` column and by name: ``nonl-c76afa74``, ``nonl-c76afa74-seed1``), best
first by the objective. Columns: family, status, stage and seed, the objective's metrics,
``val/acc1``, ``test/acc1``, steps to the NC threshold, the mean NC score, every searched
parameter of the sweep's families, duration. Charts: ``val/acc1`` and the mean NC score
against the step, every trial charted, first in the chart view.

MLflow logs neither the mean NC score nor the censored steps to the threshold: they are
functions of a run's last ``nc_score/*`` and ``nc_iters/*`` (``metric_keys.mean_nc_score``,
``plan.objectives.nc_steps``), so the sweep logs them into each trial run at its end, as
``summary/mean_nc_score`` and ``objective/nc_steps`` (the key Tune reports), at the run's
last step; the NC score curve is ``nc_score/<nc_metric>`` (the sweep's NC metric, or the
first NC score when it is ``mean``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .. import metric_keys as keys
from ..plan.objectives import NC_STEPS, nc_steps
from ..tracking import (
    PARENT_TAG,
    TAG_FAMILY,
    TAG_KIND,
    TAG_SEED,
    TAG_STAGE,
    TAG_STATUS,
    TAG_SWEEP,
    MetricPoint,
    open_store,
)
from ..tracking.ui_view import (
    RunsView,
    attribute_column,
    metric_column,
    param_column,
    save_runs_view,
    tag_column,
)

if TYPE_CHECKING:
    from ..plan.plan import SweepPlan

__all__ = [
    "LEADERBOARD_VIEW",
    "MEAN_NC_SCORE",
    "VIEW_KEY",
    "leaderboard_view",
    "log_summaries",
    "save_leaderboard_view",
]

LEADERBOARD_VIEW = "ncsweep leaderboard"
VIEW_KEY = "ncsweep-leaderboard"
MEAN_NC_SCORE = "summary/mean_nc_score"
SECTION = "ncsweep: val/acc1 and NC score per step"


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def leaderboard_view(plan: SweepPlan, nc_curve: str | None = None) -> RunsView:
    """The view of ``plan``'s sweep; ``nc_curve``: the NC score key charted (module doc)."""
    cfg, objective = plan.config, plan.objective
    searched = _unique(
        p.key for family in plan.families.values() for p in family.space.params if "." in p.key
    )
    metrics = _unique([*objective.metrics, keys.VAL_ACC1, keys.TEST_ACC1, NC_STEPS, MEAN_NC_SCORE])
    columns = (
        tag_column(TAG_FAMILY),
        tag_column(TAG_STATUS),
        tag_column(TAG_STAGE),
        tag_column(TAG_SEED),
        *(metric_column(m) for m in metrics),
        *(param_column(p) for p in searched),
        attribute_column("Duration"),
    )
    charts = (keys.VAL_ACC1,) + ((nc_curve,) if nc_curve else ())
    return RunsView(
        name=LEADERBOARD_VIEW,
        search_filter=(
            f"tags.`{TAG_SWEEP}` = '{_quoted(cfg.name)}' and tags.`{TAG_KIND}` = 'train'"
        ),
        order_by=metric_column(objective.metrics[0]),
        ascending=objective.modes[0] == "min",
        columns=columns,
        charts=charts,
        section=SECTION,
    )


def _quoted(text: str) -> str:
    return text.replace("'", "\\'")


def log_summaries(uri: str, parent: str, experiment_id: str, nc_metric: str) -> str | None:
    """Log each trial run's mean NC score and steps to the threshold (module docstring);
    returns the NC score key to chart (None when no run logged an NC score)."""
    store = open_store(uri)
    curve = None
    for run in store.search_runs(experiment_id, {PARENT_TAG: parent}):
        m = run.metrics
        scores = keys.per_metric(keys.NC_SCORE, m)
        if scores and curve is None:
            name = nc_metric if nc_metric in scores else sorted(scores)[0]
            curve = keys.NC_SCORE + name
        values = {MEAN_NC_SCORE: keys.mean_nc_score(m), NC_STEPS: nc_steps(m, nc_metric)}
        present = {k: float(v) for k, v in values.items() if v is not None}
        if present:
            step, now = int(m.get(keys.STEP, 0)), int(time.time() * 1000)
            points = [MetricPoint(k, v, now, step) for k, v in present.items()]
            store.log_batch(run.run_id, metrics=points)
    return curve


def save_leaderboard_view(plan: SweepPlan, experiment_id: str, parent: str) -> None:
    """At a sweep's end: the trial runs' summaries, then the view (``tracking.ui_view``)."""
    uri = plan.tracking_uri
    curve = log_summaries(uri, parent, experiment_id, plan.config.nc_metric)
    save_runs_view(uri, experiment_id, VIEW_KEY, leaderboard_view(plan, curve))
