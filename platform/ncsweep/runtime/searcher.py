"""The searcher of one family's Tuner: an Optuna sampler through Ray Tune's ``OptunaSearch``.

The sampler is ``--sampler`` (:data:`SAMPLER_FACTORIES`, keyed like
``plan.samplers.SAMPLERS``), seeded with ``seed + family index``; every one keeps its state
in the study (trials and their system attributes), so a resumed sweep continues it from the
journal. Constraints (``plan/constraints.py``) reach Optuna as each finished trial's
``Trial.set_constraint`` values (Optuna 5 deprecates the samplers' ``constraints_func`` for
it); TPE, GP and NSGA-II steer by them, random, QMC and CMA-ES ignore them.

Only public APIs: ``OptunaSearch(space, sampler, metric, mode, storage, study_name)`` and
its ``on_trial_complete``, which tells Optuna PRUNED for a trial that completes without a
result and without an error (pinned by ``tests/sweep/test_search.py``). The study lives
in ``storage`` under ``study_name``: pass a persistent Optuna storage (e.g. a
``JournalStorage`` beside the Tune state) to keep it across drivers; by default it is in
memory and Tune's searcher checkpoint carries it.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from ..metric_keys import STATUS
from ..plan.constraints import Constraint, references, violation
from ..plan.objectives import Objective
from ..plan.settings import SweepSettings, startup_trials
from ..train.core import STATUS_DONE, STATUS_FAILED
from .journal import StudyReader  # re-exported: searchers pickled before it moved

__all__ = [
    "SAMPLER_FACTORIES",
    "AdoptingConcurrencyLimiter",
    "CompletedOnlyOptunaSearch",
    "StudyReader",
    "build_sampler",
    "build_searcher",
]


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

    #: the sweep's constraints and how to read another family's study (set by
    #: :func:`build_searcher`; class defaults keep a searcher pickled before they existed)
    constraints: Sequence[Constraint] = ()
    family: str = ""
    read_study: Callable[[str], optuna.Study | None] | None = None

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

    def _reference_trials(self, family: str) -> list[tuple[str, dict[str, Any]]]:
        """``(family, constrained metrics)`` of ``family``'s complete trials (their user
        attributes, which :meth:`_constrain` sets)."""
        study = self._ot_study if family == self.family else None
        if study is None and self.read_study is not None:
            study = self.read_study(family)
        if study is None:
            return []
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return [(family, dict(t.user_attrs)) for t in done]

    def _optuna_trial(self, trial_id: str) -> optuna.Trial | None:
        """The study trial ``trial_id`` runs as an ``optuna.Trial``; one adopted by number
        (:meth:`_adopt`) gets a handle on its study trial (``Trial(study, id)``, whose
        only side effect is the sampler's ``before_trial``, a no-op for every sampler of
        ``SAMPLER_FACTORIES``)."""
        trial = self._ot_trials.get(trial_id)
        if isinstance(trial, int):
            # Ray's private _ot_study is typed None (as in _adopt); FrozenTrial keeps its
            # storage id private and Optuna has no public "Trial by number"
            study: optuna.Study = self._ot_study  # type: ignore[assignment]
            numbered = [t for t in study.get_trials(deepcopy=False) if t.number == trial]
            return optuna.Trial(study, numbered[0]._trial_id) if numbered else None
        return trial if isinstance(trial, optuna.Trial) else None

    def _constrain(self, trial_id: str, result: dict) -> None:
        """Record the finished trial's constrained metrics (user attributes) and each
        known constraint's violation (``Trial.set_constraint``) before it is told, a trial
        adopted after a resume included. A trial the study had already finished (class
        docstring) keeps what its first verdict recorded."""
        if not self.constraints:
            return
        trial = self._optuna_trial(trial_id)
        if trial is None:
            return
        measured = {c.metric: result.get(c.metric) for c in self.constraints}
        families = sorted({c.reference_family(self.family) or "" for c in self.constraints} - {""})
        trials = [t for f in families for t in self._reference_trials(f)]
        trials.append((self.family, measured))
        best = references(self.constraints, trials)
        try:
            for metric, value in measured.items():
                if isinstance(value, int | float) and math.isfinite(value):
                    trial.set_user_attr(metric, float(value))
            for key, value in violation(self.constraints, self.family, measured, best).items():
                trial.set_constraint(key, value)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass

    def _tell(self, trial_id: str, result: dict | None, error: bool) -> None:
        if result is not None and not error:
            self._constrain(trial_id, result)
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


def _quiet(factory: Callable[..., optuna.samplers.BaseSampler]):
    """``factory`` with Optuna's ExperimentalWarning (multivariate TPE, QMC) silenced: one
    per family and driver says nothing a user acts on."""

    def build(**options: Any) -> optuna.samplers.BaseSampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return factory(**options)

    return build


class _PicklableNSGAII(optuna.samplers.NSGAIISampler):
    """NSGA-II that survives a pickle: Ray Tune pickles the searcher with the Tuner, and
    Optuna 5's genetic samplers hold a ``threading.Lock`` (``_thread_lock``), which does
    not pickle; the copy gets a lock of its own."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._thread_lock = threading.Lock()


