"""``ncsweep sweep``: one Optuna study per loss family on Ray Tune, tracked in MLflow.

The sweep is resolved once, before Ray starts, into its frozen ``SweepPlan``
(``sweep/resolve.py``: presets, search spaces, specs, warm-start points, trial resources);
everything below reads the plan, never the preset or space files again.

Each family gets its own ``Tuner`` (its own TPE study, seeded, the same trial budget),
under ``<storage>/<name>/<family>``, all at once in threads of this driver
(``parallel_families``, the default; ``tuning.run_in_parallel``: the cluster stays full
while a family's last trials finish) or one after the other; a sweep is one MLflow parent
run, each trial a child run. Resuming restores every family's Tuner from storage
(searcher and scheduler state included), so finished trials are neither lost nor re-run,
and a trial that was running continues from its Ray Train checkpoint in the same MLflow run.

One driver writes a sweep at a time: ``run_sweep`` holds the sweep's lease (``lease.py``)
from before it writes anything until it returns, so a second ``sweep``/``resume`` of the
same name is refused (exit 2) instead of reconciling the first one's trials away; so is a
name whose MLflow parent run belongs to another storage (``ownership.py``), and ``sweep``
for a name that exists in its storage (``existing.py``: use ``resume``). A lost lease
stops the sweep as resumable (``tuning.stop_active``). A trial
that loses its node or actor is restarted by Tune from its last checkpoint, in the same
MLflow run, up to ``max_failures`` times (``trial.conclude``, ``retries.py``); a
deterministic failure is never retried.

The objective (``objectives.resolve_objective``) decides the searcher's metric and
direction and the best trial per family (leaderboard, exported configs, the parent run's
``best/<family>/<metric>`` metrics and ``ncsweep.best.<family>`` tags). An
``eval/<suite>/<key>`` objective turns its suite on in every trial (``eval.suites``), as
asking to optimise a metric implies measuring it; ASHA, when on, still stops trials by
``val/acc1`` at its rungs, the only signal before a trial's end. Under ``pareto`` the rungs
rank by dominance on (accuracy, NC steps) (``schedulers.ParetoASHA``).

When every family's search has ended, the confirmation stage (``confirm_stage.py``) trains
each family's top ``confirm_top`` trials again over ``confirm_seeds`` seeds, in the same
driver, lease, budget and MLflow parent run, families at once when the search ran them so;
then the leaderboard, exports and best metrics (the search's trials) and the confirmation
runs are printed. ``run_confirm`` runs (or continues) the stage alone (``ncsweep confirm``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.search import SearchAlgorithm, Searcher
from rich.console import Console

from ..config import SpecError
from ..plan.plan import FamilyPlan, SweepPlan
from ..plan.state import SweepConfig, load_state, save_state, sweep_dir
from ..redact import redact, redact_text
from ..runtime.cluster import require_shared_storage
from ..runtime.journal import open_study_storage
from ..runtime.journal_sync import StudySync
from ..runtime.lease import Lease, console_notes
from ..runtime.live import SweepView, TuneFeed, route_ray_output, sweep_log_path
from ..runtime.ownership import owner_tags, require_own_name
from ..runtime.schedulers import (
    SCHEDULERS,
    build_scheduler,
    checkpoints_to_keep,
    population_search,
)
from ..runtime.searcher import StudyReader, build_searcher
from ..runtime.simulated import run_simulated_trial
from ..runtime.trainer import ensure_ray
from ..runtime.trial import CONFIRMATION_KEY, TrialContext, run_trial
from ..runtime.tuning import (
    GracefulStop,
    SweepInterrupted,
    finished_missing,
    open_parent,
    restore_or_build,
    run_config,
    run_in_parallel,
    run_trials,
    stop_active,
    tune_config,
)
from ..status import RunState
from ..tracking import (
    STAGE_CONFIRM,
    TAG_FAMILY,
    TAG_RETRIES,
    TAG_STAGE,
    TAG_SWEEP,
    MetricLogger,
    finish_run,
    log_text,
    open_store,
    require_reachable,
    set_tags,
)
from .confirm_stage import (
    choose_configs,
    confirm_folder,
    confirmation_runs,
    confirmation_tuner,
    saved_choice,
)
from .confirmation import (
    ConfirmedResults,
    confirmed_results,
    print_confirmed,
    results_to_json,
    summary_metrics,
)
from .existing import refuse_existing
from .export import export_best, pareto_rows
from .leaderboard import (
    best_per_family,
    collect_rows,
    find_parent,
    leaderboard_table,
    nc_steps_table,
    pareto_table,
    row_from_run,
    rows_to_csv,
    rows_to_json,
)
from .records import LiveSnapshot, SweepRecords, read_sweep, save_snapshot
from .resolve import resolve_plan
from .retention import prune_sweep
from .ui_view import save_leaderboard_view

__all__ = [
    "SweepOutcome",
    "confirm_command",
    "default_concurrency",
    "resume_command",
    "run_confirm",
    "run_sweep",
]


@dataclass
class SweepOutcome:
    name: str
    parent_run_id: str
    rows: list
    exported: list[Path]


def default_concurrency(cfg: SweepConfig) -> int:
    """Trials at once that the cluster's CPUs and GPUs can hold (at least one)."""
    resources = ray.cluster_resources()
    limits = []
    cpu = cfg.workers_per_trial * cfg.cpus_per_worker
    gpu = cfg.gpus_per_trial
    if cpu > 0:
        limits.append(math.floor(resources.get("CPU", 1) / cpu))
    if gpu > 0:
        limits.append(math.floor(resources.get("GPU", 0) / gpu))
    for key, amount in cfg.resources_per_worker.items():
        if amount > 0:
            limits.append(math.floor(resources.get(key, 0) / (amount * cfg.workers_per_trial)))
    return max(1, min(limits) if limits else 1)


