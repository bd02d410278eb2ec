"""Status vocabularies of runs and trials, each written once.

Three layers name a trial's state, each in its own words:

- :class:`RunState`: an MLflow run's status (MLflow's own strings), set by ``tracking``
  and read by the leaderboard, the report and the study table;
- :class:`LoopStatus`: what the training loop reports as the metric ``status``
  (``metric_keys.STATUS``) with every result, read by the sweep and the searcher;
- :class:`TrialOutcome`: what a person reads in the report and the live view.

``StrEnum`` members equal their strings, so they compare with what MLflow and Ray return
and serialise as plain strings. Plain Python: every layer may import it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["LoopStatus", "RunState", "TrialOutcome"]


class RunState(StrEnum):
    """An MLflow run's status (``run.info.status``)."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class LoopStatus(StrEnum):
    """The training loop's ``status`` metric: still training, trained to the end, failed."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class TrialOutcome(StrEnum):
    """How a trial ended, as the report and the live view say it (report order)."""

    FINISHED = "finished"
    STOPPED_EARLY = "stopped early"
    FAILED = "failed"
    RUNNING = "running"
    KILLED = "killed"
