"""Which family wins, with error bars: the statistics of a sweep's confirmation stage.

After the search, each family's top configs are re-run over seeds as MLflow child runs of
the sweep's parent run, tagged ``ncsweep.stage=confirm``, ``ncsweep.confirms=<the search
trial's run id>``, ``ncsweep.seed=<seed>`` and ``ncsweep.loss=<family>`` (search trials carry
``ncsweep.stage=search``; a run without the tag is a search trial). Seed s means the same
train/val split for every family, and the test split is the same images for every seed, so
runs of two families are *paired by seed*.

What is computed (:func:`confirmed_results`):

- per family, the **confirmed winner**: of the configs confirmed, the one with the best mean
  over seeds of the sweep's selection metric on *validation* (``val/acc1`` for the
  ``accuracy`` and ``pareto`` objectives; an ``eval/<suite>/<key>`` objective's key in its
  direction). Never on test: choosing the config by its test mean would be selection on
  test, and its test mean would then be biased upwards like the search's best value is;
- for the winner: mean, std and 95 % bootstrap interval (``uncertainty.mean_interval``) of
  ``test/acc1``, of the steps to the NC threshold (``objective/nc_steps``: the leaderboard's
  censored measure, ``plan.objectives.nc_steps`` with the sweep's ``nc_metric``), and of each
  final NC score ``nc_score/<name>`` (the paper's five first);
- the **winner's curse**: the search-best trial's value of the selection metric minus the
  confirmed mean of the same config, both on validation. The search-best was picked as the
  maximum over noisy trials, so for a maximised metric the gap is typically positive (how
  optimistic the search's number was); for a minimised one, negative;
- comparisons of the winners: every pair of families (so every family against ``ce``), on
  ``test/acc1`` and NC steps (fewer is better): difference of means with its interval
  (``uncertainty.difference``, paired by seed when both families have runs for the same
  seeds, unpaired otherwise), P(A better than B) with its interval, and the one-sentence
  ``uncertainty.verdict``;
- tuning curves per family (``uncertainty.tuning_curve``): expected best validation value
  against the number of trials and their cost, from iid trials only (:func:`iid_trials`).

Only finished confirmation runs count; a failed or unfinished one is counted, not averaged
(``ConfirmedConfig.failed``). The search trial itself is not one of the seeds: it was
selected for its value, so including it would bias the mean.

Reads through the tracking store; imports neither torch nor Ray (read commands stay light).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console, JustifyMethod
from rich.table import Table

from .. import metric_keys as keys
from ..plan.objectives import NC_STEPS, Objective, as_objective
from ..plan.settings import startup_trials as n_startup_trials
from ..status import RunState
from ..tracking import (
    STAGE_CONFIRM,
    STAGE_SEARCH,
    TAG_CONFIRMS,
    TAG_FAMILY,
    TAG_SEED,
    TAG_STAGE,
    TAG_TRIAL,
    RunRecord,
    TrackingStore,
)
from ..uncertainty import (
    Estimate,
    difference,
    mean_interval,
    probability_of_improvement,
    tuning_curve,
    verdict,
)
from .leaderboard import PAPER_FIVE, best_per_family, row_from_run
from .records import SweepRecords, read_sweep

__all__ = [
    "COMPARED",
    "REFERENCE",
    "STAGE_CONFIRM",
    "STAGE_SEARCH",
    "TAG_CONFIRMS",
    "TAG_SAMPLER",
    "TAG_SEED",
    "TAG_STAGE",
    "Comparison",
    "ConfirmedConfig",
    "ConfirmedResults",
    "FamilyResult",
    "SeedRun",
    "TuningResult",
    "confirmed_leaderboard",
    "confirmed_results",
    "iid_trials",
    "n_startup_trials",
    "print_confirmed",
    "ranked_families",
    "results_from_json",
    "results_to_json",
    "split_stages",
    "summary_metrics",
]

#: A tag or param ``random`` here says the trials were sampled at random (all of them iid).
TAG_SAMPLER = "ncsweep.sampler"
#: The family every other is compared with first.
REFERENCE = "ce"


@dataclass
class SeedRun:
    """One finished confirmation run: its seed and the values the statistics read."""

    seed: int | str
    run_id: str
    values: dict[str, float] = field(default_factory=dict)


@dataclass
class ConfirmedConfig:
    """One search trial's config re-run over seeds.

    Attributes:
        family: Loss family.
        trial_id: The search trial's id.
        search_run_id: The search trial's MLflow run id (``ncsweep.confirms``).
        search_value: The search trial's own value of the selection metric (None if absent).
        runs: Finished confirmation runs, by seed.
        failed: Confirmation runs that did not finish (failed, killed, still running).
        selection: Mean over ``runs`` of the selection metric (validation) with its interval;
            None when no run has it.
    """

    family: str
    trial_id: str
    search_run_id: str
    search_value: float | None
    runs: list[SeedRun]
    failed: int = 0
    selection: Estimate | None = None

    @property
    def seeds(self) -> list[int | str]:
        return [r.seed for r in self.runs]

    @property
    def curse(self) -> float | None:
        """``search_value - selection.mean`` (validation, both)."""
        if self.search_value is None or self.selection is None:
            return None
        return self.search_value - self.selection.mean

    def values(self, key: str) -> dict[int | str, float]:
        """``{seed: value}`` of ``key`` over the runs that have it finite."""
        return {
            r.seed: r.values[key]
            for r in self.runs
            if key in r.values and math.isfinite(r.values[key])
        }


@dataclass
class FamilyResult:
    """A family's confirmed winner and what the search said.

    Attributes:
        family: Loss family.
        winner: The confirmed config with the best validation mean (module docstring).
        configs: Every confirmed config of the family, best validation mean first.
        search_best_trial: The search's best trial (``leaderboard.best_per_family``).
        search_best_run_id: Its MLflow run id.
        search_best_value: Its value of the selection metric.
        winners_curse: ``search_best_value`` minus the confirmed mean of the same config;
            None when the search-best config has no finished confirmation run.
        test_acc1: The winner's ``test/acc1`` over seeds.
        nc_steps: The winner's steps to the NC threshold (censored) over seeds.
        nc_scores: The winner's final ``nc_score/<name>`` over seeds, by name.
    """

    family: str
    winner: ConfirmedConfig
    configs: list[ConfirmedConfig]
    search_best_trial: str | None = None
    search_best_run_id: str | None = None
    search_best_value: float | None = None
    winners_curse: float | None = None
    test_acc1: Estimate | None = None
    nc_steps: Estimate | None = None
    nc_scores: dict[str, Estimate] = field(default_factory=dict)


@dataclass
class Comparison:
    """Family A's winner against family B's on one metric.

    Attributes:
        a: Family A.
        b: Family B.
        metric: ``test/acc1`` or ``objective/nc_steps``.
        unit: ``uncertainty.UNITS`` key the verdict prints in.
        higher_is_better: The metric's direction.
        paired: True when the runs were paired by seed (both families have the same seeds).
        seeds: The seeds compared when paired; empty otherwise.
        difference: ``mean(A) - mean(B)`` with its interval.
        probability: P(A better than B) with its interval.
        verdict: ``uncertainty.verdict``'s sentence.
    """

    a: str
    b: str
    metric: str
    unit: str
    higher_is_better: bool
    paired: bool
    seeds: list[int | str]
    difference: Estimate
    probability: Estimate
    verdict: str


@dataclass
class TuningResult:
    """A family's tuning curve and which trials made it.

    Attributes:
        family: Loss family.
        metric: The selection metric (validation).
        mode: ``max`` or ``min``.
        basis: One sentence: which trials were used and why they are iid.
        trial_ids: The trials used, by start time.
        cost_unit: ``GPU-hours`` (duration x GPUs per trial) or ``trial-hours`` (duration
            x 1, a sweep without GPUs).
        curve: ``TuningCurve.columns()``: trials, expected, low, high, cost.
    """

    family: str
    metric: str
    mode: str
    basis: str
    trial_ids: list[str]
    cost_unit: str
    curve: dict[str, list[float]]


@dataclass
class ConfirmedResults:
    """Everything :func:`confirmed_results` computes for one sweep.

    ``families`` is empty when the sweep has no finished confirmation run; ``tuning`` is
    filled either way.
    """

    sweep: str
    objective: str
    metric: str
    mode: str
    nc_metric: str
    families: dict[str, FamilyResult]
    comparisons: list[Comparison]
    tuning: dict[str, TuningResult]
    reference: str = REFERENCE

    @property
    def confirmed(self) -> bool:
        return bool(self.families)

    def against(self, family: str) -> list[Comparison]:
        """The comparisons with ``family`` as B (e.g. every family against ``ce``)."""
        return [c for c in self.comparisons if c.b == family]


# --- reading --------------------------------------------------------------------------


def split_stages(runs: list[RunRecord]) -> tuple[list[RunRecord], list[RunRecord]]:
    """``(search trials, confirmation runs)``; a run without ``ncsweep.stage`` is a search
    trial (sweeps from before the confirmation stage)."""
    search = [r for r in runs if r.tags.get(TAG_STAGE, STAGE_SEARCH) != STAGE_CONFIRM]
    confirm = [r for r in runs if r.tags.get(TAG_STAGE) == STAGE_CONFIRM]
    return search, confirm


def _seed(text: str | None, run_id: str) -> int | str:
    if text is None:
        return f"run {run_id[:8]}"  # no seed tag: a run of its own, pairs with nothing
    try:
        return int(text)
    except ValueError:
        return text


def _seed_order(seed: int | str) -> tuple:
    """Integer seeds in numeric order, then the others by name."""
    return (1, 0, seed) if isinstance(seed, str) else (0, seed, "")


def _values(run: RunRecord, metric: str, nc_metric: str) -> dict[str, float]:
    """The keys the statistics read: the selection metric, test/*, NC steps, NC scores."""
    m = run.metrics
    out = {
        k: float(v) for k, v in m.items() if k == metric or k.startswith(("test/", keys.NC_SCORE))
    }
    steps = row_from_run(run, nc_metric).nc_steps
    if steps is not None:
        out[NC_STEPS] = float(steps)
    return out


def _better(mode: str, a: float, b: float) -> bool:
    return a > b if mode == "max" else a < b


def _estimate(values: dict[Any, float]) -> Estimate | None:
    return mean_interval(list(values.values())) if values else None


def _configs(
    confirm: list[RunRecord],
    search_by_id: dict[str, RunRecord],
    goal: Objective,
    nc_metric: str,
) -> dict[str, list[ConfirmedConfig]]:
    """Confirmation runs grouped by the config they confirm, per family."""
    groups: dict[str, list[RunRecord]] = {}
    for run in confirm:
        groups.setdefault(run.tags.get(TAG_CONFIRMS, "?"), []).append(run)
    out: dict[str, list[ConfirmedConfig]] = {}
    for search_id, runs in sorted(groups.items()):
        source = search_by_id.get(search_id)
        family = (
            runs[0].tags.get(TAG_FAMILY) or (source.tags.get(TAG_FAMILY) if source else None) or "?"
        )
        finished = sorted(
            (
                SeedRun(
                    _seed(r.tags.get(TAG_SEED), r.run_id),
                    r.run_id,
                    _values(r, goal.metric, nc_metric),
                )
                for r in runs
                if r.status == RunState.FINISHED
            ),
            key=lambda s: _seed_order(s.seed),
        )
        config = ConfirmedConfig(
            family=family,
            trial_id=(source.tags.get(TAG_TRIAL, source.run_name) if source else search_id[:12]),
            search_run_id=search_id,
            search_value=goal.value(source.metrics) if source else None,
            runs=finished,
            failed=len(runs) - len(finished),
        )
        config.selection = _estimate(config.values(goal.metric))
        out.setdefault(family, []).append(config)
    return out


def _winner_first(configs: list[ConfirmedConfig], mode: str) -> list[ConfirmedConfig]:
    """Best validation mean first (never test: module docstring); ties by trial id."""
    sign = -1.0 if mode == "max" else 1.0
    return sorted(
        configs,
        key=lambda c: (
            c.selection is None,
            sign * c.selection.mean if c.selection else 0.0,
            c.trial_id,
        ),
    )


def _nc_score_names(runs: list[SeedRun]) -> list[str]:
    present = {
        k[len(keys.NC_SCORE) :] for r in runs for k in r.values if k.startswith(keys.NC_SCORE)
    }
    return [n for n in PAPER_FIVE if n in present] + sorted(present - set(PAPER_FIVE))


def _family_order(families, reference: str) -> list[str]:
    return sorted(families, key=lambda f: (f != reference, f))


def _compare(
    a: str, b: str, x: dict, y: dict, metric: str, unit: str, higher_is_better: bool
) -> Comparison:
    """A against B on ``metric``: paired by seed when both have the same seeds."""
    paired = len(x) > 0 and set(x) == set(y)
    if paired:
        seeds = sorted(x, key=_seed_order)
        xs, ys = [x[s] for s in seeds], [y[s] for s in seeds]
    else:
        seeds, xs, ys = [], list(x.values()), list(y.values())
    diff = difference(xs, ys, paired=paired)
    poi = probability_of_improvement(xs, ys, paired=paired, higher_is_better=higher_is_better)
    sentence = verdict(a, b, metric, diff, poi, unit=unit, higher_is_better=higher_is_better)
    return Comparison(a, b, metric, unit, higher_is_better, paired, seeds, diff, poi, sentence)


#: What the comparisons cover: ``(key, verdict unit, higher is better)``.
COMPARED = ((keys.TEST_ACC1, "pts", True), (NC_STEPS, "steps", False))


def _comparisons(families: dict[str, FamilyResult], reference: str) -> list[Comparison]:
    """Every pair once; within a pair, the later family in (reference first, then by name)
    order is A, so every comparison with the reference reads "<family> vs <reference>"."""
    out = []
    order = _family_order(families, reference)
    for b, a in itertools.combinations(order, 2):
        for metric, unit, higher in COMPARED:
            x = families[a].winner.values(metric)
            y = families[b].winner.values(metric)
            if x and y:
                out.append(_compare(a, b, x, y, metric, unit, higher))
    return out


def _param(parent: RunRecord, key: str) -> str | None:
    value = parent.tags.get(key, parent.params.get(key))
    return None if value in (None, "", "None", "null") else value


def iid_trials(parent: RunRecord, runs: list[RunRecord]) -> tuple[list[RunRecord], str, bool]:
    """The search trials of one family that were sampled independently of the others.

    With a random sampler (``ncsweep.sampler`` = ``random`` on the parent, as a tag or a
    param, or on the family's trials) every trial. With TPE (the default), its random
    start-up trials: Optuna samples at random until ``n_startup_trials`` trials have ended,
    so the first ``n_startup_trials`` by start time were certainly sampled at random (more
    may have been, with trials running at once, but not provably). A warm-started sweep's
    first trial is the exported config, not a sample: it is left out.

    Args:
        parent: The sweep's parent run (its params: ``trials``, ``warm_start``).
        runs: The family's search trials, any order.

    Returns:
        ``(trials by start time, basis sentence, random sampler?)``.
    """
    ordered = sorted(runs, key=lambda r: (r.start_ms, r.run_id))
    random = _param(parent, TAG_SAMPLER) == "random" or any(
        r.tags.get(TAG_SAMPLER, r.params.get(TAG_SAMPLER)) == "random" for r in runs
    )
    warm = _param(parent, "warm_start") is not None
    if random:
        chosen, basis = ordered, f"all {len(ordered)} trials (random sampler)"
    else:
        per_family = int(float(_param(parent, "trials") or len(ordered)))
        n = n_startup_trials(per_family)
        chosen = ordered[:n]
        basis = f"the first {len(chosen)} of {len(ordered)} trials by start time: TPE's random start-up trials (n_startup_trials = max(2, {per_family} // 3) = {n})"
    if warm and chosen:
        chosen = chosen[1:]
        basis += ", less the warm-start trial"
    return chosen, basis, random


def _tuning(parent: RunRecord, search: list[RunRecord], goal: Objective) -> dict[str, TuningResult]:
    """Per family, the expected best validation value after n iid trials, and its cost."""
    gpus = float(_param(parent, "gpus_per_trial") or 0.0)
    unit = "GPU-hours" if gpus > 0 else "trial-hours"
    by_family: dict[str, list[RunRecord]] = {}
    for run in search:
        by_family.setdefault(run.tags.get(TAG_FAMILY, "?"), []).append(run)
    out = {}
    for family, runs in sorted(by_family.items()):
        chosen, basis, _ = iid_trials(parent, runs)
        # an ended trial with a value: full budget, or stopped early with its last value
        usable = [
            r
            for r in chosen
            if r.status != RunState.FAILED
            and r.end_ms is not None
            and goal.value(r.metrics) is not None
        ]
        if not usable:
            continue
        if len(usable) < len(chosen):
            basis += f"; {len(chosen) - len(usable)} without a value (failed, running) left out"
        # every usable run has a value: the filter only narrows the type
        scores = [v for v in (goal.value(r.metrics) for r in usable) if v is not None]
        hours = [
            max(0.0, (r.end_ms - r.start_ms) / 3.6e6) * (gpus if gpus > 0 else 1.0)
            for r in usable
            if r.end_ms is not None  # every usable run has ended: this only narrows the type
        ]
        curve = tuning_curve(scores, costs=hours, higher_is_better=goal.mode == "max")
        out[family] = TuningResult(
            family=family,
            metric=goal.metric,
            mode=goal.mode,
            basis=basis,
            trial_ids=[r.tags.get(TAG_TRIAL, r.run_name) for r in usable],
            cost_unit=unit,
            curve=curve.columns(),
        )
    return out


def confirmed_results(
    uri_or_store: str | TrackingStore,
    sweep: str,
    objective: str | Objective | None = None,
    reference: str = REFERENCE,
    records: SweepRecords | None = None,
) -> ConfirmedResults:
    """The confirmation stage of sweep ``sweep``, with intervals (module docstring).

    The confirmed winner of a family is chosen on the *validation* mean of the selection
    metric over seeds, never on test: selecting on test would make the test numbers
    reported for it biased upwards, the very optimism the confirmation stage removes.

    Args:
        uri_or_store: A tracking URI (``memory://NAME`` for the in-memory store) or a store.
        sweep: The sweep's name.
        objective: The sweep's objective; None reads it from the parent run's params.
        reference: The family others are compared with first.
        records: The sweep's runs, when the caller has read them (``records.read_sweep``).

    Returns:
        :class:`ConfirmedResults`; ``families`` empty when no confirmation run finished.

    Raises:
        SpecError: no sweep of that name in the store.
    """
    records = records or read_sweep(uri_or_store, sweep)
    parent, children = records.parent, records.children(stage=None)
    goal = as_objective(objective or parent.params.get("objective") or "accuracy")
    nc_metric = parent.params.get("nc_metric") or "mean"
    search, confirm = split_stages(children)
    search_by_id = {r.run_id: r for r in search}
    best = best_per_family([row_from_run(r, nc_metric) for r in search], goal)
    families: dict[str, FamilyResult] = {}
    for family, configs in _configs(confirm, search_by_id, goal, nc_metric).items():
        ranked = _winner_first(configs, goal.mode)
        winner = ranked[0]
        if winner.selection is None:
            continue
        top = best.get(family)
        same = next((c for c in configs if top and c.search_run_id == top.run_id), None)
        families[family] = FamilyResult(
            family=family,
            winner=winner,
            configs=ranked,
            search_best_trial=top.trial_id if top else None,
            search_best_run_id=top.run_id if top else None,
            search_best_value=goal.value(top.metrics) if top else None,
            winners_curse=same.curse if same else None,
            test_acc1=_estimate(winner.values(keys.TEST_ACC1)),
            nc_steps=_estimate(winner.values(NC_STEPS)),
            nc_scores={
                name: estimate
                for name in _nc_score_names(winner.runs)
                if (estimate := _estimate(winner.values(keys.NC_SCORE + name))) is not None
            },
        )
    return ConfirmedResults(
        sweep=sweep,
        objective=goal.name,
        metric=goal.metric,
        mode=goal.mode,
        nc_metric=nc_metric,
        families={f: families[f] for f in _family_order(families, reference)},
        comparisons=_comparisons(families, reference),
        tuning=_tuning(parent, search, goal),
        reference=reference,
    )


# --- showing --------------------------------------------------------------------------


def _interval(e: Estimate | None, spec: str = ".4f") -> str:
    if e is None:
        return "-"
    return f"{e.mean:{spec}} [{e.low:{spec}}, {e.high:{spec}}]"


def _num(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def ranked_families(results: ConfirmedResults) -> list[FamilyResult]:
    """Families by their winner's confirmed ``test/acc1`` mean, best first (families
    without test values last). Ranking families is what the test split is for; it
    chooses no config."""
    return sorted(
        results.families.values(),
        key=lambda f: (f.test_acc1 is None, -(f.test_acc1.mean if f.test_acc1 else 0.0), f.family),
    )


def confirmed_leaderboard(results: ConfirmedResults, title: str | None = None) -> Table:
    """One row per family, ranked by the confirmed ``test/acc1`` mean: the confirmed winner
    (chosen on its validation mean), its seeds, test/acc1 and NC steps with 95 % intervals,
    the search-best trial beside it and the winner's-curse gap."""
    table = Table(
        title=title or f"Confirmed leaderboard: {results.sweep}",
        caption=(
            f"winner per family: best {results.metric} mean over seeds ({results.mode}, "
            f"validation); ranked by {keys.TEST_ACC1} mean; [95 % bootstrap interval]; winner's "
            f"curse = search-best {results.metric} - its confirmed mean"
        ),
    )
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("family", "left"),
        ("confirmed winner", "left"),
        ("seeds", "right"),
        (f"{results.metric} mean", "right"),
        (f"{keys.TEST_ACC1} mean [95 %]", "right"),
        ("NC steps mean [95 %]", "right"),
        ("search-best", "left"),
        (f"search {results.metric}", "right"),
        ("winner's curse", "right"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for f in ranked_families(results):
        table.add_row(
            f.family,
            f.winner.trial_id,
            f"{len(f.winner.runs)}" + (f" (+{f.winner.failed} failed)" if f.winner.failed else ""),
            _num(f.winner.selection.mean if f.winner.selection else None),
            _interval(f.test_acc1),
            _interval(f.nc_steps, ".0f"),
            f.search_best_trial or "-",
            _num(f.search_best_value),
            _signed(f.winners_curse),
        )
    return table


def _sentence(c: Comparison) -> str:
    return c.verdict + ("" if c.paired else " (unpaired: the seeds differ)")


def print_confirmed(console: Console, results: ConfirmedResults) -> None:
    """The confirmed leaderboard, then every family's verdicts against the reference (and
    the other pairs), then which trials each tuning curve used."""
    if not results.confirmed:
        console.print(f"sweep {results.sweep}: no finished confirmation runs")
        return
    console.print(confirmed_leaderboard(results))
    against = results.against(results.reference)
    if against:
        console.print(f"[bold]Against {results.reference}[/] (95 % intervals)")
        for c in against:
            console.print(f"  {_sentence(c)}", highlight=False)
    others = [c for c in results.comparisons if c.b != results.reference]
    if others:
        console.print("[bold]Other pairs[/]")
        for c in others:
            console.print(f"  {_sentence(c)}", highlight=False)
    for t in results.tuning.values():
        console.print(
            f"tuning curve, {t.family}: {t.basis}; cost in {t.cost_unit}", highlight=False
        )


# --- JSON -----------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """NaN and infinities as None: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def summary_metrics(results: ConfirmedResults) -> dict[str, float]:
    """The confirmed winners' numbers as parent-run metrics, so the MLflow UI can compare
    sweeps by what they confirmed rather than by their luckiest trial:
    ``confirmed/<family>/<metric>/{mean,low,high}`` for the selection metric (validation),
    ``test/acc1`` and the NC steps, where measured."""
    out: dict[str, float] = {}
    for family, result in results.families.items():
        estimates = {
            results.metric: result.winner.selection,
            "test/acc1": result.test_acc1,
            "nc_steps": result.nc_steps,
        }
        for name, estimate in estimates.items():
            if estimate is None:
                continue
            for part in ("mean", "low", "high"):
                value = getattr(estimate, part)
                if math.isfinite(value):
                    out[f"confirmed/{family}/{name}/{part}"] = value
    return out


def results_to_json(results: ConfirmedResults) -> str:
    """The results as JSON (the parent run's ``confirmation.json``): strict JSON (a NaN,
    e.g. the std of one run, is ``null``); :func:`results_from_json` reads it back."""
    document = asdict(results)
    document["ranking"] = [f.family for f in ranked_families(results)]
    return json.dumps(_clean(document), indent=2, allow_nan=False)


def _estimate_from(d: dict | None) -> Estimate | None:
    if d is None:
        return None
    return Estimate(**{**d, "std": math.nan if d["std"] is None else d["std"]})


def _config_from(d: dict) -> ConfirmedConfig:
    return ConfirmedConfig(
        **{
            **d,
            "runs": [SeedRun(**r) for r in d["runs"]],
            "selection": _estimate_from(d["selection"]),
        }
    )


def results_from_json(text: str) -> ConfirmedResults:
    """:class:`ConfirmedResults` from :func:`results_to_json`'s text."""
    d = json.loads(text)
    d.pop("ranking", None)
    families = {
        name: FamilyResult(
            **{
                **f,
                "winner": _config_from(f["winner"]),
                "configs": [_config_from(c) for c in f["configs"]],
                "test_acc1": _estimate_from(f["test_acc1"]),
                "nc_steps": _estimate_from(f["nc_steps"]),
                "nc_scores": {k: _estimate_from(v) for k, v in f["nc_scores"].items()},
            }
        )
        for name, f in d["families"].items()
    }
    comparisons = [
        Comparison(
            **{
                **c,
                "difference": _estimate_from(c["difference"]),
                "probability": _estimate_from(c["probability"]),
            }
        )
        for c in d["comparisons"]
    ]
    tuning = {k: TuningResult(**v) for k, v in d["tuning"].items()}
    return ConfirmedResults(
        **{**d, "families": families, "comparisons": comparisons, "tuning": tuning}
    )
