"""Sweeps: search spaces -> one Optuna study per loss family on Ray Tune -> MLflow -> exports.

The names below are imported when first asked for (PEP 562): ``ncsweep sweep --status``,
``export`` and ``report`` read the leaderboard and exports, which import neither torch nor
Ray, while ``run_sweep`` (``runner``) imports both.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..plan.plan import FamilyPlan, SweepPlan
    from ..plan.presets import Preset, list_presets, load_preset
    from ..plan.spaces import SearchSpace, list_families, load_space
    from ..plan.state import SweepConfig, load_state, save_state
    from ..plan.sweep_config import SweepSettings
    from .export import export_best
    from .leaderboard import best_per_family, collect_rows, leaderboard_table
    from .resolve import resolve_plan
    from .runner import SweepOutcome, run_sweep

__all__ = [
    "FamilyPlan",
    "Preset",
    "SearchSpace",
    "SweepConfig",
    "SweepSettings",
    "SweepOutcome",
    "SweepPlan",
    "best_per_family",
    "collect_rows",
    "export_best",
    "leaderboard_table",
    "list_families",
    "list_presets",
    "load_preset",
    "load_space",
    "load_state",
    "resolve_plan",
    "run_sweep",
    "save_state",
]


#: Public name -> the module that defines it, relative to this package (what
#: ``importlib.import_module`` resolves against ``__name__``; tests/test_layers.py reads this
#: table as this package's imports).
_LAZY: dict[str, str] = {
    "FamilyPlan": "..plan.plan",
    "SweepPlan": "..plan.plan",
    "Preset": "..plan.presets",
    "list_presets": "..plan.presets",
    "load_preset": "..plan.presets",
    "SearchSpace": "..plan.spaces",
    "list_families": "..plan.spaces",
    "load_space": "..plan.spaces",
    "SweepConfig": "..plan.state",
    "load_state": "..plan.state",
    "save_state": "..plan.state",
    "SweepSettings": "..plan.sweep_config",
    "export_best": ".export",
    "best_per_family": ".leaderboard",
    "collect_rows": ".leaderboard",
    "leaderboard_table": ".leaderboard",
    "resolve_plan": ".resolve",
    "SweepOutcome": ".runner",
    "run_sweep": ".runner",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
