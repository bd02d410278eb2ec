"""``ncsweep study paper``: every cell of the plan as one Ray Tune run of parallel trials.

Tracked like a sweep: the study is an MLflow parent run (``ncsweep.kind = study``), each
cell a child run tagged with the study, family, seed and variant. Each trial trains through
``train.run_training`` with ``eval.suites`` set, so the suites run at the end of training on
the model in memory; the driver then compares every run with the CE run of the same seed
and variant (``evaluate.compare``), logs the comparisons to the child runs, and writes the
study table (``study.table``) as Markdown and JSON to the parent run and to ``--out``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import ray
import torch
from mlflow.tracking import MlflowClient
from ray import tune
from rich.console import Console

from .._environment import redact
from ..config import SpecError, spec_from_dict
from ..evaluate.runs import TAG_SEED, TAG_STUDY, TAG_VARIANT
from ..sweep.runner import SweepInterrupted
from ..sweep.state import sweep_dir
from ..sweep.trial import (
    SweepReportCallback,
    TrialFailed,
    TuneReporter,
    runs_in_trial,
    trial_resources,
)
from ..tracking import (
    TAG_FAMILY,
    TAG_KIND,
    TAG_TRIAL,
    ensure_experiment,
    finish_run,
    log_params,
    log_text,
    provenance_tags,
    resolve_tracking_uri,
    start_run,
)
from ..train import (
    TrainingCore,
    TrainOutcome,
    close_run,
    ensure_ray,
    fit,
    open_run,
    outcome_from_metrics,
    run_training,
)
from ..train.checkpoint import STATE_FILE
from ..train.core import LogLineHooks
from ..train.mlflow_hooks import MlflowHooks
from .plan import Cell
from .table import collect_study, render_markdown, study_json

__all__ = ["StudyOutcome", "run_study", "study_trial", "write_table"]


@dataclass
class StudyOutcome:
    name: str
    parent_run_id: str
    markdown: str
    data: dict[str, Any]
    failed: int


def study_trial(config: dict[str, Any], context: dict[str, Any]) -> None:
    """Tune trainable: train cell ``config["cell"]`` (a key of ``context["cells"]``; the
    specs travel in the context so Tune's trial tables show the key, not the whole spec)."""
    cell = context["cells"][config["cell"]]
    spec = spec_from_dict(cell["spec"], f"study {context['study']} cell {cell['key']}")
    tags = {
        TAG_STUDY: context["study"],
        TAG_TRIAL: cell["key"],
        TAG_FAMILY: spec.loss.name,
        TAG_SEED: str(cell["seed"]),
        TAG_VARIANT: cell["variant"],
    }
    reattach = {TAG_STUDY: context["study"], TAG_TRIAL: cell["key"]}
    if runs_in_trial(spec):
        outcome = _train_in_trial(spec, cell["key"], context, tags, reattach)
    else:
        outcome = run_training(
            spec,
            run_name=cell["key"],
            tracking_uri=context["tracking_uri"],
            parent_run_id=context["parent_run_id"],
            reattach=reattach,
            extra_tags=tags,
            callbacks=[SweepReportCallback("mean")],
        )
    if not outcome.ok:
        raise TrialFailed(f"cell {cell['key']}: {outcome.failure_reason}")


def _train_in_trial(spec, key: str, context: dict, tags: dict, reattach: dict) -> TrainOutcome:
    """One CPU worker: the training core runs in this trial process, as in a sweep (no Train
    controller or worker process: a third of the memory)."""
    tracking = open_run(
        spec, key, context["tracking_uri"], context["parent_run_id"], reattach, tags
    )
    hooks = MlflowHooks(tracking)
    try:
        core = TrainingCore(spec)
        result = fit(core, [LogLineHooks(), hooks, TuneReporter("mean")])
        # the final state where ``ncsweep evaluate`` finds it (tag ncsweep.checkpoint)
        location = f"{spec.run.storage_path.rstrip('/')}/{key}/final"
        fs, path = fsspec.core.url_to_fs(location)
        fs.makedirs(path, exist_ok=True)
        with fs.open(f"{path}/{STATE_FILE}", "wb") as handle:
            torch.save(core.state_dict(), handle)
    except Exception as err:  # this cell fails, the study goes on
        hooks.close()
        reason = f"{type(err).__name__}: {err}".strip().splitlines()[-1][:1000]
        return close_run(
            tracking, TrainOutcome("FAILED", tracking["run_id"], failure_reason=reason)
        )
    metrics = {**result.metrics, "failure_reason": result.failure_reason}
    return close_run(tracking, outcome_from_metrics(tracking["run_id"], metrics, location))


def _concurrency(cells: list[Cell]) -> int:
    run = cells[0].spec["run"]
    cpu = run["workers"] * run["cpus_per_worker"]
    gpu = run["workers"] * run["gpus_per_worker"]
    resources = ray.cluster_resources()
    limits = []
    if cpu > 0:
        limits.append(math.floor(resources.get("CPU", 1) / cpu))
    if gpu > 0:
        limits.append(math.floor(resources.get("GPU", 0) / gpu))
    return max(1, min(limits) if limits else 1)


def write_table(uri: str, name: str, out_dir: str | Path) -> tuple[str, dict[str, Any]]:
    """Collect study ``name`` from MLflow (comparing with CE and logging the comparisons to
    its runs), write ``<out>/<name>.md`` and ``.json`` and log both to the study's parent run.

    Raises:
        SpecError: no study of that name at ``uri``.
    """
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    parents = (
        client.search_runs(
            [experiment.experiment_id],
            f"tags.`{TAG_STUDY}` = '{name}' and tags.`{TAG_KIND}` = 'study'",
            max_results=1,
        )
        if experiment
        else []
    )
    if not parents:
        raise SpecError(
            f"no study named {name!r} at {redact(uri)} (looked for experiment {name!r})"
        )
    data = collect_study(uri, experiment.experiment_id, name)
    markdown = render_markdown(data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(markdown)
    (out / f"{name}.json").write_text(study_json(data))
    parent = parents[0].info.run_id
    log_text(uri, parent, markdown, "study.md")
    log_text(uri, parent, study_json(data), "study.json")
    return markdown, data


def run_study(
    name: str,
    cells: list[Cell],
    *,
    storage: str,
    tracking_uri: str | None,
    console: Console,
    settings: dict[str, Any],
    out_dir: str | Path,
    max_concurrent: int | None = None,
) -> StudyOutcome:
    uri = resolve_tracking_uri(tracking_uri)
    experiment_id = ensure_experiment(uri, name)
    parent = start_run(
        uri,
        experiment_id,
        name,
        {TAG_STUDY: name, TAG_KIND: "study", **provenance_tags()},
        reattach={TAG_STUDY: name, TAG_KIND: "study"},
    )
    log_params(uri, parent, settings)
    ensure_ray()
    concurrent = max_concurrent or _concurrency(cells)
    console.print(
        f"[bold]study {name}[/]: {len(cells)} runs ({', '.join(sorted({c.family for c in cells}))}; "
        f"seeds {sorted({c.seed for c in cells})}; variants {sorted({c.variant for c in cells})}), "
        f"up to {concurrent} at once; MLflow {uri} run {parent}"
    )
    context = {
        "study": name,
        "tracking_uri": uri,
        "parent_run_id": parent,
        "cells": {
            c.key: {"key": c.key, "seed": c.seed, "variant": c.variant, "spec": c.spec}
            for c in cells
        },
    }
    trainable = tune.with_resources(
        tune.with_parameters(study_trial, context=context),
        trial_resources(spec_from_dict(cells[0].spec)),
    )
    try:
        results = tune.Tuner(
            trainable,
            param_space={"cell": tune.grid_search([c.key for c in cells])},
            tune_config=tune.TuneConfig(max_concurrent_trials=concurrent),
            run_config=tune.RunConfig(
                name="cells",
                storage_path=sweep_dir(storage, name),
                failure_config=tune.FailureConfig(max_failures=0),
                verbose=1,
            ),
        ).fit()
    except BaseException:
        finish_run(uri, parent, "KILLED", "study interrupted")
        raise
    ended = results.num_terminated + results.num_errors
    if len(results) < len(cells) or ended < len(results):
        finish_run(uri, parent, "KILLED", "study interrupted")
        raise SweepInterrupted(
            f"study {name} interrupted ({ended} of {len(cells)} runs ended); run it again "
            "under a new --name"
        )
    failed = results.num_errors
    markdown, data = write_table(uri, name, out_dir)
    finish_run(
        uri,
        parent,
        "FINISHED" if not failed else "FAILED",
        f"{failed} cell(s) failed" if failed else None,
    )
    return StudyOutcome(name, parent, markdown, data, failed)
