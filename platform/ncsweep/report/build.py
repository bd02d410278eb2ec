"""Build the report: dashboards (validated) x sweep data (MLflow) -> one HTML file."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .._environment import redact
from ..tracking import open_store
from .data import SweepData, load_sweep
from .kinds import PANEL_KINDS
from .page import PageContext, esc, render_page
from .spec import Dashboard, PanelSpec, load_dashboards

__all__ = ["Report", "build_report", "default_report_path", "write_sweep_report"]

REPORTS_DIR = Path("reports")


@dataclass
class Report:
    path: Path
    panels: int
    plots: int
    bytes: int


def default_report_path(name: str, compare: str | None = None) -> Path:
    return REPORTS_DIR / (f"{name}_vs_{compare}.html" if compare else f"{name}.html")


def _section(index: int, panel: PanelSpec, sweeps: list[SweepData], page: PageContext) -> str:
    render = PANEL_KINDS.get(panel.kind).render
    fragments = [render(panel, data, page) for data in sweeps]
    plots = sum(f.plots for f in fragments)
    rows = sum(f.rows for f in fragments)
    if len(sweeps) == 1:
        inner = fragments[0].html
    else:
        inner = (
            f'<div class="cols" style="--n:{len(sweeps)}">'
            + "".join(
                f"<div><h3>{esc(d.name)}</h3>{f.html}</div>"
                for d, f in zip(sweeps, fragments, strict=True)
            )
            + "</div>"
        )
    desc = f'<p class="desc">{esc(panel.description)}</p>' if panel.description else ""
    return (
        f'<section class="panel" id="panel-{index}" data-kind="{esc(panel.kind)}" '
        f'data-plots="{plots}" data-rows="{rows}"><h2>{esc(panel.title)}</h2>{desc}{inner}</section>'
    )


def build_report(
    uri: str,
    name: str,
    out: str | Path | None = None,
    storage: str | None = None,
    compare: str | None = None,
    dashboards: list[Dashboard] | None = None,
) -> Report:
    """Write the report of sweep ``name`` (and ``compare`` beside it) to ``out``.

    Dashboards are validated before MLflow is read; a sweep still running reports the
    trials that have ended.
    """
    dashboards = dashboards if dashboards is not None else load_dashboards()
    sweeps = [load_sweep(uri, name, storage)]
    if compare:
        sweeps.append(load_sweep(uri, compare, None))
    page = PageContext()
    sections: list[tuple[str, str, str]] = []
    panels = 0
    for board in dashboards:
        for panel in board.panels:
            sections.append((f"panel-{panels}", panel.title, _section(panels, panel, sweeps, page)))
            panels += 1
    title = f"ncsweep report: {name}" + (f" vs {compare}" if compare else "")
    subtitle = (
        f"{len(sweeps[0].trials)} trials, families {', '.join(sweeps[0].families)}; "
        f"MLflow {redact(uri)}, experiment {sweeps[0].experiment_id}; "
        f"generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    )
    text = render_page(title, subtitle, sections)
    path = Path(out) if out else default_report_path(name, compare)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return Report(
        path=path,
        panels=panels,
        plots=text.count('class="plotly-graph-div"'),
        bytes=len(text.encode()),
    )


def write_sweep_report(
    uri: str,
    name: str,
    parent_run_id: str,
    storage: str | None = None,
    out: str | Path | None = None,
) -> Report:
    """The end-of-sweep report: ``reports/<name>.html``, also an artifact of the parent run."""
    report = build_report(uri, name, out=out, storage=storage)
    open_store(uri).log_artifact(parent_run_id, str(report.path), "report")
    return report
