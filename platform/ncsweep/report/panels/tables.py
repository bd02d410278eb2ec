"""``evaluations`` (``eval/<suite>/<key>`` metrics, one table per suite) and ``trials``
(every trial: family, status and failure reason, chosen metrics, parameters, run link)."""

from __future__ import annotations

from ... import metric_keys as keys
from ...status import TrialOutcome
from ..catalog import EVAL_PREFIX
from ..data import SweepData
from ..kinds import Fragment, register_kind
from ..page import PageContext, esc, fmt, table
from ._common import note, params_text


def _eval_keys(data: SweepData, patterns: tuple[str, ...]) -> list[str]:
    present = sorted({k for t in data.trials for k in t.row.metrics if k.startswith(EVAL_PREFIX)})
    if "eval/*" in patterns:
        return present
    return [k for k in present if k in patterns]


@register_kind(
    "evaluations",
    metrics_required=1,
    metrics_help="eval/<suite>/<key> keys, or eval/* for all",
    groupings=("suite",),
)
def render_evaluations(panel, data: SweepData, page: PageContext) -> Fragment:
    """One table per evaluation suite: a row per trial that has it, a column per key."""
    keys = _eval_keys(data, panel.metrics)
    if not keys:
        return Fragment(note("No evaluation metrics (eval/<suite>/<key>) in this sweep."))
    suites: dict[str, list[str]] = {}
    for key in keys:
        suites.setdefault(key.split("/")[1], []).append(key)
    html, rows = "", 0
    for suite, suite_keys in suites.items():
        trials = [t for t in data.trials if any(k in t.row.metrics for k in suite_keys)]
        part, n = table(
            ["family", "trial", *(k.split("/", 2)[2] for k in suite_keys)],
            [
                [t.row.family, t.row.trial_id, *(fmt(t.row.metrics.get(k)) for k in suite_keys)]
                for t in trials
            ],
            cls="evaluations",
        )
        html += f"<h3>{esc(suite)}</h3>{part}"
        rows += n
    return Fragment(html, rows=rows)


_STATUS_CLASS: dict[str, str] = {
    TrialOutcome.FAILED: "status-failed",
    TrialOutcome.STOPPED_EARLY: "status-stopped",
    TrialOutcome.RUNNING: "status-running",
}


@register_kind("trials", groupings=("family",))
def render_trials(panel, data: SweepData, page: PageContext) -> Fragment:
    """Every trial with its status (and failure reason), metrics and parameters."""
    if not data.trials:
        return Fragment(note("No trial has started yet."))
    metrics = list(panel.metrics) or [keys.VAL_ACC1, keys.OBJECTIVE_NC_STEPS]
    rows = []
    for t in sorted(data.trials, key=lambda t: (t.row.family, -(t.row.acc1 or -1))):
        status = t.status + (
            f": {t.failure}" if t.status == TrialOutcome.FAILED and t.failure else ""
        )
        rows.append(
            [
                esc(t.row.family),
                esc(t.row.trial_id),
                f'<span class="{_STATUS_CLASS.get(t.status, "")}">{esc(status)}</span>',
                *(
                    fmt(t.value(m), ".0f" if "steps" in m or "iters" in m else ".4f")
                    for m in metrics
                ),
                f"{t.row.step or 0:,} / {t.row.total_steps or 0:,}",
                esc(params_text(data, t)),
                f'<a href="{esc(data.run_url(t.row.run_id))}">{esc(t.row.run_id[:12])}</a>',
            ]
        )
    html, n = table(
        ["family", "trial", "status", *metrics, "steps", "parameters", "MLflow run"],
        rows,
        cls="trials",
        raw=True,
    )
    return Fragment(html, rows=n)
