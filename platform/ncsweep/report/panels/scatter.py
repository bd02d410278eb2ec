"""``pareto``: one metric to maximise against one to minimise, per family, front drawn.

Full-budget trials are filled markers and make the front (non-dominated: no other trial at
least as good on both axes and better on one); trials stopped early are open markers and
never on the front. Hover names the trial id, its parameters and its MLflow run id.
"""

from __future__ import annotations

import plotly.graph_objects as go

from ...plan.objectives import pareto_front
from ..data import SweepData, Trial
from ..kinds import Fragment, register_kind
from ..page import PageContext, colour
from ._common import note, params_text

_HOVER = (
    "<b>%{customdata[0]}</b> (%{customdata[1]})<br>%{yaxis.title.text}: %{y:.4f}"
    "<br>%{xaxis.title.text}: %{x:,.0f}<br>%{customdata[2]}<br>run %{customdata[3]}<extra></extra>"
)


@register_kind(
    "pareto",
    metrics_required=2,
    metrics_help="the metric to maximise (y), then the one to minimise (x)",
    groupings=("family",),
)
def render_pareto(panel, data: SweepData, page: PageContext) -> Fragment:
    """Accuracy against NC speed, Pareto front per family."""
    up, down = panel.metrics[0], panel.metrics[1]
    fig = go.Figure()
    drawn = 0
    for family in data.families:
        points = [
            t
            for t in data.family_trials(family)
            if t.status in ("finished", "stopped early")
            and t.value(up) is not None
            and t.value(down) is not None
        ]
        if not points:
            continue
        drawn += len(points)
        for status, symbol in (("finished", "circle"), ("stopped early", "circle-open")):
            group = [t for t in points if t.status == status]
            if not group:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[t.value(down) for t in group],
                    y=[t.value(up) for t in group],
                    mode="markers",
                    name=family if status == "finished" else f"{family} (stopped early)",
                    legendgroup=family,
                    marker={
                        "color": colour(family),
                        "size": 10,
                        "symbol": symbol,
                        "line": {"width": 1.5, "color": colour(family)},
                    },
                    customdata=[
                        [t.row.trial_id, status, params_text(data, t, "<br>"), t.row.run_id]
                        for t in group
                    ],
                    hovertemplate=_HOVER,
                )
            )
        full: list[tuple[Trial, float, float]] = []  # (trial, up, down), both measured
        for t in points:
            y, x = t.value(up), t.value(down)
            if t.status == "finished" and y is not None and x is not None:
                full.append((t, y, x))
        on_front = pareto_front([(y, x) for _, y, x in full])
        front = [t for t, _, _ in sorted((full[i] for i in on_front), key=lambda c: c[2])]
        if len(front) > 1:
            fig.add_trace(
                go.Scatter(
                    x=[t.value(down) for t in front],
                    y=[t.value(up) for t in front],
                    mode="lines",
                    line={"color": colour(family), "dash": "dot", "shape": "hv"},
                    name=f"{family} Pareto front",
                    legendgroup=family,
                    hoverinfo="skip",
                )
            )
    if not drawn:
        return Fragment(note(f"No trial has both {up} and {down} yet."))
    fig.update_xaxes(title_text=f"{down} (lower is faster)")
    fig.update_yaxes(title_text=f"{up}")
    return Fragment(page.figure(fig, height=460), plots=1)