def _tuner(
    plan: SweepPlan, index: int, family: FamilyPlan, context: TrialContext, max_concurrent: int
) -> tune.Tuner:
    """Family number ``index``'s Tuner, restored when Tune saved it; ``max_concurrent``:
    trials at once."""
    cfg = plan.config
    # --simulate: the same driver path, trials that sleep instead of training
    body, simulated = (
        (run_trial, {}) if cfg.simulate is None else (run_simulated_trial, {"step_s": cfg.simulate})
    )
    trainable = trainable_object = tune.with_resources(
        tune.with_parameters(
            body,
            context=context,
            base_spec=family.base_spec(),
            seed=cfg.seed,
            train_storage=_train_storage(cfg),
            **simulated,
        ),
        dict(family.resources),
    )
    if cfg.parallel_families:
        # Inside fit() Tune registers the trainable by name for the whole Ray job, in a
        # registry that is not thread-safe, and trials look it up by that name: families
        # fitted at once register here, in the main thread, each under its own name.
        trainable = f"run_trial_{family.family}"
        tune.register_trainable(trainable, trainable_object)
    path = f"{sweep_dir(cfg.storage, cfg.name)}/{family.family}"
    # Before Tune unpickles its searcher: that study reads its journal at this path.
    study_storage = open_study_storage(
        cfg.storage, cfg.name, family.family, restore=tune.Tuner.can_restore(path)
    )

    def build() -> tune.Tuner:
        first = family.warm_point
        param_space: dict[str, Any] = {}
        searcher: SearchAlgorithm | Searcher
        if SCHEDULERS.get(cfg.scheduler).population:  # Ray allows PBT no searcher
            searcher, param_space = population_search(
                family.space, cfg.trials, cfg.seed + index, max_concurrent
            )
        else:
            searcher = build_searcher(
                cfg,
                family.space.suggest,
                index,
                max_concurrent,
                study_storage,
                family.family,
                [dict(first)] if first else None,
                objective=plan.objective,
                read_study=StudyReader(cfg.storage, cfg.name),
            )
        scheduler = build_scheduler(cfg, plan.objective, family.max_evaluations, family.space)
        return tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune_config(
                search_alg=searcher,
                scheduler=scheduler,
                num_samples=cfg.trials,
                # A trial that trains in its own process imports torch once per actor, not
                # once per trial; Ray Train trials hold nothing worth reusing.
                reuse_actors=family.in_trial,
            ),
            # Trials that train in their own process checkpoint through Tune: keep as many
            # as Ray Train keeps for the others. The live view replaces Tune's tables.
            run_config=run_config(
                family.family,
                sweep_dir(cfg.storage, cfg.name),
                cfg.max_failures,
                checkpoints_to_keep(cfg, family.keep_checkpoints),
                [TuneFeed(family.family), StudySync(cfg.storage, cfg.name, family.family)],
                tensorboard=cfg.tensorboard,
            ),
        )

    missing = finished_missing(context, {TAG_FAMILY: family.family})
    return restore_or_build(path, trainable, build, missing)


