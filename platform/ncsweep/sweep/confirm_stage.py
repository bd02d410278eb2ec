"""The confirmation stage: each family's top configs of the search, trained again over seeds.

A search trial trains once, with the sweep's ``seed``, so a family's best trial is partly the
best seed. After the search, per family, the top ``confirm_top`` complete trials by the
sweep's objective (:func:`confirmation_order`: the leaderboard's ranking; under ``pareto``
the Pareto front first, by accuracy, then the other trials by accuracy) train again with
each of ``confirm_seeds`` seeds. The seeds are ``seed + 1 .. seed + confirm_seeds`` (1..S
with the default seed 0): none is the search's own seed, so every confirmation run draws
a new initialisation, data order, augmentation and train/val split; the test split is
fixed. Each confirmation run sets ``eval.test`` and so logs ``test/*`` once at its end.

It runs like the search: one Tune run per family, ``<storage>/<name>/<family>-confirm``,
a grid over the (config, seed) pairs with no searcher (the family's study never sees a
confirmation run) and no scheduler (each runs to its end), every pair an MLflow child run of
the sweep's parent run (``runtime.trial.run_confirmation``) tagged ``ncsweep.stage=confirm``,
``ncsweep.confirms`` (the confirmed search trial's run id) and ``ncsweep.seed``. The configs
are chosen once and saved with their specs as ``<storage>/<name>/confirm/<family>.yaml``:
a resumed stage trains the same configs, and Tune's restored state runs no pair twice.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from ..config import SpecError
from ..plan.objectives import Objective, as_objective
from ..plan.state import SweepConfig, load_yaml, save_yaml, sweep_dir
from ..runtime.live import TuneFeed
from ..runtime.trial import TrialContext, run_confirmation
from ..runtime.tuning import restore_or_build, run_config, tune_config
from ..tracking import (
    STAGE_CONFIRM,
    TAG_CONFIRMS,
    TAG_FAMILY,
    TAG_SEED,
    RunRecord,
)
from .export import pareto_rows, trial_spec
from .leaderboard import TrialRow, child_runs, find_parent, rank_key

__all__ = [
    "choose_configs",
    "confirmation_order",
    "confirmation_runs",
    "confirmation_tuner",
    "confirm_folder",
    "has_choice",
    "saved_choice",
]

CHOICE_FOLDER = "confirm"


def confirm_folder(storage: str, name: str, family: str) -> str:
    """The family's confirmation Tune run: ``<storage>/<name>/<family>-confirm``."""
    return f"{sweep_dir(storage, name)}/{family}-confirm"


def confirmation_order(
    rows: list[TrialRow], family: str, objective: str | Objective = "accuracy"
) -> list[TrialRow]:
    """The family's complete feasible trials with a value of ``objective``, the one to
    confirm first first: by the leaderboard's ranking (``leaderboard.rank_key``: the
    objective, then accuracy, then fewer NC steps), so the first is the exported best; under
    ``pareto`` the front members first (by accuracy), then the other trials. A trial that
    breaks a constraint (``rows`` as ``collect_rows`` judged them) is left out: the export
    never writes it, so confirming it would spend runs on a config nobody gets."""
    goal = as_objective(objective)
    mine = [
        r
        for r in rows
        if r.family == family and r.complete and r.feasible and goal.value(r.metrics) is not None
    ]
    by_rank = sorted(mine, key=lambda r: rank_key(r, goal), reverse=True)
    if not goal.pareto:
        return by_rank
    front = pareto_rows(rows, family)
    on_front = {r.run_id for r in front}
    return [*front, *(r for r in by_rank if r.run_id not in on_front)]


def _choice_file(family: str) -> str:
    return f"{CHOICE_FOLDER}/{family}.yaml"


def saved_choice(cfg: SweepConfig, family: str) -> dict[str, Any] | None:
    """The family's saved choice of configs (:func:`choose_configs`), None before it is made.

    Raises:
        SpecError: it was made with another ``confirm_top`` or other seeds than ``cfg``'s.
    """
    seeds = cfg.confirm_seed_list
    saved = load_yaml(cfg.storage, cfg.name, _choice_file(family))
    if saved is not None and (saved["top"] != cfg.confirm_top or saved["seeds"] != seeds):
        raise SpecError(
            f"sweep {cfg.name}, family {family}: its confirmation stage was chosen with "
            f"confirm_top {saved['top']} and seeds {saved['seeds']} "
            f"({sweep_dir(cfg.storage, cfg.name)}/{_choice_file(family)}), not "
            f"confirm_top {cfg.confirm_top} and seeds {seeds}; run it with those, or "
            f"delete that file and {confirm_folder(cfg.storage, cfg.name, family)} "
            "to choose again"
        )
    return saved


