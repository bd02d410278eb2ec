"""``ncsweep report``: dashboards declared in ``dashboards/*.yaml`` rendered into one
self-contained HTML page from a sweep's MLflow runs (and its Optuna studies).

Only this package and ``tracking`` import MLflow for reading results.
"""

from . import panels  # noqa: F401  (fills kinds.PANEL_KINDS)
from .build import Report, build_report, default_report_path, write_sweep_report
from .kinds import PANEL_KINDS, Fragment, PanelKind, register_kind
from .spec import Dashboard, PanelSpec, dashboards_dir, load_dashboard, load_dashboards

__all__ = [
    "PANEL_KINDS",
    "Dashboard",
    "Fragment",
    "PanelKind",
    "PanelSpec",
    "Report",
    "build_report",
    "dashboards_dir",
    "default_report_path",
    "load_dashboard",
    "load_dashboards",
    "register_kind",
    "write_sweep_report",
]