def _in_parallel(cfg: SweepConfig) -> bool:
    return cfg.parallel_families and len(cfg.families) > 1


def _family_run(
    plan: SweepPlan,
    index: int,
    family: FamilyPlan,
    context: TrialContext,
    stop: GracefulStop,
    max_concurrent: int,
) -> Callable[[], Any]:
    """Family number ``index``'s Tune run, built (or restored) now, to run to its end when
    called (``tuning.run_trials``)."""
    cfg = plan.config
    tuner = _tuner(plan, index, family, context, max_concurrent)
    # An interrupted family keeps its trials' runs as they are: the resumed sweep gives
    # them their verdicts.
    return functools.partial(
        run_trials,
        tuner,
        context,
        stop,
        trials=cfg.trials,
        folder=f"{sweep_dir(cfg.storage, cfg.name)}/{family.family}",
        stopped_by=cfg.scheduler,
        train_storage=_train_storage(cfg),
        scope={TAG_FAMILY: family.family},
    )


def _train_storage(cfg: SweepConfig) -> str:
    return f"{sweep_dir(cfg.storage, cfg.name)}/train"


def _record_best(uri: str, parent: str, objective, best: dict) -> None:
    """On the parent run: ``best/<family>/<metric>`` (the objective's value of the family's
    best trial) and tag ``ncsweep.best.<family>`` (that trial's run id)."""
    values = {
        f"best/{family}/{objective.metric}": objective.value(row.metrics)
        for family, row in best.items()
    }
    if values:
        MetricLogger(uri, parent).log(values, step=0)
    set_tags(uri, parent, {f"ncsweep.best.{family}": row.run_id for family, row in best.items()})


def _record_confirmed(uri: str, parent: str, confirmed: ConfirmedResults) -> None:
    """On the parent run: ``confirmation.json``, the winners' ``confirmed/...`` metrics and
    tag ``ncsweep.confirmed.<family>`` (the winning search trial's run id)."""
    log_text(uri, parent, results_to_json(confirmed), "confirmation.json")
    values = summary_metrics(confirmed)
    if values:
        MetricLogger(uri, parent).log(values, step=0)
    set_tags(
        uri,
        parent,
        {f"ncsweep.confirmed.{f}": r.winner.search_run_id for f, r in confirmed.families.items()},
    )


def resume_command(cfg: SweepConfig) -> str:
    """The command that continues ``cfg`` (what a stopped job prints)."""
    command = f"ncsweep resume {cfg.name}"
    if cfg.storage != str(Path("ray_results").resolve()):
        command += f" --storage {redact_text(cfg.storage)}"
    if redact(cfg.tracking_uri) != cfg.tracking_uri:
        command += " --tracking-uri <the tracking URI with its credentials>"
    return command


