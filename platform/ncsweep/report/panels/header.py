"""``header``: what the sweep was, what it cost, what ASHA saved, and the best config per family."""

from __future__ import annotations

from datetime import UTC, datetime

from ... import metric_keys as keys
from ...status import RunState, TrialOutcome
from ..data import STATUSES, SweepData
from ..kinds import Fragment, register_kind
from ..page import PageContext, esc, fmt, table
from ._common import params_text

#: The trial counts of the header (ended) and of the budget table (ended and running).
_ENDED = (TrialOutcome.FINISHED, TrialOutcome.STOPPED_EARLY, TrialOutcome.FAILED)
_COUNTED = (*_ENDED, TrialOutcome.RUNNING)


def _budget(data: SweepData, family: str) -> dict[str, float]:
    cpus = float(data.config.get("workers_per_trial", 1) or 1) * float(
        data.config.get("cpus_per_worker", 1) or 0
    )
    gpus = float(data.config.get("gpus_per_trial", 0) or 0)
    out = {s: 0 for s in STATUSES} | {"steps": 0, "saved": 0, "cpu_h": 0.0, "gpu_h": 0.0}
    for t in data.family_trials(family):
        out[t.status] += 1
        out["steps"] += t.row.step or 0
        if t.status == TrialOutcome.STOPPED_EARLY and t.row.total_steps and t.row.step is not None:
            out["saved"] += t.row.total_steps - t.row.step
        out["cpu_h"] += t.hours * cpus
        out["gpu_h"] += t.hours * gpus
    return out


def _storage_mb(data: SweepData, family: str) -> str:
    """MB the family's Tune runs (search and confirmation) hold in the sweep's storage
    (``--keep-checkpoints`` prunes them when the sweep ends); "–" where unreadable."""
    if not data.storage:
        return "–"
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(f"{data.storage.rstrip('/')}/{data.name}")
        folders = [f"{root}/{family}", f"{root}/{family}-confirm"]
        return f"{sum(fs.du(f, total=True) for f in folders if fs.exists(f)) / 1e6:.1f}"
    except Exception:  # storage gone or unreachable: the rest of the report still renders
        return "–"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "–"


def _state(data: SweepData) -> str:
    """``running: ...`` while the sweep runs, else how it ended and when (UTC)."""
    if data.parent_status == RunState.RUNNING:
        return "running: this report shows what has finished"
    ended = data.parent_status.lower()
    if data.parent_end_ms is None:
        return ended
    when = datetime.fromtimestamp(data.parent_end_ms / 1000, tz=UTC)
    return f"{ended} {when:%Y-%m-%d %H:%M} UTC"


@register_kind("header", groupings=("family",))
def render_header(panel, data: SweepData, page: PageContext) -> Fragment:
    """Preset, families, budget spent per family, ASHA's savings, best config per family."""
    budgets = {f: _budget(data, f) for f in data.families}
    total = {k: sum(b[k] for b in budgets.values()) for k in next(iter(budgets.values()), {})}
    state = _state(data)
    kpis = [
        ("preset", data.config.get("preset", "?")),
        ("families", ", ".join(data.families)),
        ("sweep", state),
        (
            "trials finished / stopped / failed",
            "{:.0f} / {:.0f} / {:.0f}".format(
                *(total.get(s, 0) for s in _ENDED),
            ),
        ),
        ("trial-steps spent", f"{total.get('steps', 0):,.0f}"),
        (
            "saved by ASHA",
            f"{total.get('saved', 0):,.0f} steps ({_pct(total.get('saved', 0), total.get('steps', 0) + total.get('saved', 0))})",
        ),
        ("CPU-h / GPU-h", f"{total.get('cpu_h', 0):.2f} / {total.get('gpu_h', 0):.2f}"),
    ]
    html = "".join(f'<span class="kpi"><b>{esc(v)}</b>{esc(k)}</span>' for k, v in kpis)
    html += f'<p><a href="{esc(data.runs_url)}">All runs of this sweep in the MLflow UI</a></p>'
    budget_html, n1 = table(
        [
            "family",
            *_COUNTED,
            "trial-steps",
            "saved by ASHA",
            "CPU-h",
            "GPU-h",
            "storage MB",
        ],
        [
            [
                f,
                *(b[s] for s in _COUNTED),
                f"{b['steps']:,.0f}",
                f"{b['saved']:,.0f} ({_pct(b['saved'], b['steps'] + b['saved'])})",
                f"{b['cpu_h']:.3f}",
                f"{b['gpu_h']:.3f}",
                _storage_mb(data, f),
            ]
            for f, b in budgets.items()
        ],
        cls="budget",
    )
    best_rows = []
    for family in data.families:
        top = data.best.get(family)
        if top is None:
            best_rows.append([esc(family), "–", "–", "–", "no full-budget trial yet", "–"])
            continue
        best_rows.append(
            [
                esc(family),
                esc(top.row.trial_id),
                fmt(top.row.acc1),
                fmt(top.row.nc_steps, ".0f"),
                esc(params_text(data, top)),
                f'<a href="{esc(data.run_url(top.row.run_id))}">{esc(top.row.run_id[:12])}</a>',
            ]
        )
    best_html, n2 = table(
        ["family", "best trial", keys.VAL_ACC1, "NC steps", "parameters", "MLflow run"],
        best_rows,
        cls="best",
        raw=True,
    )
    return Fragment(
        html
        + "<h3>Budget</h3>"
        + budget_html
        + "<h3>Best configuration per family</h3>"
        + best_html,
        rows=n1 + n2,
    )
