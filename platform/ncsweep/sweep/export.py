"""Export the best configuration per loss family as files ``ncsweep train --config`` runs.

``<out>/<family>.yaml`` is the best trial by the sweep's objective (``leaderboard``), its
full spec plus a ``provenance`` section (which ``config.load_spec`` ignores): sweep, trial,
MLflow run id, the objective (name, direction, value), metric values, seed, git commit,
package versions. A trial that population-based training mutated exports as a schedule:
its start values and ``hyperparameter_schedule`` (``runtime/mutations.py``), which
``ncsweep train --config`` replays. When the sweep has confirmation runs (``confirmation.py``), a confirmed
family's file is its *confirmed winner* instead (best validation mean over seeds), and
``provenance.confirmation`` lists the seeds, the means with their 95 % intervals and the
winner's-curse gap. In Pareto mode ``<out>/<family>_pareto.yaml`` lists the non-dominated
trials (accuracy up, steps to the NC threshold down), each with its spec.

Never an infeasible trial (``leaderboard.judge``: the sweep's constraints): a family whose
complete trials all break a constraint gets no file and a warning naming the constraints;
a confirmed winner whose search trial is infeasible gives way to the best feasible trial.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from .. import metric_keys as keys
from ..config import read_yaml
from ..plan.objectives import ACCURACY, NC_STEPS, Objective, as_objective, pareto_front
from ..redact import redact
from ..tracking import git_commit, open_store, package_versions
from .confirmation import ConfirmedResults, FamilyResult, confirmed_results
from .leaderboard import TrialRow, best_per_family, row_from_run

__all__ = ["export_best", "trial_spec", "pareto_rows"]

_REPORTED = (*keys.VAL_HEADLINE, NC_STEPS)
_log = logging.getLogger(__name__)


def trial_spec(uri: str, run_id: str) -> dict[str, Any]:
    """The spec a run trained with (its ``spec.yaml`` artifact), ready to train again."""
    with tempfile.TemporaryDirectory() as tmp:
        path = open_store(uri).download_artifact(run_id, "spec.yaml", tmp)
        spec = read_yaml(path)
    spec.setdefault("run", {}).update(name=None, storage_path=None)
    return spec


def _provenance(
    uri: str, sweep: str, row: TrialRow, seed: int, objective: Objective
) -> dict[str, Any]:
    metrics: dict[str, float | None] = {k: row.metrics[k] for k in _REPORTED if k in row.metrics}
    if objective.suite is not None:
        metrics.update({k: v for k, v in sorted(row.metrics.items()) if k.startswith("eval/")})
    if row.nc_steps is not None:
        metrics[NC_STEPS] = row.nc_steps
    metrics["mean_nc_score"] = row.mean_nc_score
    metrics.update(keys.prefixed(keys.NC_ITERS, dict(sorted(row.nc_iters.items()))))
    return {
        "sweep": sweep,
        "family": row.family,
        "trial_id": row.trial_id,
        "mlflow_run_id": row.run_id,
        "tracking_uri": redact(uri),
        "objective": {
            "name": objective.name,
            "metric": objective.metric,
            "mode": objective.mode,
            "value": objective.value(row.metrics),
        },
        "metrics": metrics,
        **({"constraints": dict(row.violations)} if row.violations else {}),
        "seed": seed,
        "git_commit": git_commit(),
        "versions": package_versions(),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _interval(estimate) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return {
        "mean": estimate.mean,
        "std": estimate.std if math.isfinite(estimate.std) else None,
        "low": estimate.low,
        "high": estimate.high,
        "runs": estimate.n,
    }


def _confirmation(result: FamilyResult, confirmed: ConfirmedResults) -> dict[str, Any]:
    """The confirmed winner's section of the provenance."""
    winner = result.winner
    return {
        "selected_on": f"mean {confirmed.metric} over seeds ({confirmed.mode}, validation)",
        "interval": "95 % bootstrap (uncertainty.mean_interval)",
        "seeds": list(winner.seeds),
        "run_ids": [r.run_id for r in winner.runs],
        "failed_runs": winner.failed,
        confirmed.metric: _interval(winner.selection),
        keys.TEST_ACC1: _interval(result.test_acc1),
        NC_STEPS: _interval(result.nc_steps),
        "winners_curse": {
            "search_best_trial": result.search_best_trial,
            "search_best_value": result.search_best_value,
            "gap": result.winners_curse,
            "meaning": f"search-best trial's {confirmed.metric} minus its config's confirmed mean",
        },
        "configs_confirmed": [c.trial_id for c in result.configs],
    }