def has_choice(storage: str, name: str, family: str) -> bool:
    """Whether the family's configs to confirm were chosen (the search had ended)."""
    return load_yaml(storage, name, _choice_file(family)) is not None


def choose_configs(uri: str, cfg: SweepConfig, rows: list[TrialRow], family: str) -> dict[str, Any]:
    """The family's configs to confirm, chosen once: the saved choice when there is one,
    else the top ``cfg.confirm_top`` of :func:`confirmation_order`, saved now with each
    trial's spec (``sweep.export.trial_spec``).

    Returns:
        ``{"family", "top", "seeds", "objective", "configs": [{"run_id", "trial_id",
        "value", "spec"}, ...]}``, best first.

    Raises:
        SpecError: a saved choice was made with another ``confirm_top`` or other seeds.
    """
    saved = saved_choice(cfg, family)
    if saved is not None:
        return saved
    goal = cfg.resolved_objective
    top = confirmation_order(rows, family, goal)[: cfg.confirm_top]
    choice = {
        "family": family,
        "top": cfg.confirm_top,
        "seeds": cfg.confirm_seed_list,
        "objective": goal.name,
        "configs": [
            {
                "run_id": row.run_id,
                "trial_id": row.trial_id,
                "value": goal.value(row.metrics),
                "spec": trial_spec(uri, row.run_id),
            }
            for row in top
        ],
    }
    save_yaml(cfg.storage, cfg.name, _choice_file(family), choice)
    return choice


def confirmation_tuner(
    cfg: SweepConfig,
    choice: dict[str, Any],
    context: TrialContext,
    resources: dict[str, float],
    *,
    max_concurrent: int,
    reuse_actors: bool,
    keep: int,
    train_storage: str,
) -> tune.Tuner:
    """The family's confirmation Tune run, restored when Tune saved it: a grid over
    ``choice``'s configs × seeds (``len(configs) * len(seeds)`` trials).

    Args:
        resources: each trial actor's resources (as the search's trials).
        reuse_actors: trials train in their Tune process (torch imported once per actor).
        keep: checkpoints each trial keeps.
        train_storage: where Ray Train trials keep their runs.
    """
    family = choice["family"]
    specs = {config["run_id"]: config["spec"] for config in choice["configs"]}
    trainable = trainable_object = tune.with_resources(
        tune.with_parameters(
            run_confirmation, context=context, specs=specs, train_storage=train_storage
        ),
        resources,
    )
    if cfg.parallel_families:
        # as the search's (runner._tuner): families fitted at once register in this thread
        trainable = f"run_confirmation_{family}"
        tune.register_trainable(trainable, trainable_object)

    def build() -> tune.Tuner:
        return tune.Tuner(
            trainable,
            param_space={
                "confirms": tune.grid_search(list(specs)),
                "seed": tune.grid_search(list(choice["seeds"])),
            },
            tune_config=tune_config(
                num_samples=1, max_concurrent_trials=max_concurrent, reuse_actors=reuse_actors
            ),
            run_config=run_config(
                f"{family}-confirm",
                sweep_dir(cfg.storage, cfg.name),
                cfg.max_failures,
                keep,
                [TuneFeed(family)],
                tensorboard=cfg.tensorboard,
            ),
        )

    return restore_or_build(confirm_folder(cfg.storage, cfg.name, family), trainable, build)


def confirmation_runs(uri: str, sweep: str) -> list[RunRecord]:
    """Every confirmation run of sweep ``sweep`` (child runs tagged
    ``ncsweep.stage=confirm``; each also tagged ``ncsweep.loss``, ``ncsweep.confirms``
    and ``ncsweep.seed``), by family, confirmed run and seed."""
    experiment_id, parent = find_parent(uri, sweep)
    runs = child_runs(uri, experiment_id, parent, stage=STAGE_CONFIRM)
    return sorted(
        runs,
        key=lambda r: (
            r.tags.get(TAG_FAMILY, ""),
            r.tags.get(TAG_CONFIRMS, ""),
            int(r.tags.get(TAG_SEED, -1)),
        ),
    )
