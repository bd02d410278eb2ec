"""Benchmark: how idle the cluster is during a digits sweep of five families, one family
after another against all at once (``--parallel-families``).

Usage: ``python tests/bench/bench_cluster_idle.py [--trials T] [--epochs E] [--repeat R]
[--out bench_results/cluster_idle.json]`` (not collected by pytest; ``make bench`` runs it).

A local Ray instance of 2 CPUs; the digits preset, families ce, ntce, nonl, normface and
scl, T trials each at the platform's default concurrency (what the cluster holds: 2),
E epochs, no scheduler (every trial runs to its end, so its MLflow run's end time is when
it stopped holding its CPU). For each mode, what a user waits for: ``run_sweep`` from call
to return (spec checks, MLflow parent run, every Tuner, leaderboard, exports).

    busy CPU-seconds = sum over trial runs of (end - start) x CPUs per trial
    idle fraction    = 1 - busy CPU-seconds / (wall seconds x cluster CPUs)

The modes alternate R times (sequential first, then parallel, and so on); the table shows
each run and the median ratio of walls (this machine is shared: compare within one run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ncsweep._environment import QUIET_ENV

os.environ.update(QUIET_ENV)

import ray  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from ncsweep.sweep import SweepConfig, run_sweep  # noqa: E402
from ncsweep.sweep.leaderboard import child_runs, find_parent  # noqa: E402

FAMILIES = ["ce", "ntce", "nonl", "normface", "scl"]
CLUSTER_CPUS = 2
MODES = {"one family at a time": False, "families in parallel": True}

console = Console()


def measure(parallel: bool, trials: int, epochs: int, tmp: Path, name: str) -> dict:
    """One sweep; its wall, its trials' busy CPU-seconds and the idle fraction."""
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    cfg = SweepConfig(
        name=name,
        preset="digits",
        families=FAMILIES,
        trials=trials,
        parallel_families=parallel,
        storage=str(tmp / "ray"),
        tracking_uri=uri,
        scheduler="none",
        overrides=[f"run.epochs={epochs}"],
    )
    start = time.perf_counter()
    run_sweep(cfg, Console(quiet=True), out_dir=tmp / "best")
    wall = time.perf_counter() - start
    runs = child_runs(uri, *find_parent(uri, name))
    cpus_per_trial = cfg.workers_per_trial * cfg.cpus_per_worker
    busy = sum((r.end_ms - r.start_ms) / 1000 for r in runs) * cpus_per_trial
    return {
        "parallel_families": parallel,
        "wall_s": wall,
        "busy_cpu_s": busy,
        "idle_fraction": 1 - busy / (wall * CLUSTER_CPUS),
        "trials": len(runs),
        "finished": sum(r.status == "FINISHED" for r in runs),
    }


def table(results: list[dict]) -> Table:
    out = Table(title=f"cluster idle fraction: digits, {len(FAMILIES)} families, 2 CPUs")
    for column in ("mode", "wall s", "busy CPU-s", "idle fraction", "trials finished"):
        out.add_column(column, justify="left" if column == "mode" else "right")
    for r in results:
        mode = next(m for m, p in MODES.items() if p == r["parallel_families"])
        out.add_row(
            mode,
            f"{r['wall_s']:.1f}",
            f"{r['busy_cpu_s']:.1f}",
            f"{r['idle_fraction']:.1%}",
            f"{r['finished']}/{r['trials']}",
        )
    return out


def summary(results: list[dict]) -> dict:
    by_mode = {p: [r for r in results if r["parallel_families"] == p] for p in (False, True)}
    pairs = list(zip(by_mode[False], by_mode[True], strict=False))
    return {
        "median_idle_fraction": {
            mode: statistics.median(r["idle_fraction"] for r in by_mode[p])
            for mode, p in MODES.items()
        },
        "median_wall_ratio_sequential_over_parallel": statistics.median(
            a["wall_s"] / b["wall_s"] for a, b in pairs
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3, help="trials per family")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", default="bench_results/cluster_idle.json")
    args = parser.parse_args(argv)
    ray.init(num_cpus=CLUSTER_CPUS, log_to_driver=False, runtime_env={"env_vars": dict(QUIET_ENV)})
    root = Path(tempfile.mkdtemp(prefix="ncsweep-bench-idle-"))
    results = []
    for i in range(args.repeat):
        for mode, parallel in MODES.items():
            console.print(f"[dim]{mode}, run {i + 1} of {args.repeat}[/]")
            tmp = root / f"{i}-{'parallel' if parallel else 'sequential'}"
            tmp.mkdir()
            results.append(measure(parallel, args.trials, args.epochs, tmp, f"idle-{i}"))
    console.print(table(results))
    result = {"trials": args.trials, "epochs": args.epochs, "runs": results}
    result["summary"] = summary(results)
    console.print(json.dumps(result["summary"], indent=2))
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
