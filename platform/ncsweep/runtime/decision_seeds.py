"""Seeded decisions for Tune schedulers that draw from the global random generators.

Ray's ``PopulationBasedTraining`` picks the trial to clone and perturbs with Python's
``random``, ``PB2`` draws its GP bandit's starting points from ``numpy.random``, and
``AsyncHyperBandScheduler`` puts each new trial in a bracket with ``numpy.random``; none of
them takes a seed (Ray 2.60). So a sweep's ``--seed`` fixed its first configs but not
these decisions, and two runs of a PBT sweep differed for no reason a user could see.

:class:`SeededDecisions` seeds both generators for each decision from the sweep's seed, the
family, the trial's number in the family (the counter ending Tune's trial id) and what the
decision is about (the trial's arrival, or the evaluation it reported), and restores their
state afterwards, so the rest of the driver's draws are untouched. A decision therefore
draws the same numbers whenever the same trial reaches the same evaluation, whatever
order other trials report in; what it decides can still differ between runs when the
results it compares differ (trials report asynchronously), as in any asynchronous search.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["SeededDecisions", "decision_seed"]

# the generators are the process's: one decision at a time (re-entrant: a decision that
# leads Tune to another one nests, and each restores what it found)
_GLOBAL = threading.RLock()


@contextlib.contextmanager
def decision_seed(*key: object) -> Iterator[None]:
    """Python's and NumPy's global generators seeded from ``key`` while the block runs,
    their earlier states back afterwards."""
    with _GLOBAL:
        python_state, numpy_state = random.getstate(), np.random.get_state()
        seeded = random.Random(":".join(map(str, key)))  # a str seed is hashed stably
        random.seed(seeded.getrandbits(64))
        np.random.seed(seeded.getrandbits(32))
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def _number(trial: Any) -> str:
    """The trial's number within its Tune run (``<prefix>_00003``: ``00003``)."""
    return str(trial.trial_id).rsplit("_", 1)[-1]


class SeededDecisions:
    """Mixin before a Tune scheduler class: its ``on_trial_add`` and ``on_trial_result``
    run under :func:`decision_seed` (module docstring). ``seed``: the sweep's seed and its
    family, e.g. ``"0:nonl"``."""

    def __init__(self, *args: Any, seed: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decision_seed = seed

    def on_trial_add(self, tune_controller: Any, trial: Any) -> Any:
        with decision_seed(self._decision_seed, _number(trial), "add"):
            return super().on_trial_add(tune_controller, trial)  # type: ignore[misc]

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> Any:
        reached = result.get(getattr(self, "_time_attr", "training_iteration"))
        with decision_seed(self._decision_seed, _number(trial), "result", reached):
            return super().on_trial_result(tune_controller, trial, result)  # type: ignore[misc]