def pareto_rows(rows: list[TrialRow], family: str) -> list[TrialRow]:
    candidates = [
        (r, r.acc1, r.nc_steps)
        for r in rows
        if r.family == family
        and r.complete
        and r.feasible
        and r.acc1 is not None
        and r.nc_steps is not None
    ]
    front = pareto_front([(acc1, steps) for _, acc1, steps in candidates])
    return [r for r, _, _ in sorted((candidates[i] for i in front), key=lambda c: -c[1])]


def export_best(
    uri: str,
    sweep: str,
    rows: list[TrialRow],
    out: str | Path,
    seed: int,
    pareto: bool = False,
    objective: str | Objective = "accuracy",
    confirmed: ConfirmedResults | None = None,
) -> list[Path]:
    """Write one YAML per family, its best trial by ``objective``, or its confirmed winner
    when the family has confirmation runs (and Pareto fronts); returns the files written.

    ``confirmed``: the sweep's :func:`confirmation.confirmed_results`, read when None."""
    goal = as_objective(objective)
    if confirmed is None:
        confirmed = confirmed_results(uri, sweep, goal)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    chosen = best_per_family(rows, goal)
    by_run = {r.run_id: r for r in rows}
    winners = set()
    for family, result in confirmed.families.items():
        run_id = result.winner.search_run_id
        winner = by_run.get(run_id) or row_from_run(
            open_store(uri).get_run(run_id), confirmed.nc_metric
        )
        if winner.feasible:
            chosen[family] = winner
            winners.add(family)
    for family in sorted({r.family for r in rows if r.complete} - set(chosen)):
        broken = sorted(
            {k for r in rows if r.family == family for k, v in r.violations.items() if v > 0}
        )
        _log.warning(
            "family %s: no feasible trial to export (every complete trial breaks %s)",
            family,
            ", ".join(broken) or "a constraint",
        )
    for family, row in sorted(chosen.items()):
        document = trial_spec(uri, row.run_id)
        document["provenance"] = _provenance(uri, sweep, row, seed, goal)
        if document.get("hyperparameter_schedule"):  # a population-based trial's lineage
            document["provenance"]["schedule"] = (
                "hyper-parameters change at the steps of hyperparameter_schedule (the "
                "trial's PBT/PB2 mutations, pbt/mutations.json of its run); ncsweep train "
                "--config replays them"
            )
        if family in winners:
            document["provenance"]["confirmation"] = _confirmation(
                confirmed.families[family], confirmed
            )
        path = out / f"{family}.yaml"
        path.write_text(yaml.safe_dump(redact(document), sort_keys=False))
        written.append(path)
        if pareto:
            front = [
                {
                    "provenance": _provenance(uri, sweep, r, seed, goal),
                    "spec": trial_spec(uri, r.run_id),
                }
                for r in pareto_rows(rows, family)
            ]
            path = out / f"{family}_pareto.yaml"
            path.write_text(
                yaml.safe_dump(
                    redact(
                        {
                            "family": family,
                            "objectives": [f"maximise {ACCURACY}", f"minimise {NC_STEPS}"],
                            "front": front,
                        }
                    ),
                    sort_keys=False,
                )
            )
            written.append(path)
    return written
