"""Dashboard specs: ``dashboards/*.yaml`` declares the report's panels; no Python needed.

A file::

    title: Sweep report
    panels:
      - title: Accuracy against NC speed
        kind: pareto                       # one of PANEL_KINDS
        metrics: [val/acc1, objective/nc_steps]
        grouping: family                   # what one trace / row / block stands for
        description: one line under the title (optional)
        options: {reference: ce}           # kind-specific (optional)

Files are read in name order and their panels concatenated. Every mistake (unknown key or
kind, missing key, unknown metric, a grouping the kind does not draw, an option it does not
take) is a :class:`~ncsweep.config.SpecError` naming the file, the key and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._shipped import MissingShippedFiles, shipped_dir
from ..config import SpecError, read_yaml
from .catalog import is_known_metric
from .kinds import PANEL_KINDS

__all__ = ["Dashboard", "PanelSpec", "dashboards_dir", "load_dashboard", "load_dashboards"]

_FILE_KEYS = ("title", "description", "panels")
_PANEL_KEYS = ("title", "kind", "metrics", "grouping", "description", "options")
_REQUIRED = ("title", "kind")


@dataclass(frozen=True)
class PanelSpec:
    title: str
    kind: str
    metrics: tuple[str, ...] = ()
    grouping: str = "family"
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class Dashboard:
    title: str
    panels: tuple[PanelSpec, ...]
    source: str
    description: str = ""


def dashboards_dir() -> Path:
    """The shipped dashboards: the copy a regular install ships inside the package, else
    ``<repo>/dashboards`` (a checkout or an editable install), else ``./dashboards``
    (:func:`ncsweep._shipped.shipped_dir`)."""
    return shipped_dir("dashboards")


def _allowed(values) -> str:
    return ", ".join(str(v) for v in values)


def _panel(raw: Any, where: str) -> PanelSpec:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: a panel is a mapping with keys {_allowed(_PANEL_KEYS)}")
    unknown = sorted(set(raw) - set(_PANEL_KEYS))
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r}; allowed: {_allowed(_PANEL_KEYS)}")
    for key in _REQUIRED:
        if key not in raw:
            raise SpecError(f"{where}: missing key {key!r} (required: {_allowed(_REQUIRED)})")
    kind_name = raw["kind"]
    kind = PANEL_KINDS.get(kind_name, source=f"{where}.kind")
    metrics = raw.get("metrics", [])
    if isinstance(metrics, str):
        metrics = [metrics]
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise SpecError(f"{where}.metrics: a list of MLflow metric keys")
    if kind.metrics_required and len(metrics) < kind.metrics_required:
        raise SpecError(
            f"{where}: missing key 'metrics' (kind {kind_name} needs "
            f"{kind.metrics_required}: {kind.metrics_help})"
        )
    for i, metric in enumerate(metrics):
        if not is_known_metric(metric):
            raise SpecError(
                f"{where}.metrics[{i}]: unknown metric {metric!r}; allowed: the training "
                f"keys (val/acc1, train/loss, ...), nc/<name>, nc_score/<name>, nc_iters/<name>, "
                f"val_nc/<name>, val_nc_score/<name> for an NC metric name, eval/<suite>/<key> "
                f"or eval/*"
            )
    grouping = raw.get("grouping", kind.groupings[0])
    if grouping not in kind.groupings:
        raise SpecError(
            f"{where}.grouping: {grouping!r} is not drawn by kind {kind_name}; "
            f"allowed: {_allowed(kind.groupings)}"
        )
    options = raw.get("options") or {}
    PANEL_KINDS.validate_options(kind_name, options, source=where, prefix="options.")
    return PanelSpec(
        title=str(raw["title"]),
        kind=kind_name,
        metrics=tuple(metrics),
        grouping=grouping,
        description=str(raw.get("description", "")),
        options=dict(options),
        source=where,
    )


def load_dashboard(path: str | Path) -> Dashboard:
    """Read and validate one dashboard file."""
    path = Path(path)
    data = read_yaml(path)
    unknown = sorted(set(data) - set(_FILE_KEYS))
    if unknown:
        raise SpecError(f"{path}: unknown key {unknown[0]!r}; allowed: {_allowed(_FILE_KEYS)}")
    panels = data.get("panels")
    if not isinstance(panels, list) or not panels:
        raise SpecError(f"{path}: missing key 'panels' (a non-empty list of panels)")
    return Dashboard(
        title=str(data.get("title", path.stem)),
        panels=tuple(_panel(p, f"{path}: panels[{i}]") for i, p in enumerate(panels)),
        source=str(path),
        description=str(data.get("description", "")),
    )


def load_dashboards(root: str | Path | None = None) -> list[Dashboard]:
    """Every ``*.yaml`` directly in ``root`` (default :func:`dashboards_dir`), name order.

    ``root`` may also be a single file. A ``root`` without dashboard files is the caller's
    mistake (:class:`~ncsweep.config.SpecError`); the shipped dashboards missing is an
    installation fault (:class:`~ncsweep._shipped.MissingShippedFiles`).
    """
    if root is not None and Path(root).is_file():
        return [load_dashboard(root)]
    folder = Path(root) if root is not None else dashboards_dir()
    files = sorted(folder.glob("*.yaml"))
    if files:
        return [load_dashboard(f) for f in files]
    if root is not None:
        what = "has no dashboard files (*.yaml)" if folder.is_dir() else "does not exist"
        raise SpecError(
            f"{folder}: {what}; --dashboards takes a dashboard file or a folder of them "
            f"(format: dashboards/README.md in the repository)"
        )
    raise MissingShippedFiles(
        f"the dashboards that ship with ncsweep are missing (no *.yaml in {folder}): this "
        f"installation is incomplete. Reinstall ncsweep from its repository (pip install "
        f"builds through setup.py, which copies dashboards/ into the package), or give "
        f"ncsweep report a --dashboards file or folder"
    )
