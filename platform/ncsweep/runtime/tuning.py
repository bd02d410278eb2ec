"""One Tune run of trials tracked in MLflow: what a sweep's family and a paper study share.

A driver (``sweep.runner`` per loss family, ``study.runner`` for its cells):

1. opens its MLflow parent run (:func:`open_parent`) and builds a :class:`TrialContext`,
   the typed settings every trial gets;
2. restores Tune's saved run or builds a new one (:func:`restore_or_build`): a restored
   run keeps its finished trials and continues running ones from their checkpoints;
3. runs it under :class:`GracefulStop` (SIGTERM, e.g. ``ray job stop``, ends it as
   resumable) with :func:`run_trials` (several at once: :func:`run_in_parallel`), which
   then checks that every trial ended (else :class:`SweepInterrupted`), gives each trial's
   MLflow run Tune's verdict (:func:`reconcile_runs`) and removes what trials Tune never
   knew left behind (:func:`drop_orphans`).

Trials restart after an infrastructure failure (``FailureConfig(max_failures)``, counted by
``retries.RetryRecorder``) and are named ``trial_<id>`` in storage (``trial_folder_name``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from types import FrameType
from typing import Any

import fsspec
from ray import tune
from rich.console import Console

from ..config import SpecError, flatten
from ..metric_keys import STATUS
from ..status import RunState
from ..tracking import (
    STAGE_SEARCH,
    TAG_KIND,
    TAG_ORPHANED,
    TAG_STAGE,
    TAG_TRIAL,
    RunRecord,
    ensure_experiment,
    finish_run,
    log_params,
    open_store,
    provenance_tags,
    set_tags,
    start_run,
)
from ..train.core import STATUS_DONE, STATUS_FAILED
from . import completed_trials, tune_state
from .completed_trials import TrialRecorder, close_stopped, record_checkpoint
from .lease import LeaseLost, fence
from .ownership import TAG_STORAGE, owned_by, owner_tags
from .retries import RetryRecorder, recording
from .trial import TRIAL_PREFIX, TrialContext, trial_folder_name

__all__ = [
    "FinishedMissing",
    "GracefulStop",
    "SweepInterrupted",
    "TrialContext",
    "drop_orphans",
    "finished_missing",
    "open_parent",
    "reconcile_runs",
    "restore_or_build",
    "result_loggers",
    "run_config",
    "run_in_parallel",
    "run_trials",
    "stop_active",
]


class SweepInterrupted(RuntimeError):
    """Tune returned before every trial ended (Ctrl-C, ``ray job stop``): resume it later."""


@contextlib.contextmanager
def _resumable_when_lost() -> Iterator[None]:
    """A fenced step refused (``lease.LeaseLost``): another driver holds the sweep now, so
    this one touches nothing more and ends as resumable."""
    try:
        yield
    except LeaseLost as err:
        raise SweepInterrupted(str(err)) from err


def open_parent(
    uri: str,
    name: str,
    group_tag: str,
    kind: str,
    params: dict[str, Any],
    storage: str | None = None,
) -> tuple[str, str]:
    """The run's MLflow experiment and parent run (re-attached when it exists), with
    ``params`` logged and, given ``storage``, tagged as that storage's (``ownership.py``);
    returns ``(experiment_id, parent_run_id)``."""
    experiment_id = ensure_experiment(uri, name)
    tags = {group_tag: name, TAG_KIND: kind}
    owner = owner_tags(storage, name) if storage is not None else {}
    parent = start_run(
        uri, experiment_id, f"{kind} {name}", {**tags, **provenance_tags(), **owner}, reattach=tags
    )
    if owner:
        set_tags(uri, parent, owner)  # a re-attached parent: now this lease generation's
    log_params(uri, parent, flatten(params))
    return experiment_id, parent


def result_loggers(tensorboard: bool = False) -> list[tune.Callback]:
    """Tune's per-trial result files: ``result.json`` and ``progress.csv`` (Tune's own
    result reading needs them), TensorBoard event files only when asked for. Tune adds the
    three itself unless ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1`` (Ray 2.60,
    ``tune/utils/callback.py``), read in the driver when a run is fitted, restored ones too:
    set here, so these explicit ones are the only ones."""
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback

    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    loggers: list[tune.Callback] = [CSVLoggerCallback(), JsonLoggerCallback()]
    return [*loggers, TBXLoggerCallback()] if tensorboard else loggers


def run_config(
    name: str,
    storage: str,
    max_failures: int,
    keep: int | None,
    callbacks: list,
    verbose: int = 0,
    tensorboard: bool = False,
) -> tune.RunConfig:
    """Tune's run settings: trials restart from their checkpoints after infrastructure
    failures (``max_failures``), keep ``keep`` checkpoints each (None: all; Tune also
    snapshots its experiment state every that many checkpoints of a trial), count restarts,
    stop when asked to in a thread (:class:`StopWhenAsked`) and write TensorBoard files only
    with ``tensorboard`` (:func:`result_loggers`)."""
    return tune.RunConfig(
        name=name,
        storage_path=storage,
        failure_config=tune.FailureConfig(max_failures=max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=keep),
        verbose=verbose,
        callbacks=[
            *callbacks,
            *result_loggers(tensorboard),
            RetryRecorder(),
            TrialRecorder(),
            StopWhenAsked(),
        ],
    )


def tune_config(**options) -> tune.TuneConfig:
    """``tune.TuneConfig(**options)`` with trial folders named ``trial_<id>``."""
    return tune.TuneConfig(trial_dirname_creator=trial_folder_name, **options)


def restore_or_build(
    path: str,
    trainable,
    build: Callable[[], tune.Tuner],
    missing: FinishedMissing | None = None,
    say: Callable[[str], None] = print,
) -> tune.Tuner:
    """Tune's saved run at ``path`` (finished trials kept, running ones continued from their
    checkpoints, failed ones left failed), else ``build()``. The state restored is chosen
    by lineage, not by its file's clock (``tune_state.py``).

    Args:
        missing: the FINISHED runs the state's trials lack (:func:`finished_missing`). When
            another state file holds any of them the restore is refused (it would drop
            finished work that can be restored). When none does (a trial that finished
            while Tune saved its state, just before the driver was killed), nothing better
            exists: the restore goes on, and those runs are kept, tagged
            ``ncsweep.orphaned`` (not results), which ``say`` reports in one line.

    Raises:
        SpecError: the state to restore lacks finished trials another state file holds.
    """
    if tune.Tuner.can_restore(path):
        # a run saved with explicit loggers must not get Tune's automatic ones on top (one
        # saved before had only those: it goes on without result files, ncsweep reads none)
        result_loggers()
        with _resumable_when_lost():
            chosen, others = tune_state.candidates(path)
        lacking = missing(tune_state.state_trials(path, chosen)) if missing and chosen else []
        if missing is not None and lacking:
            holder = next((name for name in others if missing.held_by(path, name, lacking)), None)
            if holder is not None:
                raise SpecError(
                    f"Tune's state {path}/{chosen} lacks finished trials "
                    f"{', '.join(lacking)} that MLflow has and {path}/{holder} holds: "
                    f"restoring it would drop their results. Nothing was changed; remove "
                    f"the state file of the two that is wrong, or start a sweep of another "
                    f"name"
                )
            missing.keep(lacking)
            say(
                f"{path}: finished trials {', '.join(lacking)} are in MLflow but in no Tune "
                f"state (the driver stopped while Tune saved it): their runs are kept, "
                f"tagged ncsweep.orphaned, and not counted as results"
            )
        if chosen is not None:
            with _resumable_when_lost():
                tune_state.keep_only(path, chosen)
        return tune.Tuner.restore(
            path, trainable, resume_unfinished=True, resume_errored=False, restart_errored=False
        )
    return build()


_active_stop: GracefulStop | None = None  # the GracefulStop whose block runs


def stop_active(why: str) -> None:
    """Ask the running :class:`GracefulStop` block to stop as resumable (from any thread,
    e.g. the lease's when this driver lost it); nothing when no block runs (the fenced
    steps refuse then: ``lease.fence``)."""
    stop = _active_stop
    if stop is not None:
        stop.request(why)


class StopWhenAsked(tune.Callback):
    """Ends a ``fit()`` that runs outside the main thread once a stop was asked for.

    Tune listens for SIGINT and SIGUSR1 only when ``fit()`` runs in the main thread. A run
    in a thread (:func:`run_in_parallel`) raises :class:`SweepInterrupted` at its next
    step instead: Tune stops its trial actors and keeps the experiment state it saved at
    the trials' last checkpoints, from which a resume continues them. Pickled empty into
    Tune's state; it reads the active :class:`GracefulStop`.
    """

    def __getstate__(self) -> dict:
        return {}

    def on_step_begin(self, iteration, trials, **info) -> None:
        stop = _active_stop
        in_thread = threading.current_thread() is not threading.main_thread()
        if stop is not None and stop.requested and in_thread:
            raise SweepInterrupted(f"{stop.what} stopped; {stop.hint}")


class GracefulStop:
    """``ray job stop`` (SIGTERM) ends the run as resumable, within Ray's grace period.

    Ray 2.60 sends SIGTERM to the job's entrypoint and SIGKILLs it
    ``RAY_JOB_STOP_WAIT_TIME_S`` (default 3) seconds later, so the handler first does what
    must survive a SIGKILL: the parent run becomes KILLED and ``hint`` (how to continue)
    reaches the job log. Then Tune is asked to stop the way Ctrl-C does (SIGUSR1: it saves
    its experiment state once more); outside ``fit()`` it raises ``SweepInterrupted``.
    A second SIGTERM exits at once. Any exception out of the block marks the parent KILLED.
    Runs in threads (``fits_in_threads``) are stopped by :class:`StopWhenAsked`.
    """

    def __init__(self, what: str, uri: str, parent: str, hint: str, console: Console):
        self.what, self.uri, self.parent, self.hint = what, uri, parent, hint
        self.console = console
        self.requested = False
        self.in_fit = False
        self.fits_in_threads = False
        self._previous: Callable[[int, FrameType | None], Any] | int | None = None

    def __enter__(self) -> GracefulStop:
        global _active_stop
        _active_stop = self
        if signal.getsignal(signal.SIGTERM) is not None:  # None: not installed from Python
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        # Ray blocks SIGINT in a job's processes; Ctrl-C and RAY_JOB_STOP_SIGNAL=SIGINT
        # must still reach Tune's handler.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        return self

    def __exit__(self, kind, err, traceback) -> None:
        global _active_stop
        _active_stop = None
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        if kind is not None and not self.requested:
            finish_run(self.uri, self.parent, RunState.KILLED, f"interrupted; {self.hint}")

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise SystemExit(128 + signum)
        self.request(signal.Signals(signum).name)

    def request(self, why: str) -> None:
        """Stop as resumable, ``why`` shown (SIGTERM, a spent time budget); from any thread:
        Tune stops at once inside ``fit()``, and between Tune runs ``check()`` raises."""
        if self.requested:
            return
        self.requested = True
        self.console.print(
            f"[yellow]{self.what} stopped ({why}); finished trials are kept; {self.hint}[/]",
            highlight=False,
        )
        sys.stdout.flush()
        try:
            finish_run(self.uri, self.parent, RunState.KILLED, f"stopped ({why}); {self.hint}")
        except Exception as err:  # the tracking server may be what is going away
            self.console.print(f"could not mark the parent run KILLED: {err}")
        if self.fits_in_threads:
            return  # each thread's Tune run ends at its next step (StopWhenAsked)
        tune_listens = signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, None)
        if self.in_fit and tune_listens:
            os.kill(os.getpid(), signal.SIGUSR1)
        elif threading.current_thread() is threading.main_thread():
            raise SweepInterrupted(f"{self.what} stopped; {self.hint}")

    @contextlib.contextmanager
    def deadline(self, seconds: float | None, why: str) -> Iterator[None]:
        """:meth:`request` a stop once ``seconds`` have passed in the block (None: never)."""
        timer = threading.Timer(seconds, self.request, args=(why,)) if seconds else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()

    def check(self) -> None:
        """Raise ``SweepInterrupted`` if a stop was asked for (between Tune runs)."""
        if self.requested:
            raise SweepInterrupted(f"{self.what} stopped; {self.hint}")


def run_trials(
    tuner: tune.Tuner,
    context: TrialContext,
    stop: GracefulStop,
    *,
    trials: int,
    folder: str,
    stopped_by: str,
    train_storage: str | None = None,
    scope: dict[str, str] | None = None,
):
    """``tuner.fit()`` then the bookkeeping every run needs (module docstring).

    Args:
        trials: how many trials the run has when it is complete.
        folder: Tune's run folder (``<storage>/<name>/<run name>``), where orphaned trial
            folders are looked for.
        stopped_by: the ``ncsweep.stopped_early`` tag of trials the scheduler stopped.
        train_storage: where Ray Train trials keep their runs (``<train_storage>/<key>``).
        scope: tags of this Tune run's trial runs among the parent's children (a sweep runs
            one Tune run per family under one parent: ``{ncsweep.loss: family}``).

    Returns:
        Tune's ``ResultGrid``.

    Raises:
        SweepInterrupted: Tune returned before every trial ended.
    """
    stop.check()  # a budget spent between two Tune runs: do not start the next one
    stop.in_fit = True
    try:
        with (
            _resumable_when_lost(),
            tune_state.recording(folder),
            recording(
                context.tracking_uri,
                context.experiment_id,
                lambda trial: context.run_tags(context.key(trial.trial_id, trial.config)),
            ),
            completed_trials.recording(context, stopped_by),
        ):
            grid = tuner.fit()
    finally:
        stop.in_fit = False
    ended = grid.num_terminated + grid.num_errors
    if len(grid) < trials or ended < len(grid):
        raise SweepInterrupted(
            f"{stop.what} interrupted ({ended} of {trials} trials ended); {stop.hint}"
        )
    reconcile_runs(context, grid, stopped_by, scope)
    with _resumable_when_lost():
        drop_orphans(context, grid, folder, train_storage, scope or {})
    stop.check()
    return grid


def run_in_parallel(jobs: Sequence[Callable[[], Any]], stop: GracefulStop) -> list[Any]:
    """Run each of ``jobs`` (a :func:`run_trials` call) in its own thread; their results.

    The main thread waits and keeps handling signals (SIGTERM or Ctrl-C asks every run to
    stop). When a job raises, the others go on to their end (what they finish is kept);
    then the first error other than :class:`SweepInterrupted` is raised, else
    ``SweepInterrupted``.
    """
    stop.fits_in_threads = True
    try:
        with ThreadPoolExecutor(len(jobs), thread_name_prefix="tune-run") as pool:
            futures = [pool.submit(job) for job in jobs]
            try:
                while not all(f.done() for f in futures):
                    wait(futures, timeout=0.5)  # short waits: signal handlers run between
            except KeyboardInterrupt:
                stop.request("Ctrl-C")
                wait(futures)
    finally:
        stop.fits_in_threads = False
    errors = [err for err in (f.exception() for f in futures) if err is not None]
    errors.sort(key=lambda err: isinstance(err, SweepInterrupted))
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


def reconcile_runs(
    context: TrialContext, grid, stopped_by: str, scope: dict[str, str] | None = None
) -> None:
    """Give each trial's MLflow run the verdict Tune reached.

    A trial stopped early (by ``stopped_by``, e.g. ASHA) ends inside ``fit()`` when Tune ends
    its actor; its run, left RUNNING or FAILED by the actor's death, becomes KILLED with
    ``ncsweep.stopped_early``. Most runs got their verdict and checkpoint as Tune completed
    their trials (``completed_trials.py``); what is missing is written here.
    A trial Tune saw fail (infrastructure failures beyond its retries) or that reported a
    deterministic failure is FAILED with its reason.

    The runs are read in one search (``scope``: as :func:`run_trials` has it) and only a run
    whose verdict changes is written to: a trial that closed its own run costs nothing, one
    stopped early two or three requests (was seven: at 5,000 trials, minutes at the end).
    """
    uri = context.tracking_uri
    store = open_store(uri)
    by_key: dict[str, RunRecord] = {}
    for run in _family_runs(context, scope or {}):  # newest first: the first of a key wins
        by_key.setdefault(run.tags.get(TAG_TRIAL, ""), run)
    for result in grid:
        metrics = result.metrics or {}
        run = by_key.get(context.result_tags(result)[TAG_TRIAL])
        if run is None:
            continue
        run_id, status = run.run_id, run.status
        if result.error is None and result.checkpoint:
            # A trial trained in its own process: its checkpoints are Tune's.
            record_checkpoint(store, uri, run, result.checkpoint.path)
        if result.error is not None:
            if status == RunState.RUNNING:
                reason = str(result.error).strip().splitlines()[-1][:1000]
                finish_run(uri, run_id, RunState.FAILED, reason)
        elif metrics.get(STATUS) == STATUS_FAILED:
            if status == RunState.RUNNING:  # closed by the trial, unless its actor ended first
                finish_run(uri, run_id, RunState.FAILED, metrics.get("failure_reason"))
        elif metrics.get(STATUS) == STATUS_DONE:
            if status == RunState.RUNNING:  # trained to the end; its actor ended first
                finish_run(uri, run_id, RunState.FINISHED)
        else:
            close_stopped(store, uri, run, metrics, stopped_by)


def _family_runs(context: TrialContext, scope: dict[str, str]) -> list:
    """The trial runs of this Tune run (``scope``'s tags, its stage) among the name's."""
    tags = {context.group_tag: context.name, TAG_KIND: "train", **scope}
    stage = scope.get(TAG_STAGE, STAGE_SEARCH)
    runs = open_store(context.tracking_uri).search_runs(
        context.experiment_id, tags, max_results=10_000
    )
    return [run for run in runs if run.tags.get(TAG_STAGE, STAGE_SEARCH) == stage]


class FinishedMissing:
    """``restore_or_build``'s ``missing``: called with the trials of a Tune state
    ``(trial_id, config, status)``, the keys of this storage's FINISHED runs (of ``scope``)
    they lack; runs already tagged ``ncsweep.orphaned`` are accounted for and not counted."""

    def __init__(self, context: TrialContext, scope: dict[str, str]):
        self.context, self.scope = context, scope
        self.storage = dict(context.owner).get(TAG_STORAGE)

    def _finished(self) -> list:
        return [
            run
            for run in _family_runs(self.context, self.scope)
            if run.status == RunState.FINISHED
            and TAG_ORPHANED not in run.tags
            and run.tags.get(TAG_TRIAL) is not None
            and (self.storage is None or run.tags.get(TAG_STORAGE) in (self.storage, None))
        ]

    def __call__(self, trials: list[tuple[str, dict, str]]) -> list[str]:
        keys = {self.context.key(trial_id, config) for trial_id, config, _ in trials}
        return sorted(
            run.tags[TAG_TRIAL] for run in self._finished() if run.tags[TAG_TRIAL] not in keys
        )

    def held_by(self, folder: str, name: str, lacking: list[str]) -> bool:
        """Whether state file ``name`` in ``folder`` holds any of the keys ``lacking``."""
        try:
            trials = tune_state.state_trials(folder, name)
        except Exception:  # a file cut short by a killed driver holds nothing restorable
            return False
        return bool(set(lacking) - set(self(trials)))

    def keep(self, lacking: list[str]) -> None:
        """Tag the FINISHED runs of keys ``lacking`` ``ncsweep.orphaned``: kept, no results."""
        store = open_store(self.context.tracking_uri)
        for run in self._finished():
            if run.tags[TAG_TRIAL] in lacking:
                store.set_tag(run.run_id, TAG_ORPHANED, "finished; in no Tune state")


def finished_missing(context: TrialContext, scope: dict[str, str]) -> FinishedMissing:
    """``restore_or_build``'s ``missing`` for the trial runs of ``scope`` (:class:`FinishedMissing`)."""
    return FinishedMissing(context, scope)


def _folder_key(context: TrialContext, fs, path: str, trial_id: str) -> str | None:
    """The trial key of Tune's trial folder ``path`` (of Tune trial ``trial_id``): the id,
    or with ``key_format`` (a study's ``{cell}``) the key of the config Tune wrote there
    (``params.json``); None when that cannot be read (the folder is then kept)."""
    if not context.key_format:
        return trial_id
    try:
        return context.key(trial_id, json.loads(fs.cat_file(f"{path}/params.json")))
    except (OSError, ValueError, KeyError, IndexError):
        return None


def drop_orphans(
    context: TrialContext, grid, folder: str, train_storage: str | None, scope: dict[str, str]
) -> None:
    """Remove what trials Tune does not know left behind: their MLflow runs (soft delete,
    reason tagged) and their folders in storage (Tune's trial folder, Ray Train's run).

    A driver killed between a trial's start and Tune's next experiment-state save leaves a
    trial that the restored Tuner never had: Optuna never learns from it and a new trial
    takes its place, so its run is not part of the sweep (the leaderboard must not count
    it). One-worker trials start within a second of the previous one (reused actors), which
    makes that window easy to hit. Only this Tune run's trials are considered: their
    folders are in ``folder``, their runs carry the tags ``scope`` and are of its stage
    (``ncsweep.stage``; a run or a scope without it is of the search: a family's
    confirmation runs are not orphans of its search).

    Nothing finished is removed, and nothing another storage owns: a run is deleted only
    if it carries this sweep's storage tag (``ownership.py``) and never FINISHED; a
    FINISHED run Tune does not know is tagged ``ncsweep.orphaned`` and kept, and so are its
    folders (a folder ``trial_<Tune id>`` is matched by its trial key: :func:`_folder_key`). Each removal is fenced (``lease.fence``): a driver whose lease was taken
    stops (:class:`lease.LeaseLost`) before it deletes anything.
    """
    uri = context.tracking_uri
    store = open_store(uri)
    storage = dict(context.owner).get(TAG_STORAGE)
    known_keys = {context.result_tags(result)[TAG_TRIAL] for result in grid}
    known_folders = {Path(result.path).name for result in grid}
    finished: set[str] = set()
    orphans: set[str] = set()
    for run in _family_runs(context, scope):
        key = run.tags.get(TAG_TRIAL)
        if not key or key in known_keys:
            continue
        if run.status == RunState.FINISHED:
            finished.add(key)
            if TAG_ORPHANED not in run.tags:
                store.set_tag(run.run_id, TAG_ORPHANED, "finished; not in Tune's state")
            continue
        if storage is None or not owned_by(run.tags, storage):
            continue  # another storage's (or an untagged older) run: not this lease's
        fence(folder, f"deleting run {run.run_id}")
        orphans.add(key)
        store.set_tag(run.run_id, TAG_ORPHANED, "not in Tune's restored experiment state")
        if run.status == RunState.RUNNING:
            finish_run(uri, run.run_id, RunState.KILLED)
        store.delete_run(run.run_id)
    fs, path = fsspec.core.url_to_fs(folder)
    fs.invalidate_cache()
    for entry in fs.ls(path, detail=True):
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if entry["type"] == "directory" and name.startswith(TRIAL_PREFIX):
            if name in known_folders:
                continue
            key = _folder_key(context, fs, entry["name"], name.removeprefix(TRIAL_PREFIX))
            if key is not None and key not in finished:
                fence(folder, f"removing trial folder {name}")
                orphans.add(key)
                fs.rm(entry["name"], recursive=True)
    # a Ray Train run is named by its key; a key Tune knows is a live trial's run
    for key in sorted(orphans - known_keys) if train_storage else ():
        fs, path = fsspec.core.url_to_fs(f"{train_storage}/{key}")
        if fs.exists(path):
            fence(folder, f"removing Ray Train run {key}")
            fs.rm(path, recursive=True)
