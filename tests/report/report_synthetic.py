"""Synthetic sweeps written straight into MLflow, in the layout a real sweep leaves there.

For the report's unit tests and its benchmark: a parent run (the sweep's settings as params,
each family's search-space file as an artifact) and ``n`` child runs spread over families,
each with histories of the keys the report draws. Statuses cycle through finished, stopped
early, failed, so every branch of the report is exercised. Values are seeded. Written
through the tracking store, so ``uri`` may be MLflow or ``memory://NAME`` (fast tests).
"""

from __future__ import annotations

import random
from pathlib import Path

from ncsweep.geometry import METRIC_DIRECTIONS
from ncsweep.tracking import (
    PARENT_TAG,
    TAG_FAILURE,
    TAG_FAMILY,
    TAG_KIND,
    TAG_SWEEP,
    TAG_TRIAL,
    MetricPoint,
    ensure_experiment,
    open_store,
)

REPO = Path(__file__).resolve().parents[2]
CURVE_KEYS = ("nc1", "erank_inter", "erank_intra", "align_proto_class", "align_proto_instance")


def make_sweep(
    uri: str,
    name: str,
    n_trials: int,
    families: tuple[str, ...] = ("ce", "nonl"),
    evals: int = 10,
    steps_per_eval: int = 20,
    seed: int = 0,
    running: bool = False,
) -> str:
    """Write sweep ``name`` with ``n_trials`` children; returns the parent run id.

    ``running``: the parent and the last trial stay RUNNING (a sweep in progress).
    """
    rng = random.Random(seed)
    client = open_store(uri)
    experiment = ensure_experiment(uri, name)
    parent = client.create_run(experiment, name, {TAG_SWEEP: name, TAG_KIND: "sweep"}).run_id
    settings = {
        "name": name,
        "preset": "digits",
        "families": str(list(families)),
        "trials": n_trials // len(families),
        "workers_per_trial": 1,
        "cpus_per_worker": 1.0,
        "gpus_per_trial": 0.0,
        "objective": "pareto",
        "nc_metric": "mean",
        "scheduler": "asha",
    }
    client.log_batch(parent, params={k: str(v) for k, v in settings.items()})
    for family in families:
        client.log_text(
            parent,
            (REPO / "search_spaces" / f"{family}.yaml").read_text(),
            f"search_spaces/{family}.yaml",
        )
    total = evals * steps_per_eval
    for i in range(n_trials):
        family = families[i % len(families)]
        trial_id = f"{family}_{i:05d}"
        kind = (
            ("finished", "finished", "stopped", "failed")[i % 4]
            if i >= 2 * len(families)
            else "finished"
        )
        tags = {TAG_SWEEP: name, TAG_FAMILY: family, TAG_TRIAL: trial_id, PARENT_TAG: parent}
        run = client.create_run(experiment, trial_id, tags).run_id
        temperature = rng.uniform(0.05, 0.5)
        client.log_batch(
            run,
            params={
                "loss.name": family,
                "optim.lr": str(rng.uniform(0.05, 0.8)),
                "optim.weight_decay": str(10 ** rng.uniform(-5, -3)),
                "run.batch_size": str(rng.choice([128, 256, 512])),
                **({"loss.temperature": str(temperature)} if family != "ce" else {}),
            },
        )
        last = evals if kind != "stopped" else evals // 3
        speed = (0.4 if family == "ce" else 0.08) * rng.uniform(0.7, 1.3)
        metrics = []
        reached: dict[str, int] = {}
        for e in range(1, last + 1):
            step = e * steps_per_eval
            progress = min(1.0, step / (speed * total * 3))
            values = {"val/acc1": 0.5 + 0.45 * progress * rng.uniform(0.95, 1.0), "epoch": e}
            for key in CURVE_KEYS:
                if METRIC_DIRECTIONS[key] == "max":
                    values[f"nc/{key}"] = 1 + 8 * progress
                else:
                    values[f"nc/{key}"] = 1.0 - 0.99 * progress
                score = 100 * progress
                values[f"nc_score/{key}"] = score
                if score >= 95 and key not in reached:
                    reached[key] = step
            values.update({"step": step, "total_steps": total})
            metrics += [MetricPoint(k, float(v), 0, step) for k, v in values.items()]
        metrics += [MetricPoint(f"nc_iters/{k}", float(s), 0, s) for k, s in reached.items()]
        if family != "ce" and kind == "finished":
            metrics += [MetricPoint("eval/transfer/acc1", rng.uniform(0.3, 0.6), 0, total)]
        for j in range(0, len(metrics), 1000):
            client.log_batch(run, metrics=metrics[j : j + 1000])
        if kind == "failed":
            client.set_tag(run, TAG_FAILURE, f"non-finite loss at step {last * steps_per_eval}")
            client.end_run(run, "FAILED")
        elif kind == "stopped":
            client.set_tag(run, "ncsweep.stopped_early", "asha")
            client.end_run(run, "KILLED")
        elif running and i == n_trials - 1:
            continue
        else:
            client.end_run(run, "FINISHED")
    if not running:
        client.end_run(parent, "FINISHED")
    return parent
