"""``ncsweep study paper``: every cell of the plan as one Ray Tune run of parallel trials.

Tracked like a sweep: the study is an MLflow parent run (``ncsweep.kind = study``), each
cell a child run tagged with the study, family, seed and variant. Each trial trains through
``train.run_training`` with ``eval.suites`` set, so the suites run at the end of training on
the model in memory; the driver then compares every run with the CE run of the same seed
and variant (``evaluate.compare``), logs the comparisons to the child runs, and writes the
study table (``study.table``) as Markdown and JSON to the parent run and to ``--out``.

Resuming: running the same study again (same name, same storage) continues it. The plan
(settings and a digest of every cell's spec) is saved as ``<storage>/<name>/study.yaml``
(``sweep.state.save_yaml``) and Tune's experiment under ``<storage>/<name>/cells``; a second
run checks the plan (another plan: ``SpecError``, exit 2, naming what changed) and restores
the Tuner as ``ncsweep resume`` does (``Tuner.restore(resume_unfinished=True)``): cells Tune
saw end are not trained again (a failed cell stays failed: retry it under another name),
nor is a cell whose MLflow run is FINISHED (ended after Tune's last snapshot), a cell that
was running continues from its latest checkpoint (or restarts when it had none)
in its own MLflow child run (found again by its study and cell tags), and the table is
collected again from MLflow and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune
from rich.console import Console

from .._environment import redact
from ..config import SpecError, spec_from_dict
from ..metric_keys import STATUS
from ..plan.settings import SweepSettings
from ..plan.state import load_yaml, save_yaml, sweep_dir
from ..runtime.evaluation_runs import TAG_SEED, TAG_STUDY, TAG_VARIANT
from ..runtime.lease import Lease, console_notes
from ..runtime.ownership import owner_tags, require_own_name
from ..runtime.trainer import ensure_ray
from ..runtime.trial import (
    TrialContext,
    train_trial,
    trial_resources,
)
from ..runtime.tuning import (
    GracefulStop,
    finished_missing,
    open_parent,
    restore_or_build,
    run_config,
    run_trials,
    stop_active,
    tune_config,
)
from ..status import RunState
from ..tracking import (
    TAG_FAMILY,
    TAG_KIND,
    find_run,
    finish_run,
    log_text,
    open_store,
    require_reachable,
    resolve_tracking_uri,
)
from ..train.core import STATUS_DONE, STATUS_FAILED
from .plan import Cell
from .table import collect_study, render_markdown, study_json

__all__ = ["StudyOutcome", "default_study_name", "run_study", "study_trial", "write_table"]

STUDY_FILE = "study.yaml"


@dataclass
class StudyOutcome:
    name: str
    parent_run_id: str
    markdown: str
    data: dict[str, Any]
    failed: int


def study_trial(config: dict[str, Any], context: TrialContext, cells: dict[str, dict]) -> None:
    """Tune trainable: train cell ``config["cell"]`` (a key of ``cells``; the specs travel
    in the parameters so Tune's trial tables show the key, not the whole spec)."""
    cell = cells[config["cell"]]
    key = cell["key"]
    spec = spec_from_dict(cell["spec"], f"study {context.name} cell {key}")
    run_id = find_run(context.tracking_uri, context.experiment_id, context.run_tags(key))
    finished = run_id and open_store(context.tracking_uri).get_run(run_id).status
    if finished == RunState.FINISHED:
        # Finished before the study was interrupted (Tune had not saved that yet): its
        # results are in MLflow, where the table reads them; it is not trained again.
        tune.report({STATUS: str(STATUS_DONE)})
        return
    tags = {
        **context.run_tags(key),
        TAG_FAMILY: spec.loss.name,
        TAG_SEED: str(cell["seed"]),
        TAG_VARIANT: cell["variant"],
    }
    # in-process cells also save their final state where ``ncsweep evaluate`` finds it
    storage = spec.run.storage_path
    assert storage is not None, "study/plan.py sets run.storage_path on every cell"
    train_trial(spec, key, context, tags, f"{storage.rstrip('/')}/{key}/final")


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


def _digest(data: Any) -> str:
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def default_study_name(preset: str, settings: dict[str, Any]) -> str:
    """``paper-<preset>-<digest of the settings>``: the same command names the same study,
    so running it again resumes it; another plan gets another name."""
    return f"paper-{preset}-{_digest(settings)[:8]}"


def _plan(settings: dict[str, Any], cells: list[Cell]) -> dict[str, Any]:
    return {
        "settings": settings,
        "settings_digest": _digest(settings),
        "cells": {c.key: _digest(c.spec)[:16] for c in cells},
    }


def _find_parent(uri: str, name: str) -> tuple[str, str] | None:
    """(experiment id, parent run id) of study ``name`` at ``uri``, or None."""
    experiment = open_store(uri).get_experiment(name)
    if experiment is None:
        return None
    parent = find_run(uri, experiment.experiment_id, {TAG_STUDY: name, TAG_KIND: "study"})
    return (experiment.experiment_id, parent) if parent else None


def _check_plan(uri: str, storage: str, name: str, plan: dict[str, Any]) -> bool:
    """True when study ``name`` was started under ``storage`` with this plan (resume it),
    False when it is new. Raises SpecError when the saved plan differs, or when MLflow has
    the study but ``storage`` does not (its cells would be trained again)."""
    where = redact(f"{sweep_dir(storage, name)}/{STUDY_FILE}")
    saved = load_yaml(storage, name, STUDY_FILE)
    if saved is None:
        if _find_parent(uri, name) is not None:
            raise SpecError(
                f"study {name!r} exists at {redact(uri)} but not under storage {redact(storage)} "
                f"(looked for {where}): pass the --storage it ran with to resume it, or "
                "choose another --name"
            )
        return False
    if saved.get("settings_digest") != plan["settings_digest"]:
        before = saved.get("settings") or {}
        changed = [
            f"{key} {before.get(key)!r} then, {value!r} now"
            for key, value in plan["settings"].items()
            if str(before.get(key)) != str(value)
        ]
        raise SpecError(
            f"study {name!r} under {redact(storage)} was started with another plan "
            f"({'; '.join(changed) or 'the --set values differ'}; saved in {where}): run "
            "the same command to resume it, or choose another --name"
        )
    old, new = saved.get("cells") or {}, plan["cells"]
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if changed:
        raise SpecError(
            f"study {name!r} under {redact(storage)}: the specs of cells {', '.join(changed)} differ "
            f"from when it started (saved in {where}; was the preset or a search space "
            "edited?): restore them to resume it, or choose another --name"
        )
    return True


def write_table(uri: str, name: str, out_dir: str | Path) -> tuple[str, dict[str, Any]]:
    """Collect study ``name`` from MLflow (comparing with CE and logging the comparisons to
    its runs), write ``<out>/<name>.md`` and ``.json`` and log both to the study's parent run.

    Raises:
        SpecError: no study of that name at ``uri``.
    """
    found = _find_parent(uri, name)
    if found is None:
        raise SpecError(
            f"no study named {name!r} at {redact(uri)} (looked for experiment {name!r})"
        )
    experiment_id, parent = found
    data = collect_study(uri, experiment_id, name)
    markdown = render_markdown(data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(markdown)
    (out / f"{name}.json").write_text(study_json(data))
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
    force: bool = False,
) -> StudyOutcome:
    """Train (or resume, module docstring) every cell, then write the table, holding the
    study's lease (``runtime/lease.py``: one driver writes a study at a time).

    Raises:
        SpecError: the study exists with another plan, or in MLflow but not in ``storage``,
            or (``LeaseHeld``) another driver runs it; ``force`` takes its lease anyway.
        SweepInterrupted: Tune returned before every cell ended (run it again to resume).
    """
    uri = resolve_tracking_uri(tracking_uri)
    require_reachable(uri)
    require_own_name(uri, name, TAG_STUDY, "study", storage, "study")
    lease = Lease(
        storage,
        name,
        "study",
        force=force,
        say=console_notes(console),
        on_lost=lambda holder: stop_active("this driver lost the study's lease"),
    )
    with lease:
        plan = _plan(settings, cells)
        resuming = _check_plan(uri, storage, name, plan)
        if not resuming:
            save_yaml(storage, name, STUDY_FILE, plan)
        experiment_id, parent = open_parent(uri, name, TAG_STUDY, "study", settings, storage)
        ensure_ray()
        concurrent = max_concurrent or _concurrency(cells)
        path = f"{sweep_dir(storage, name)}/cells"
        restore = resuming and tune.Tuner.can_restore(path)
        console.print(
            f"[bold]study {name}[/]{' (resumed)' if restore else ''}: {len(cells)} runs "
            f"({', '.join(sorted({c.family for c in cells}))}; "
            f"seeds {sorted({c.seed for c in cells})}; variants {sorted({c.variant for c in cells})}), "
            f"up to {concurrent} at once; MLflow {redact(uri)} run {parent}"
        )
        context = TrialContext(
            name=name,
            group_tag=TAG_STUDY,
            tracking_uri=uri,
            experiment_id=experiment_id,
            parent_run_id=parent,
            key_format="{cell}",
            owner=tuple(owner_tags(storage, name).items()),
        )
        specs = {
            c.key: {"key": c.key, "seed": c.seed, "variant": c.variant, "spec": c.spec}
            for c in cells
        }
        sample = spec_from_dict(cells[0].spec)
        trainable = tune.with_resources(
            tune.with_parameters(study_trial, context=context, cells=specs), trial_resources(sample)
        )

        def build() -> tune.Tuner:
            return tune.Tuner(
                trainable,
                param_space={"cell": tune.grid_search([c.key for c in cells])},
                tune_config=tune_config(max_concurrent_trials=concurrent),
                run_config=run_config(
                    "cells",
                    sweep_dir(storage, name),
                    SweepSettings.model_fields["max_failures"].default,
                    sample.run.keep_checkpoints,
                    callbacks=[],
                    verbose=1,
                ),
            )

        hint = (
            f"run the same command again to resume it (--name {name}, --storage {redact(storage)})"
        )
        with GracefulStop(f"study {name}", uri, parent, hint, console) as stop:
            results = run_trials(
                restore_or_build(path, trainable, build, finished_missing(context, {}))
                if restore
                else build(),
                context,
                stop,
                trials=len(cells),
                folder=path,
                stopped_by="study",
                train_storage=f"{sweep_dir(storage, name)}/train",
            )
        failed = sum(
            1 for r in results if r.error or (r.metrics or {}).get(STATUS) == STATUS_FAILED
        )
        markdown, data = write_table(uri, name, out_dir)
        finish_run(
            uri,
            parent,
            RunState.FAILED if failed else RunState.FINISHED,
            f"{failed} cell(s) failed" if failed else None,
        )
        return StudyOutcome(name, parent, markdown, data, failed)
