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
from .tuning_curves import TuningCurve, expected_max, tuning_curve

__all__ = [
    "UNITS",
    "Estimate",
    "TuningCurve",
    "difference",
    "expanded_level",
    "expected_max",
    "mean_interval",
    "probability_of_improvement",
    "tuning_curve",
    "verdict",
]