def run_sweep(
    cfg: SweepConfig,
    console: Console,
    out_dir: str | Path = "best_configs",
    resume: bool = False,
    verbose: bool = False,
    force: bool = False,
) -> SweepOutcome:
    """Run (or with ``resume``, continue) sweep ``cfg.name`` while holding its lease.

    Raises:
        SpecError: a spec or search space is wrong, or (``LeaseHeld``) another driver runs
            this sweep; ``force`` takes its lease anyway (``lease.py``).
        tuning.SweepInterrupted: stopped before every family's budget was spent (resume it).
    """
    plan = resolve_plan(cfg, resume=resume)
    _say_plan(plan, console)
    require_reachable(plan.tracking_uri)
    # before Ray starts and before the lease: a refused name leaves nothing behind
    require_own_name(plan.tracking_uri, cfg.name, TAG_SWEEP, "sweep", cfg.storage, "sweep")
    if not resume:
        refuse_existing(cfg)
    ensure_ray()
    # before the lease: a refused storage leaves nothing behind in it
    require_shared_storage(cfg.storage, cfg.shared_storage)
    command = "resume" if resume else "sweep"
    with _lease(cfg, command, force, console) as lease:
        outcome = _run_families(plan, console, out_dir, resume, verbose)
    if lease.lost.is_set():  # its results may be another driver's to finish: say so
        raise SweepInterrupted(
            f"sweep {cfg.name}: this driver lost its lease while it ran; "
            f"continue with: {resume_command(cfg)}"
        )
    return outcome


def _lease(cfg: SweepConfig, command: str, force: bool, console: Console) -> Lease:
    """The sweep's lease; losing it stops the sweep as resumable (``GracefulStop``)."""
    return Lease(
        cfg.storage,
        cfg.name,
        command,
        force=force,
        say=console_notes(console),
        on_lost=lambda holder: stop_active("this driver lost the sweep's lease"),
    )


def _say_plan(plan: SweepPlan, console: Console) -> None:
    """What resolving the plan noticed, and each family's warm-start point."""
    for note in plan.notes:
        console.print(note, highlight=False)
    for family, point in plan.warm_points.items():
        shown = ", ".join(f"{k}={v}" for k, v in point.items()) or "nothing it searches"
        console.print(f"warm start, {family}: first trial {shown}", highlight=False)


