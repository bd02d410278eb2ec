"""``curves``: the best trial of each family over optimizer steps, one subplot per metric,
the reference family (CE) dashed; ``ce_fraction``: the paper's table, the fraction of the
reference's steps each family needs to match the reference's final value
(``geometry.iterations_to_match``), "never" when it does not.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ... import metric_keys as keys
from ...geometry import METRIC_DIRECTIONS, iterations_to_match
from ..data import SweepData
from ..kinds import Fragment, register_kind
from ..page import PageContext, colour, esc, table
from ._common import note

_NC_PREFIXES = (keys.NC, keys.VAL_NC)


def _reference(panel) -> str:
    return str(panel.options.get("reference", "ce"))


@register_kind(
    "curves",
    metrics_required=1,
    metrics_help="metric keys plotted against the optimizer step",
    options=("reference", "columns"),
)
def render_curves(panel, data: SweepData, page: PageContext) -> Fragment:
    """Best trial per family against the step, one subplot per metric, reference dashed."""
    best = data.best
    if not best:
        return Fragment(note("No family has a full-budget trial yet."))
    keys = list(panel.metrics)
    histories = data.histories([t.row.run_id for t in best.values()], keys)
    cols = int(panel.options.get("columns", 3))
    rows = math.ceil(len(keys) / cols)
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=keys, horizontal_spacing=0.07, vertical_spacing=0.16
    )
    reference = _reference(panel)
    for family, trial in best.items():
        series = histories.get(trial.row.run_id, {})
        for i, key in enumerate(keys):
            points = series.get(key, [])
            if not points:
                continue
            is_ref = family == reference
            fig.add_trace(
                go.Scatter(
                    x=[s for s, _ in points],
                    y=[v for _, v in points],
                    mode="lines",
                    name=f"{family} ({trial.row.trial_id})" + (" reference" if is_ref else ""),
                    legendgroup=family,
                    showlegend=i == 0,
                    line={
                        "color": colour(family),
                        "width": 2.5 if is_ref else 2,
                        "dash": "dash" if is_ref else "solid",
                    },
                    hovertemplate=f"{family} {trial.row.trial_id}<br>step %{{x}}<br>{key}: %{{y:.4g}}<extra></extra>",
                ),
                row=i // cols + 1,
                col=i % cols + 1,
            )
    fig.update_xaxes(title_text="optimizer step")
    return Fragment(page.figure(fig, height=300 * rows + 80), plots=1)


def _raw(key: str) -> str:
    for prefix in _NC_PREFIXES:
        if key.startswith(prefix):
            return key.removeprefix(prefix)
    return key


@register_kind(
    "ce_fraction",
    metrics_required=1,
    metrics_help="nc/<name> keys whose final reference value the others must match",
    options=("reference",),
)
def render_ce_fraction(panel, data: SweepData, page: PageContext) -> Fragment:
    """Fraction of the reference's steps each family's best trial needs to match its end."""
    reference = _reference(panel)
    best = data.best
    if reference not in best:
        return Fragment(note(f"No full-budget {reference} trial: nothing to compare against."))
    keys = list(panel.metrics)
    histories = data.histories([t.row.run_id for t in best.values()], keys)

    def as_history(run_id: str) -> list[tuple[int, dict[str, float]]]:
        steps: dict[int, dict[str, float]] = {}
        for key in keys:
            for step, value in histories.get(run_id, {}).get(key, []):
                steps.setdefault(step, {})[_raw(key)] = value
        return sorted(steps.items())

    ref_history = as_history(best[reference].row.run_id)
    if not ref_history or ref_history[-1][0] <= 0:
        return Fragment(note(f"The {reference} trial logged none of {', '.join(keys)}."))
    rows = []
    for family, trial in best.items():
        if family == reference:
            continue
        fractions = iterations_to_match(as_history(trial.row.run_id), ref_history)
        cells = []
        for key in keys:
            value = fractions.get(_raw(key), "absent")
            cells.append(
                "–" if value == "absent" else "never" if value is None else f"{100 * value:.1f} %"
            )
        rows.append([family, trial.row.trial_id, *cells])
    if not rows:
        return Fragment(note(f"Only {reference} has a full-budget trial."))
    header = [
        "family",
        "best trial",
        *(f"{k} ({'↑' if METRIC_DIRECTIONS.get(_raw(k)) == 'max' else '↓'})" for k in keys),
    ]
    html, n = table(header, rows, cls="ce-fraction")
    ref = best[reference]
    html = (
        f'<p class="desc">Reference: {esc(reference)} trial {esc(ref.row.trial_id)}, '
        f"{ref_history[-1][0]:,} steps. A cell is the first step at which the family's best "
        f"trial is at least as good as the reference's final value, as a share of the "
        f"reference's steps.</p>" + html
    )
    return Fragment(html, rows=n)
