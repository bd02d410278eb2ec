"""Export the best configuration per loss family as files ``ncsweep train --config`` runs.

``<out>/<family>.yaml`` is the best trial by the sweep's objective (``leaderboard``), its
full spec plus a ``provenance`` section (which ``config.load_spec`` ignores): sweep, trial,
MLflow run id, the objective (name, direction, value), metric values, seed, git commit,
package versions. In Pareto mode ``<out>/<family>_pareto.yaml`` lists the non-dominated
trials (accuracy up, steps to the NC threshold down), each with its spec.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from mlflow.tracking import MlflowClient

from .. import metric_keys as keys
from ..config import read_yaml
from ..redact import redact
from ..tracking import git_commit, package_versions
from .leaderboard import TrialRow, best_per_family
from .objectives import ACCURACY, NC_STEPS, Objective, as_objective, pareto_front

__all__ = ["export_best", "trial_spec", "pareto_rows"]

_REPORTED = (*keys.VAL_HEADLINE, NC_STEPS)


def trial_spec(uri: str, run_id: str) -> dict[str, Any]:
    """The spec a run trained with (its ``spec.yaml`` artifact), ready to train again."""
    with tempfile.TemporaryDirectory() as tmp:
        path = MlflowClient(uri).download_artifacts(run_id, "spec.yaml", tmp)
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
        "seed": seed,
        "git_commit": git_commit(),
        "versions": package_versions(),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def pareto_rows(rows: list[TrialRow], family: str) -> list[TrialRow]:
    candidates = [
        (r, r.acc1, r.nc_steps)
        for r in rows
        if r.family == family and r.complete and r.acc1 is not None and r.nc_steps is not None
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
) -> list[Path]:
    """Write one YAML per family, its best trial by ``objective`` (and Pareto fronts);
    returns the files written."""
    goal = as_objective(objective)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for family, row in sorted(best_per_family(rows, goal).items()):
        document = trial_spec(uri, row.run_id)
        document["provenance"] = _provenance(uri, sweep, row, seed, goal)
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
