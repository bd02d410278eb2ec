"""Sweeps: search spaces -> one Optuna study per loss family on Ray Tune -> MLflow -> exports.

The names below are imported when first asked for (PEP 562): ``ncsweep sweep --status``,
``export`` and ``report`` read the leaderboard and exports, which import neither torch nor
Ray, while ``run_sweep`` (``runner``) imports both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def __getattr__(name: str):
    # one branch per module, so that tests/test_layers.py sees every edge
    if name in ("FamilyPlan", "SweepPlan"):
        from ..plan import plan as module
    elif name in ("Preset", "list_presets", "load_preset"):
        from ..plan import presets as module
    elif name in ("SearchSpace", "list_families", "load_space"):
        from ..plan import spaces as module
    elif name in ("SweepConfig", "load_state", "save_state"):
        from ..plan import state as module
    elif name == "SweepSettings":
        from ..plan import sweep_config as module
    elif name == "export_best":
        from . import export as module
    elif name in ("best_per_family", "collect_rows", "leaderboard_table"):
        from . import leaderboard as module
    elif name == "resolve_plan":
        from . import resolve as module
    elif name in ("SweepOutcome", "run_sweep"):
        from . import runner as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(module, name)
