"""Metric keys every module shares (MLflow, Ray reports, leaderboards, summaries).

docs/design.md's contract, written once: a run logs ``train/loss``; ``val/loss``, ``val/acc1``,
``val/acc5`` (fractions); each NC metric ``<name>`` (``geometry.descriptors.METRICS``) on the
training split as ``nc/<name>`` (raw), ``nc_score/<name>`` (%), ``nc_iters/<name>`` (first
optimizer step with the score at the threshold), on validation as ``val_nc/<name>`` and
``val_nc_score/<name>``; SCL heads as ``val/acc1_prototypes``, ``val/acc1_probe``,
``val/acc1_normprobe``; and ``step``, ``total_steps``, ``epoch``, ``lr`` beside them.
``val/*`` comes from a validation split carved from the training data: what the search and
every selection read. ``test/loss``, ``test/acc1``, ``test/acc5`` and ``test_nc/<name>``,
``test_nc_score/<name>`` come from the held-out test split, once at the end of a run that
asks for them (``eval.test``); a sweep's trials never do.
Plain Python: every layer may import it.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "EPOCH",
    "EVALUATION",
    "FIXED_KEYS",
    "LR",
    "NC",
    "NC_ITERS",
    "NC_PREFIXES",
    "NC_SCORE",
    "OBJECTIVE_NC_STEPS",
    "STATUS",
    "STEP",
    "TEST_ACC1",
    "TEST_ACC5",
    "TEST_HEADLINE",
    "TEST_LOSS",
    "TEST_NC",
    "TEST_NC_SCORE",
    "TOTAL_STEPS",
    "TRAIN_LOSS",
    "TRAIN_NEGATIVE_SET_SIZE",
    "VAL_ACC1",
    "VAL_ACC1_NORMPROBE",
    "VAL_ACC1_PROBE",
    "VAL_ACC1_PROTOTYPES",
    "VAL_ACC5",
    "VAL_HEADLINE",
    "VAL_LOSS",
    "VAL_NC",
    "VAL_NC_SCORE",
    "mean_nc_score",
    "per_metric",
    "prefixed",
]

TRAIN_LOSS = "train/loss"
TRAIN_NEGATIVE_SET_SIZE = "train/negative_set_size"
VAL_LOSS = "val/loss"
VAL_ACC1 = "val/acc1"
VAL_ACC5 = "val/acc5"
VAL_ACC1_PROTOTYPES = "val/acc1_prototypes"
VAL_ACC1_PROBE = "val/acc1_probe"
VAL_ACC1_NORMPROBE = "val/acc1_normprobe"
#: From the test split, logged once at the last step when ``eval.test`` is set.
TEST_LOSS = "test/loss"
TEST_ACC1 = "test/acc1"
TEST_ACC5 = "test/acc5"
STEP = "step"
#: The training loop's state with every Ray result (``status.LoopStatus``).
STATUS = "status"
TOTAL_STEPS = "total_steps"
EPOCH = "epoch"
#: Evaluations after step 0 so far (1, 2, ...): ASHA's time unit, whatever ``eval.eval_every``.
EVALUATION = "evaluation"
LR = "lr"
#: A sweep's second objective (``plan/objectives.py``): censored steps to the NC threshold.
OBJECTIVE_NC_STEPS = "objective/nc_steps"

#: Prefixes of the per-metric NC keys: ``NC + "nc1"`` = ``nc/nc1``.
NC = "nc/"
NC_SCORE = "nc_score/"
NC_ITERS = "nc_iters/"
VAL_NC = "val_nc/"
VAL_NC_SCORE = "val_nc_score/"
TEST_NC = "test_nc/"
TEST_NC_SCORE = "test_nc_score/"
NC_PREFIXES = (NC, NC_SCORE, NC_ITERS, VAL_NC, VAL_NC_SCORE, TEST_NC, TEST_NC_SCORE)

#: The validation results a person reads first (summaries, exported provenance).
VAL_HEADLINE = (
    VAL_ACC1,
    VAL_ACC5,
    VAL_LOSS,
    VAL_ACC1_PROTOTYPES,
    VAL_ACC1_PROBE,
    VAL_ACC1_NORMPROBE,
)

#: The test results (``eval.test``), never read by a search or a selection.
TEST_HEADLINE = (TEST_ACC1, TEST_ACC5, TEST_LOSS)

#: Every fixed (not per-metric) key a run or a sweep reports.
FIXED_KEYS = (
    TRAIN_LOSS,
    *VAL_HEADLINE,
    *TEST_HEADLINE,
    EPOCH,
    LR,
    STEP,
    TOTAL_STEPS,
    OBJECTIVE_NC_STEPS,
)


def prefixed(prefix: str, values: Mapping[str, float]) -> dict[str, float]:
    """``{"nc1": x}`` -> ``{"nc/nc1": x}`` for ``prefix`` = :data:`NC`."""
    return {f"{prefix}{name}": value for name, value in values.items()}


def per_metric(prefix: str, metrics: Mapping[str, float]) -> dict[str, float]:
    """``{"nc/nc1": x, "val/acc1": y}`` -> ``{"nc1": x}`` for ``prefix`` = :data:`NC`."""
    return {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}


def mean_nc_score(metrics: Mapping[str, float], prefix: str = NC_SCORE) -> float | None:
    """The "mean NC score" (%): the plain mean of every ``nc_score/<name>`` in ``metrics``;
    None if there is none."""
    scores = list(per_metric(prefix, metrics).values())
    return sum(scores) / len(scores) if scores else None