def _run_families(
    plan: SweepPlan, console: Console, out_dir: str | Path, resume: bool, verbose: bool
) -> SweepOutcome:
    cfg = plan.config
    if not resume:
        save_state(cfg)
    uri = plan.tracking_uri
    experiment_id, parent = open_parent(
        uri, cfg.name, TAG_SWEEP, "sweep", cfg.model_dump(mode="json"), cfg.storage
    )
    objective = plan.objective
    set_tags(
        uri,
        parent,
        {"ncsweep.objective": objective.name, "ncsweep.objective_mode": ",".join(objective.modes)},
    )
    for family, planned in plan.families.items():
        log_text(uri, parent, planned.space_text, f"search_spaces/{family}.yaml")

    max_concurrent = cfg.max_concurrent or default_concurrency(cfg)
    console.print(
        f"[bold]sweep {cfg.name}[/]: preset {cfg.preset}, families "
        f"{', '.join(cfg.families)}, {cfg.trials} trials each, up to {max_concurrent} "
        f"at once{' per family, families in parallel' if _in_parallel(cfg) else ''}; "
        f"MLflow {redact_text(uri)} run {parent}"
    )
    if cfg.confirms:
        console.print(
            f"then confirmation: each family's top {cfg.confirm_top} trained again with seeds "
            f"{', '.join(map(str, cfg.confirm_seed_list))} (--confirm-top 0: none)",
            highlight=False,
        )
    if objective.suite is not None:
        console.print(
            f"objective {objective.metric} ({objective.mode}: {objective.meaning}), measured "
            f"by suite {objective.suite} at the end of every trial"
            + (
                "; ASHA stops trials by val/acc1 at its rungs (--scheduler none: every trial "
                "runs to the end)"
                if cfg.scheduler == "asha"
                else ""
            )
        )
    # Ray's output goes to the file until the command ends: trial actors that Tune shuts
    # down can still print (a SIGTERM traceback) while the leaderboard is written
    with route_ray_output(sweep_log_path(cfg.storage, cfg.name), console, verbose) as log_path:
        console.print(
            f"Ray's output: {log_path}" + ("" if verbose else " (--verbose shows it here)")
        )
        hint = f"continue with: {resume_command(cfg)}"
        context = _context(cfg, uri, experiment_id, parent)
        budget = cfg.budget_s(max_concurrent)
        if budget:
            console.print(f"budget: this run stops as resumable after {budget:.0f} s")
        restarts = 0
        with (
            GracefulStop(f"sweep {cfg.name}", uri, parent, hint, console) as stop,
            stop.deadline(budget, f"budget of {budget or 0:.0f} s spent"),
            LiveSnapshot(cfg.storage, cfg.name, uri) as live,
        ):
            started = time.monotonic()
            with SweepView(
                console, cfg.name, list(plan.families), cfg.trials, max_concurrent
            ) as view:
                if resume:
                    view.seed_rows(collect_rows(uri, cfg.name, cfg.nc_metric, objective))
                runs = (
                    _then(
                        _family_run(plan, index, family, context, stop, max_concurrent),
                        live.read_all,
                    )
                    for index, family in enumerate(plan.families.values())
                )
                if _in_parallel(cfg):
                    # every Tuner built here in the main thread, then fitted at once
                    run_in_parallel(list(runs), stop)
                else:
                    for run in runs:  # built when the family before it has ended
                        run()
            restarts += view.restarts()
            console.print(f"search: {time.monotonic() - started:.0f} s", highlight=False)
            restarts += _confirm(plan, uri, context, stop, console, max_concurrent)

        records = read_sweep(uri, cfg.name)  # the one read of every run at the end
        rows = collect_rows(uri, cfg.name, cfg.nc_metric, objective, records=records)
        console.print(leaderboard_table(rows, f"Leaderboard: {cfg.name}", objective))
        console.print(nc_steps_table(rows, objective=objective))
        if objective.pareto:
            console.print(pareto_table({f: pareto_rows(rows, f) for f in cfg.families}))
        if restarts:
            console.print(
                f"{restarts} trial restart(s) after a lost node, worker or actor: each went on "
                f"from its last checkpoint in its own MLflow run (tag {TAG_RETRIES})",
                highlight=False,
            )
        confirmed = confirmed_results(uri, cfg.name, objective, records=records)
        exported = export_best(
            uri,
            cfg.name,
            rows,
            out_dir,
            cfg.seed,
            pareto=objective.pareto,
            objective=objective,
            confirmed=confirmed,
        )
        log_text(uri, parent, rows_to_csv(rows, objective), "leaderboard.csv")
        log_text(uri, parent, rows_to_json(rows), "leaderboard.json")
        if confirmed.confirmed:
            _record_confirmed(uri, parent, confirmed)
        open_store(uri).log_artifacts(parent, str(out_dir), "best_configs")
        _record_best(uri, parent, objective, best_per_family(rows, objective))
        set_tags(uri, parent, {"ncsweep.trials": len(rows)})
        if confirmed.confirmed:
            print_confirmed(console, confirmed)
        _prune(cfg, uri, console, records)
        save_leaderboard_view(plan, experiment_id, parent)
        _finish(cfg, uri, records, console)
        return SweepOutcome(cfg.name, parent, rows, exported)


def _then(job: Callable[[], Any], after: Callable[[], None]) -> Callable[[], Any]:
    """``job``, then ``after`` once it returned."""

    def run() -> Any:
        result = job()
        after()
        return result

    return run


