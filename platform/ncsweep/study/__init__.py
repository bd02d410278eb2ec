"""``ncsweep study paper``: the paper's claims measured by the platform on one preset.

Each family × seed × variant is one training run (parallel Ray Tune trials, tracked as a
study parent run with child runs); the evaluation suites run at the end of each run; the
study table compares every family with CE.
"""

from .plan import Cell, plan_cells, variants_for
from .runner import StudyOutcome, default_study_name, run_study, write_table
from .table import collect_study, render_markdown, study_json

__all__ = [
    "Cell",
    "StudyOutcome",
    "collect_study",
    "default_study_name",
    "plan_cells",
    "render_markdown",
    "run_study",
    "study_json",
    "variants_for",
    "write_table",
]
