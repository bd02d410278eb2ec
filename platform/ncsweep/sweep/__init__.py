"""Sweeps: search spaces -> one Optuna study per loss family on Ray Tune -> MLflow -> exports."""

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