def _finish(cfg: SweepConfig, uri: str, records: SweepRecords, console: Console) -> None:
    """End the parent run, then snapshot its runs for later reads (``records.py``); a
    snapshot that cannot be written only costs those reads a search."""
    finish_run(uri, records.parent.run_id, RunState.FINISHED)
    try:
        ended = open_store(uri, read_only=True).get_run(records.parent.run_id).end_ms
        if ended is not None:
            save_snapshot(cfg.storage, cfg.name, records, ended)
    except Exception as err:
        console.print(f"[yellow]no run snapshot written[/] ({type(err).__name__}: {err})")


def _prune(
    cfg: SweepConfig, uri: str, console: Console, records: SweepRecords | None = None
) -> None:
    """``keep_checkpoints`` applied (``sweep/retention.py``); a failure only says so: the
    sweep's results are saved and a resume prunes again."""
    try:
        prune_sweep(cfg, uri, console, records)
    except Exception as err:
        console.print(f"[yellow]checkpoints not pruned[/] ({type(err).__name__}: {err})")


def _context(cfg: SweepConfig, uri: str, experiment_id: str, parent: str) -> TrialContext:
    """What every trial of the sweep (search and confirmation) is given."""
    return TrialContext(
        name=cfg.name,
        group_tag=TAG_SWEEP,
        tracking_uri=uri,
        experiment_id=experiment_id,
        parent_run_id=parent,
        nc_metric=cfg.nc_metric,
        # the constrained metrics too: Tune keeps only these besides TUNE_KEYS, and the
        # searcher reads each constraint's value from Tune's result
        objectives=tuple(
            dict.fromkeys([*cfg.resolved_objective.metrics, *(c.metric for c in cfg.constraints)])
        ),
        resources=dict(cfg.resources_per_worker),
        owner=tuple(owner_tags(cfg.storage, cfg.name).items()),
    )


def _confirm(
    plan: SweepPlan,
    uri: str,
    context: TrialContext,
    stop: GracefulStop,
    console: Console,
    max_concurrent: int,
) -> int:
    """The confirmation stage (``confirm_stage.py``) after a complete search, families at
    once when the search ran them so, in its own live view; the trial restarts it saw.
    Nothing when the sweep's ``confirms`` is off."""
    cfg = plan.config
    if not cfg.confirms:
        return 0
    context = dataclasses.replace(context, key_format=CONFIRMATION_KEY)
    stop.check()  # a budget spent at the search's end: the stage starts on resume
    started = time.monotonic()
    rows = collect_rows(uri, cfg.name, cfg.nc_metric, plan.objective)
    choices = {f: choose_configs(uri, cfg, rows, f) for f in cfg.families}
    for family, choice in choices.items():
        trials = ", ".join(c["trial_id"] for c in choice["configs"]) or "none (no complete trial)"
        console.print(f"confirm {family}: {trials}", highlight=False)
    choices = {f: c for f, c in choices.items() if c["configs"]}
    if not choices:
        return 0
    seeds = cfg.confirm_seed_list
    with SweepView(
        console, cfg.name, list(choices), len(seeds), max_concurrent, stage="confirm"
    ) as view:
        for family, choice in choices.items():
            view.families[family].budget = len(choice["configs"]) * len(seeds)
        view.seed_rows(row_from_run(run, cfg.nc_metric) for run in confirmation_runs(uri, cfg.name))
        jobs = [
            functools.partial(
                run_trials,
                _confirmation_tuner(plan, family, choice, context, max_concurrent),
                context,
                stop,
                trials=len(choice["configs"]) * len(seeds),
                folder=confirm_folder(cfg.storage, cfg.name, family),
                stopped_by="none",
                train_storage=_train_storage(cfg),
                scope={TAG_FAMILY: family, TAG_STAGE: STAGE_CONFIRM},
            )
            for family, choice in choices.items()
        ]
        if cfg.parallel_families and len(jobs) > 1:
            run_in_parallel(jobs, stop)
        else:
            for job in jobs:
                job()
    console.print(f"confirmation: {time.monotonic() - started:.0f} s", highlight=False)
    return view.restarts()


