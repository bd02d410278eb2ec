"""``confirmation``: which family wins, with error bars (``sweep/confirmation.py``).

Three parts: each family's confirmed winner with 95 % intervals (``test/acc1``, steps to the
NC threshold, and its validation mean beside the search-best trial's value: the winner's
curse); the pairwise table (difference with its interval, P(A better than B), the
verdict); the tuning curves (expected best validation value after n iid trials, against
trials and against GPU- or trial-hours, with a pointwise band). A sweep without
confirmation runs shows its tuning curves and says that nothing was confirmed.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ...metric_keys import TEST_ACC1
from ...sweep.confirmation import (
    ConfirmedResults,
    confirmed_results,
    ranked_families,
)
from ...uncertainty import Estimate
from ..data import SweepData
from ..kinds import Fragment, register_kind
from ..page import PageContext, colour, esc, table
from ._common import note

__all__ = ["interval_figure", "pairwise_rows", "tuning_figure"]


def _bars(e: Estimate) -> dict:
    return {
        "type": "data",
        "symmetric": False,
        "array": [e.high - e.mean],
        "arrayminus": [e.mean - e.low],
        "thickness": 2,
        "width": 6,
    }


def interval_figure(results: ConfirmedResults) -> go.Figure:
    """Per family, the confirmed winner's mean with its 95 % interval: ``test/acc1``, NC
    steps, and the validation mean beside the search-best trial's value (open marker).

    Traces: one ``<family>`` marker per subplot that has a value, and one ``<family>
    search-best`` marker on the validation subplot."""
    titles = (
        f"{TEST_ACC1} (confirmed winner)",
        "steps to the NC threshold (fewer is faster)",
        f"{results.metric}: confirmed mean vs search-best",
    )
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.08)
    for f in ranked_families(results):
        shown = False
        for col, estimate in (
            (1, f.test_acc1),
            (2, f.nc_steps),
            (3, f.winner.selection),
        ):
            if estimate is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[f.family],
                    y=[estimate.mean],
                    error_y=_bars(estimate),
                    mode="markers",
                    marker={"color": colour(f.family), "size": 11},
                    name=f.family,
                    legendgroup=f.family,
                    showlegend=not shown,
                    hovertemplate=(
                        f"<b>{esc(f.family)}</b> {esc(f.winner.trial_id)}, "
                        f"{estimate.n} seeds<br>%{{y:.4f}} [{estimate.low:.4f}, "
                        f"{estimate.high:.4f}]<extra></extra>"
                    ),
                ),
                row=1,
                col=col,
            )
            shown = True
        if f.search_best_value is not None:
            fig.add_trace(
                go.Scatter(
                    x=[f.family],
                    y=[f.search_best_value],
                    mode="markers",
                    marker={"color": colour(f.family), "size": 11, "symbol": "diamond-open"},
                    name=f"{f.family} search-best",
                    legendgroup=f.family,
                    hovertemplate=(
                        f"<b>{esc(f.family)}</b> search-best {esc(f.search_best_trial)}"
                        "<br>%{y:.4f}<extra></extra>"
                    ),
                ),
                row=1,
                col=3,
            )
    return fig


def pairwise_rows(results: ConfirmedResults) -> list[list[str]]:
    """One row per comparison: A, B, metric, difference [95 %], P(A better) [95 %],
    paired or not, the verdict's outcome (its last clause)."""
    rows = []
    for c in results.comparisons:
        factor, decimals = (100.0, 2) if c.unit == "pts" else (1.0, 0)
        d, p = c.difference, c.probability
        rows.append(
            [
                c.a,
                c.b,
                c.metric + (" (pts)" if c.unit == "pts" else ""),
                f"{d.mean * factor:+.{decimals}f} [{d.low * factor:+.{decimals}f}, "
                f"{d.high * factor:+.{decimals}f}]",
                f"{p.mean:.2f} [{p.low:.2f}, {p.high:.2f}]",
                f"paired, {len(c.seeds)} seeds" if c.paired else "unpaired",
                c.verdict.rsplit(": ", 1)[-1],
            ]
        )
    return rows


def tuning_figure(results: ConfirmedResults) -> go.Figure:
    """Expected best validation value against trials (left) and cost (right), per family.

    Traces per family and subplot: ``<family> band`` (the pointwise 95 % band, filled) and
    ``<family>`` (the expected best)."""
    unit = next((t.cost_unit for t in results.tuning.values()), "trial-hours")
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(f"expected best {results.metric} after n trials", f"... against {unit}"),
        horizontal_spacing=0.08,
    )
    for t in results.tuning.values():
        for col, x in ((1, t.curve["trials"]), (2, t.curve.get("cost"))):
            if x is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[*x, *x[::-1]],
                    y=[*t.curve["high"], *t.curve["low"][::-1]],
                    fill="toself",
                    fillcolor=colour(t.family),
                    opacity=0.18,
                    line={"width": 0},
                    name=f"{t.family} band",
                    legendgroup=t.family,
                    showlegend=False,
                    hoverinfo="skip",
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=t.curve["expected"],
                    mode="lines+markers",
                    line={"color": colour(t.family)},
                    name=t.family,
                    legendgroup=t.family,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="trials", row=1, col=1)
    fig.update_xaxes(title_text=unit, row=1, col=2)
    return fig


@register_kind("confirmation", groupings=("family",), options=("reference",))
def render_confirmation(panel, data: SweepData, page: PageContext) -> Fragment:
    """Confirmed winner per family with 95 % intervals, pairwise verdicts, tuning curves."""
    results = confirmed_results(
        data.uri,
        data.name,
        str(data.config.get("objective") or "accuracy"),
        reference=str(panel.options.get("reference") or "ce"),
        records=data.records,
    )
    html, plots, rows = "", 0, 0
    if results.confirmed:
        html += page.figure(interval_figure(results), height=420)
        plots += 1
        part, rows = table(
            ["A", "B", "metric", "A - B [95 %]", "P(A better) [95 %]", "runs", "verdict"],
            pairwise_rows(results),
            cls="pairwise",
        )
        html += "<h3>Pairwise</h3>" + part
        html += "".join(note(c.verdict) for c in results.against(results.reference))
    else:
        html += note(
            "No confirmation runs: the numbers elsewhere in this report are single search "
            "trials, selected as the best of many (optimistic), without error bars."
        )
    if results.tuning:
        html += "<h3>Tuning curves</h3>" + page.figure(tuning_figure(results), height=400)
        plots += 1
        html += "".join(
            note(f"{t.family}: {t.basis}; cost in {t.cost_unit}") for t in results.tuning.values()
        )
    return Fragment(html, plots=plots, rows=rows)
