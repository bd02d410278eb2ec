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
same name is refused (exit 2) instead of reconciling the first one's trials away. A trial
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
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune
from rich.console import Console

from ..plan.plan import FamilyPlan, SweepPlan
from ..plan.state import SweepConfig, save_state, sweep_dir
from ..redact import redact, redact_text
from ..runtime.cluster import require_shared_storage
from ..runtime.journal import open_study_storage
from ..runtime.journal_sync import StudySync
from ..runtime.lease import Lease, console_notes
from ..runtime.live import SweepView, TuneFeed, route_ray_output, sweep_log_path
from ..runtime.schedulers import build_scheduler
from ..runtime.searcher import build_searcher
from ..runtime.trainer import ensure_ray
from ..runtime.trial import TrialContext, run_trial
from ..runtime.tuning import (
    GracefulStop,
    open_parent,
    restore_or_build,
    run_config,
    run_in_parallel,
    run_trials,
    tune_config,
)
from ..status import RunState
from ..tracking import (
    TAG_FAMILY,
    TAG_RETRIES,
    TAG_SWEEP,
    MetricLogger,
    finish_run,
    log_text,
    open_store,
    require_reachable,
    set_tags,
)
from .export import export_best, pareto_rows
from .leaderboard import (
    best_per_family,
    collect_rows,
    leaderboard_table,
    nc_steps_table,
    pareto_table,
    rows_to_csv,
    rows_to_json,
)
from .resolve import resolve_plan

__all__ = ["SweepOutcome", "default_concurrency", "resume_command", "run_sweep"]


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
    trainable = trainable_object = tune.with_resources(
        tune.with_parameters(
            run_trial,
            context=context,
            base_spec=family.base_spec(),
            seed=cfg.seed,
            train_storage=_train_storage(cfg),
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
        searcher = build_searcher(
            cfg,
            family.space.suggest,
            index,
            max_concurrent,
            study_storage,
            family.family,
            [dict(first)] if first else None,
            objective=plan.objective,
        )
        scheduler = build_scheduler(cfg, plan.objective, family.max_evaluations)
        return tune.Tuner(
            trainable,
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
                family.keep_checkpoints,
                [TuneFeed(family.family), StudySync(cfg.storage, cfg.name, family.family)],
            ),
        )

    return restore_or_build(path, trainable, build)


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
    ensure_ray()
    # before the lease: a refused storage leaves nothing behind in it
    require_shared_storage(cfg.storage, cfg.shared_storage)
    command = "resume" if resume else "sweep"
    with Lease(cfg.storage, cfg.name, command, force=force, say=console_notes(console)):
        return _run_families(plan, console, out_dir, resume, verbose)


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
        uri, cfg.name, TAG_SWEEP, "sweep", cfg.model_dump(mode="json")
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
        live = contextlib.ExitStack()
        console.print(
            f"Ray's output: {log_path}" + ("" if verbose else " (--verbose shows it here)")
        )
        view = live.enter_context(
            SweepView(console, cfg.name, list(plan.families), cfg.trials, max_concurrent)
        )
        if resume:
            view.seed_rows(collect_rows(uri, cfg.name, cfg.nc_metric, objective))
        hint = f"continue with: {resume_command(cfg)}"
        stop = live.enter_context(GracefulStop(f"sweep {cfg.name}", uri, parent, hint, console))
        context = TrialContext(
            name=cfg.name,
            group_tag=TAG_SWEEP,
            tracking_uri=uri,
            experiment_id=experiment_id,
            parent_run_id=parent,
            nc_metric=cfg.nc_metric,
            objectives=tuple(objective.metrics),
            resources=dict(cfg.resources_per_worker),
        )
        budget = cfg.budget_s(max_concurrent)
        if budget:
            console.print(f"budget: this run stops as resumable after {budget:.0f} s")
        with live, stop.deadline(budget, f"budget of {budget or 0:.0f} s spent"):
            runs = (
                _family_run(plan, index, family, context, stop, max_concurrent)
                for index, family in enumerate(plan.families.values())
            )
            if _in_parallel(cfg):
                # every Tuner built here in the main thread, then fitted at once
                run_in_parallel(list(runs), stop)
            else:
                for run in runs:  # built when the family before it has ended
                    run()

        rows = collect_rows(uri, cfg.name, cfg.nc_metric, objective)
        console.print(leaderboard_table(rows, f"Leaderboard: {cfg.name}", objective))
        console.print(nc_steps_table(rows, objective=objective))
        if objective.pareto:
            console.print(pareto_table({f: pareto_rows(rows, f) for f in cfg.families}))
        restarts = view.restarts()
        if restarts:
            console.print(
                f"{restarts} trial restart(s) after a lost node, worker or actor: each went on "
                f"from its last checkpoint in its own MLflow run (tag {TAG_RETRIES})",
                highlight=False,
            )
        exported = export_best(
            uri, cfg.name, rows, out_dir, cfg.seed, pareto=objective.pareto, objective=objective
        )
        log_text(uri, parent, rows_to_csv(rows, objective), "leaderboard.csv")
        log_text(uri, parent, rows_to_json(rows), "leaderboard.json")
        open_store(uri).log_artifacts(parent, str(out_dir), "best_configs")
        _record_best(uri, parent, objective, best_per_family(rows, objective))
        set_tags(uri, parent, {"ncsweep.trials": len(rows)})
        finish_run(uri, parent, RunState.FINISHED)
        return SweepOutcome(cfg.name, parent, rows, exported)