def _confirmation_tuner(
    plan: SweepPlan,
    family: str,
    choice: dict[str, Any],
    context: TrialContext,
    max_concurrent: int,
) -> tune.Tuner:
    """The family's confirmation Tune run; its trials take the resources the search's did."""
    planned = plan.families[family]
    return confirmation_tuner(
        plan.config,
        choice,
        context,
        dict(planned.resources),
        max_concurrent=max_concurrent,
        reuse_actors=planned.in_trial,
        keep=planned.keep_checkpoints,
        train_storage=_train_storage(plan.config),
    )


def run_confirm(
    cfg: SweepConfig, console: Console, verbose: bool = False, force: bool = False
) -> None:
    """Run (or continue) the confirmation stage of sweep ``cfg.name``, whose search has
    ended, while holding its lease (``ncsweep confirm``); ``cfg``'s ``confirm_top`` and
    ``confirm_seeds`` are saved as the sweep's.

    Raises:
        SpecError: the sweep has no MLflow parent run, a stage of 0 configs or seeds was
            asked for, or another driver runs the sweep (``LeaseHeld``).
        tuning.SweepInterrupted: stopped before every confirmation run ended (run it again).
    """
    if not cfg.confirms:
        raise SpecError(
            f"sweep {cfg.name}: confirm_top {cfg.confirm_top} and confirm_seeds "
            f"{cfg.confirm_seeds}: nothing to confirm; pass --confirm-top K --confirm-seeds S"
        )
    plan = resolve_plan(cfg, resume=True)
    uri = plan.tracking_uri
    require_reachable(uri)
    experiment_id, parent = find_parent(uri, cfg.name)
    chosen = any(saved_choice(cfg, f) is not None for f in cfg.families)  # same K and S
    if "ncsweep.trials" not in open_store(uri).get_run(parent).tags and not chosen:
        # the tag marks a sweep run to its end; a choice, a search that ended before it
        raise SpecError(
            f"sweep {cfg.name}: its search has not ended; finish it with "
            f"{resume_command(cfg)} (which confirms too unless confirm_top is 0)"
        )
    ensure_ray()
    require_shared_storage(cfg.storage, cfg.shared_storage)
    require_own_name(uri, cfg.name, TAG_SWEEP, "sweep", cfg.storage, "confirm")
    with _lease(cfg, "confirm", force, console):
        # this K and S become the sweep's: a later `ncsweep resume` continues the same stage
        stage = {"confirm_top": cfg.confirm_top, "confirm_seeds": cfg.confirm_seeds}
        save_state(load_state(cfg.storage, cfg.name).model_copy(update=stage))
        _, parent = open_parent(
            uri, cfg.name, TAG_SWEEP, "sweep", cfg.model_dump(mode="json"), cfg.storage
        )
        context = _context(cfg, uri, experiment_id, parent)
        max_concurrent = cfg.max_concurrent or default_concurrency(cfg)
        log = sweep_log_path(cfg.storage, cfg.name)
        hint = f"continue with: {confirm_command(cfg)}"
        budget = cfg.budget_s(max_concurrent)
        with (
            route_ray_output(log, console, verbose),
            GracefulStop(f"sweep {cfg.name} confirmation", uri, parent, hint, console) as stop,
            stop.deadline(budget, f"budget of {budget or 0:.0f} s spent"),
        ):
            _confirm(plan, uri, context, stop, console, max_concurrent)
        records = read_sweep(uri, cfg.name)
        confirmed = confirmed_results(uri, cfg.name, plan.objective, records=records)
        if confirmed.confirmed:
            _record_confirmed(uri, parent, confirmed)
            print_confirmed(console, confirmed)
        _prune(cfg, uri, console, records)
        save_leaderboard_view(plan, experiment_id, parent)
        _finish(cfg, uri, records, console)


def confirm_command(cfg: SweepConfig) -> str:
    """The command that continues ``cfg``'s confirmation stage."""
    return resume_command(cfg).replace("ncsweep resume", "ncsweep confirm", 1)
