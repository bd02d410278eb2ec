"""The searcher of one family's Tuner: Optuna's TPE through Ray Tune's ``OptunaSearch``.

Only public APIs: ``OptunaSearch(space, sampler, metric, mode, storage, study_name)`` and
its ``on_trial_complete``, which tells Optuna PRUNED for a trial that completes without a
result and without an error (pinned by ``tests/sweep/test_search.py``). The study lives
in ``storage`` under ``study_name``: pass a persistent Optuna storage (e.g. a
``JournalStorage`` beside the Tune state) to keep it across drivers; by default it is in
memory and Tune's searcher checkpoint carries it.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from ..metric_keys import STATUS
from ..plan.objectives import Objective
from ..plan.settings import SweepSettings, startup_trials
from ..train.core import STATUS_DONE, STATUS_FAILED

__all__ = ["AdoptingConcurrencyLimiter", "CompletedOnlyOptunaSearch", "build_searcher"]


def _measured(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


class CompletedOnlyOptunaSearch(OptunaSearch):
    """``OptunaSearch`` that tells Optuna a trial stopped early by ASHA was PRUNED.

    Otherwise an early-stopped trial reaches the study as COMPLETE with its early values and
    can sit on the Pareto front or steer TPE with an unfinished accuracy. A trial is
    finished when its last result says ``status: done``.

    An objective measured only at the end (``eval/<suite>/<key>``) is ``None`` in earlier
    results: those are not reported to Optuna as intermediate values. A finished trial
    without a value for every objective is told as FAIL (never COMPLETE with ``None``).

    A resumed sweep can run a trial again that Optuna's persistent study already recorded
    as finished (the driver died after the study's journal got the verdict and before Tune
    saved its own state): the first verdict stands, the repeated results are not told.

    A trial that failed deterministically ends without an error (so that Tune does not
    retry it, ``trial.conclude``) and with ``status: failed``: it is told as FAIL.

    A resumed sweep can also run a trial this searcher never suggested: Tune uploads its
    experiment state and the searcher's checkpoint as separate objects, and a driver
    killed between the two leaves a newer experiment state. Such a trial is adopted
    (:meth:`_adopt`) from the ``config/<param>`` keys of its results.
    """

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self._ot_trials:
            self._adopt(trial_id, result)
        if isinstance(self.metric, str) and not _measured(result.get(self.metric)):
            return
        if trial_id not in self._ot_trials or isinstance(self._ot_trials[trial_id], int):
            return  # not adoptable, or adopted by number: its verdict is told, not its curve
        try:
            super().on_trial_result(trial_id, result)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # finished in the study before the driver died (class docstring)

    def _adopt(self, trial_id: str, result: dict | None) -> None:
        """Attach ``trial_id`` to the study trial it runs.

        Its parameters are the ``config/<param>`` keys of ``result`` replayed through the
        define-by-run space (an ``optuna.trial.FixedTrial``). The study trial is the RUNNING
        one with those parameters that no other Tune trial holds (the first driver asked
        for it), else a new trial with those parameters and their distributions. Without a
        result that names all its parameters the trial stays unknown and is not told.
        """
        config = {
            key.removeprefix("config/"): value
            for key, value in (result or {}).items()
            if key.startswith("config/")
        }
        replay = optuna.trial.FixedTrial(config)
        try:
            # Ray types its private _space as any space it accepts (ours is always a
            # define-by-run function, which takes a FixedTrial as well as a Trial)
            self._space(replay)  # type: ignore[operator, misc, arg-type]
        except ValueError:  # FixedTrial: a parameter the results do not name
            return
        number = self._unheld_running(replay.params)
        if number is None:
            # Ray's private _ot_study is typed None, its value before Tune sets the search up
            self._ot_study.add_trial(  # type: ignore[attr-defined]
                optuna.trial.create_trial(
                    state=TrialState.RUNNING,
                    params=replay.params,
                    distributions=replay.distributions,
                )
            )
            number = self._unheld_running(replay.params)
        self._ot_trials[trial_id] = number

    def _unheld_running(self, params: dict[str, Any]) -> int | None:
        held = {t if isinstance(t, int) else t.number for t in self._ot_trials.values()}
        # Ray's private _ot_study is typed None, as in _adopt
        running = self._ot_study.get_trials(  # type: ignore[attr-defined]
            deepcopy=False, states=(TrialState.RUNNING,)
        )
        for frozen in running:
            if frozen.number not in held and frozen.params == params:
                return frozen.number
        return None

    def _tell(self, trial_id: str, result: dict | None, error: bool) -> None:
        try:
            super().on_trial_complete(trial_id, result, error)
        except ValueError as err:  # optuna: "Cannot tell a COMPLETE trial." (class docstring)
            if not str(err).startswith("Cannot tell a "):
                raise

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        if trial_id not in self._ot_trials:
            self._adopt(trial_id, result)
            if trial_id not in self._ot_trials:
                return  # nothing to adopt it by (its results since the resume are gone)
        status = (result or {}).get(STATUS)
        if status == STATUS_FAILED:
            self._tell(trial_id, None, error=True)
            return
        finished = status == STATUS_DONE
        if finished and not error:
            wanted = [self.metric] if isinstance(self.metric, str) else list(self.metric)
            if not all(_measured((result or {}).get(m)) for m in wanted):
                self._tell(trial_id, None, error=True)
                return
        self._tell(trial_id, result if finished or error else None, error)


class AdoptingConcurrencyLimiter(ConcurrencyLimiter):
    """``ConcurrencyLimiter`` that counts a trial Tune restored but it never suggested.

    The stock limiter ignores the completion of a trial it does not know, so an adopted
    trial (:class:`CompletedOnlyOptunaSearch`) would never reach Optuna, and it would let
    one more trial start than ``max_concurrent``.
    """

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self.live_trials:
            self.live_trials.add(trial_id)
            self.num_unfinished_live_trials += 1
        super().on_trial_result(trial_id, result)


def build_searcher(
    settings: SweepSettings,
    space: Any,
    index: int,
    max_concurrent: int,
    storage: optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
    first: list[dict[str, Any]] | None = None,
    objective: Objective | None = None,
) -> AdoptingConcurrencyLimiter:
    """The searcher of family number ``index``: seeded TPE (``settings.seed + index``),
    single- or multi-objective by ``settings.objective`` (metric and direction from
    ``objectives.resolve_objective``), at most ``max_concurrent`` trials at once; ``space``
    is the family's define-by-run ``SearchSpace.suggest``; ``first``: points Optuna
    evaluates before it samples (a warm start, ``warm_start.py``); ``objective``: the
    sweep's, as its plan resolved it (default: resolved from ``settings.objective``)."""
    objective = objective or settings.resolved_objective
    sampler = optuna.samplers.TPESampler(
        seed=settings.seed + index, n_startup_trials=startup_trials(settings.trials)
    )
    searcher = CompletedOnlyOptunaSearch(
        space=space,
        sampler=sampler,
        metric=list(objective.metrics) if objective.pareto else objective.metric,
        mode=list(objective.modes) if objective.pareto else objective.mode,
        storage=storage,
        study_name=study_name,
        points_to_evaluate=first or None,
    )
    return AdoptingConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
