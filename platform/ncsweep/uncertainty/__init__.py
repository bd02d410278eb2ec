"""Which family wins, with error bars: intervals, verdicts and tuning curves.

Pure statistics over numbers a caller already has (one value per run or per trial): numpy
and scipy only, no Ray, no MLflow, no torch. ``intervals``: means, differences and the
probability of improvement with bootstrap intervals, and the one-sentence verdict a
comparison prints. ``tuning_curves``: the expected best score after n trials, against trials
and cost.
"""

from .intervals import (
    UNITS,
    Estimate,
    difference,
    expanded_level,
    mean_interval,
    probability_of_improvement,
    verdict,
)

__all__ = [
    "UNITS",
    "Estimate",
    "difference",
    "expanded_level",
    "mean_interval",
    "probability_of_improvement",
    "verdict",
]