def _random(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


#: ``--sampler`` -> ``factory(seed, startup)``: ``startup`` trials are drawn at random
#: before a model-based sampler models (``settings.startup_trials``; NSGA-II: its
#: population). Parameters a sampler cannot model come from a seeded ``RandomSampler``
#: (``plan/samplers.py``). TPE is multivariate and grouped: the shipped spaces' parameters
#: interact (learning rate and batch size, temperature and weight decay), and ``group``
#: models each conditional branch (``when``) on its own instead of falling back to
#: independent draws.
SAMPLER_FACTORIES: dict[str, Callable[[int, int], optuna.samplers.BaseSampler]] = {
    "tpe": lambda seed, startup: _quiet(optuna.samplers.TPESampler)(
        seed=seed, n_startup_trials=startup, multivariate=True, group=True
    ),
    "random": lambda seed, startup: _random(seed),
    "qmc": lambda seed, startup: _quiet(optuna.samplers.QMCSampler)(
        seed=seed,
        scramble=True,
        independent_sampler=_random(seed),
        warn_independent_sampling=False,
    ),
    "gp": lambda seed, startup: _quiet(optuna.samplers.GPSampler)(
        seed=seed,
        n_startup_trials=startup,
        independent_sampler=_random(seed),
        warn_independent_sampling=False,
    ),
    "cmaes": lambda seed, startup: _quiet(optuna.samplers.CmaEsSampler)(
        seed=seed,
        n_startup_trials=startup,
        independent_sampler=_random(seed),
        warn_independent_sampling=False,
    ),
    "nsga2": lambda seed, startup: _quiet(_PicklableNSGAII)(seed=seed, population_size=startup),
}


def build_sampler(name: str, seed: int, trials: int) -> optuna.samplers.BaseSampler:
    """Sampler ``name`` (:data:`SAMPLER_FACTORIES`) seeded with ``seed`` for a family of
    ``trials`` trials."""
    return SAMPLER_FACTORIES[name](seed, startup_trials(trials))


def build_searcher(
    settings: SweepSettings,
    space: Any,
    index: int,
    max_concurrent: int,
    storage: optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
    first: list[dict[str, Any]] | None = None,
    objective: Objective | None = None,
    read_study: Callable[[str], optuna.Study | None] | None = None,
) -> AdoptingConcurrencyLimiter:
    """The searcher of family number ``index``: sampler ``settings.sampler`` seeded with
    ``settings.seed + index``, constrained by ``settings.constraints`` (a relative bound on
    another family reads its study with ``read_study``, e.g. a :class:`StudyReader`),
    single- or multi-objective by ``settings.objective`` (metric and direction from
    ``objectives.resolve_objective``), at most ``max_concurrent`` trials at once; ``space``
    is the family's define-by-run ``SearchSpace.suggest``; ``first``: points Optuna
    evaluates before it samples (a warm start, ``warm_start.py``); ``objective``: the
    sweep's, as its plan resolved it (default: resolved from ``settings.objective``)."""
    objective = objective or settings.resolved_objective
    sampler = build_sampler(settings.sampler, settings.seed + index, settings.trials)
    searcher = CompletedOnlyOptunaSearch(
        space=space,
        sampler=sampler,
        metric=list(objective.metrics) if objective.pareto else objective.metric,
        mode=list(objective.modes) if objective.pareto else objective.mode,
        storage=storage,
        study_name=study_name,
        points_to_evaluate=first or None,
    )
    searcher.constraints = tuple(settings.constraints)
    searcher.family = study_name or "default"
    searcher.read_study = read_study
    return AdoptingConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
