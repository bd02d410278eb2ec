"""Sweep benchmark on the digits preset: per-trial overhead and search efficiency.

Usage: ``python tests/bench/bench_sweep.py [--out bench_results/sweep.json] [--trials N]
[--budget B] [--family nonl] [--seeds 0 1]``. Prints tables and writes JSON. Not collected by
pytest (``make bench`` runs it).

(a) Overhead. One family (``--overhead-family``, ce), ``--trials`` N short trials
    (``run.epochs=2``) as a sweep with ``max_concurrent=1`` and no scheduler, against N
    sequential bare training runs with the specs the sweep's trials actually ran (their
    ``spec.yaml`` artifacts): the training core in one fresh process at the Ray workers'
    niceness (``fit(TrainingCore(spec))``, one torch thread, its evaluations included; no
    Ray, no MLflow, no checkpoints), i.e. the work a trial cannot avoid. One untimed bare
    run warms caches first. The sweep's MLflow run times also split the overhead into the
    fixed part before the first trial starts and the part each trial adds. Overhead per
    trial = (sweep wall - bare wall) / N; the sweep's wall is all of ``run_sweep`` (spec
    validation, MLflow parent run, Tuner, leaderboard, exports). It is also split into the
    part inside the trials (MLflow child-run duration against bare-run duration) and the rest.

(b) Search efficiency. ``--family`` (nonl: the most parameters), a budget of B trials per
    method, both through ``run_sweep`` with the platform's default concurrency:
      * TPE+ASHA: the platform default, ``SweepConfig(scheduler="asha")``;
      * random: the same sweep with ``scheduler="none"`` and Optuna's ``RandomSampler``
        in place of the TPE sampler (same space via the same define-by-run ``suggest``,
        same Tune/Ray Train/MLflow path; only the sampler and the scheduler differ).
    Trial-steps = the sum over trials of the optimizer steps each trained (last value of its
    MLflow metric ``step``; a trial ASHA stopped counts the steps it ran). Trials are taken in
    completion order, the time of each run's last ``step`` metric (MLflow ``end_time`` of an
    ASHA-stopped run is set when the whole Tuner has finished, so it does not order them).
    The running best counts complete (full-budget) trials only, as the leaderboard and the
    exports do. Reported: trial-steps at which each method first reached the best accuracy
    found by either method in that seed minus one point (0.01), and each method's final best.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as _stdlib_platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ncsweep._environment import QUIET_ENV

os.environ.update(QUIET_ENV)

import optuna  # noqa: E402
import ray  # noqa: E402
import torch  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from ncsweep.config import apply_overrides, parse_overrides, spec_from_dict  # noqa: E402
from ncsweep.plan.presets import load_preset  # noqa: E402
from ncsweep.sweep import SweepConfig, collect_rows, run_sweep  # noqa: E402
from ncsweep.sweep.export import trial_spec  # noqa: E402
from ncsweep.sweep.leaderboard import find_parent  # noqa: E402
from ncsweep.tracking import PARENT_TAG  # noqa: E402
from ncsweep.train import RunResult, TrainingCore, fit  # noqa: E402

console = Console()
quiet = Console(quiet=True)
WITHIN = 0.01


def sqlite_uri(directory: Path) -> str:
    return f"sqlite:///{directory / 'mlflow.db'}"


def _child_runs(uri: str, sweep: str) -> list:
    experiment_id, parent = find_parent(uri, sweep)
    return MlflowClient(uri).search_runs(
        [experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent}'", max_results=10_000
    )


# -- (a) overhead -----------------------------------------------------------------------------


def bare_training(spec) -> RunResult:
    """The trial's training itself: the training core in this process with one torch thread
    (what a 1-CPU trial gets), its evaluations included; no Ray, no MLflow, no checkpoints."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fit(TrainingCore(spec))
    finally:
        torch.set_num_threads(threads)


# Ray starts its workers (and so the trial processes) at nice 15; on a loaded machine a bare
# run at nice 0 would get many times their CPU share, so the bare runs use the same nice.
RAY_WORKER_NICE = 15


def bare_subprocess(specs: list[dict], tmp: Path) -> dict:
    """``bare_training`` of each spec in one fresh process at the workers' niceness (torch
    imported once, as in a reused trial actor); the first spec is an untimed warm-up."""
    path = tmp / "bare_specs.json"
    path.write_text(json.dumps(specs))
    cmd = ["nice", "-n", str(RAY_WORKER_NICE), sys.executable, __file__, "--bare", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"bare runs failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bare_main(path: str) -> int:
    walls, status = [], []
    for data in json.loads(Path(path).read_text()):
        start = time.perf_counter()
        status.append(bare_training(spec_from_dict(data)).status)
        walls.append(time.perf_counter() - start)
    print(json.dumps({"walls": walls, "status": status}))
    return 0


def bench_overhead(family: str, n: int, epochs: int, seed: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="ncsweep-bench-overhead-"))
    uri = sqlite_uri(tmp)
    overrides = [f"run.epochs={epochs}", "eval.val_nc=false"]

    # Warm-up (untimed): page cache, dataset cache, torch's first-call costs in this process.
    preset = load_preset("digits")
    space = preset.space_for(family)
    warm = apply_overrides(
        space.spec_dict(preset.spec, space.sample(random.Random(seed))),
        parse_overrides([*overrides, "run.experiment=warmup"]),
    )
    cfg = SweepConfig(
        name="overhead",
        preset="digits",
        families=[family],
        trials=n,
        max_concurrent=1,
        seed=seed,
        storage=str(tmp / "ray"),
        tracking_uri=uri,
        scheduler="none",
        overrides=overrides,
    )
    console.print(f"[dim](a) sweep: {n} {family} trials, max_concurrent=1, no scheduler[/]")
    start = time.perf_counter()
    outcome = run_sweep(cfg, quiet, out_dir=tmp / "best")
    sweep_wall = time.perf_counter() - start

    children = sorted(_child_runs(uri, "overhead"), key=lambda r: r.info.start_time)
    trial_durations = [(r.info.end_time - r.info.start_time) / 1000 for r in children]
    parent = MlflowClient(uri).get_run(find_parent(uri, "overhead")[1]).info
    gaps = [
        (b.info.start_time - a.info.end_time) / 1000
        for a, b in zip(children, children[1:], strict=False)
    ]
    statuses = [r.info.status for r in children]

    specs = []
    for run in children:
        data = trial_spec(uri, run.info.run_id)
        data["run"]["experiment"] = "bare"
        specs.append(data)
    console.print(f"[dim](a) {len(specs)} bare runs (one process, nice {RAY_WORKER_NICE})[/]")
    bare = bare_subprocess([warm, *specs], tmp)
    bare_walls, bare_status = bare["walls"][1:], bare["status"][1:]
    bare_wall = sum(bare_walls)
    k = len(children)
    return {
        "family": family,
        "trials": k,
        "epochs": epochs,
        "sweep_wall_s": sweep_wall,
        "bare_wall_s": bare_wall,
        "sweep_per_trial_s": sweep_wall / k,
        "bare_per_trial_s": bare_wall / k,
        "overhead_per_trial_s": (sweep_wall - bare_wall) / k,
        "overhead_ratio": sweep_wall / bare_wall,
        "trial_run_durations_s": trial_durations,
        "bare_run_walls_s": bare_walls,
        "in_trial_overhead_per_trial_s": (sum(trial_durations) - bare_wall) / k,
        "outside_trials_s": sweep_wall - sum(trial_durations),
        "before_first_trial_s": (children[0].info.start_time - parent.start_time) / 1000,
        "between_trials_s": gaps,
        "after_last_trial_s": (parent.end_time - children[-1].info.end_time) / 1000,
        "steady_overhead_per_trial_s": statistics.mean(
            [d - b for d, b in zip(trial_durations, bare_walls, strict=False)]
        )
        + (statistics.mean(gaps) if gaps else 0.0),
        "trial_status": statuses,
        "bare_status": bare_status,
        "steps_per_trial": [r.data.metrics.get("step") for r in children],
        "rows": len(outcome.rows),
    }


def overhead_table(r: dict) -> Table:
    t = Table(
        title=f"(a) Per-trial overhead: {r['trials']} {r['family']} trials, "
        f"{r['epochs']} epochs, digits, 1 worker, sequential"
    )
    for column in ("", "total wall s", "per trial s"):
        t.add_column(column, justify="right" if column else "left")
    t.add_row(
        "sweep (run_sweep, Tune, max_concurrent=1)",
        f"{r['sweep_wall_s']:.1f}",
        f"{r['sweep_per_trial_s']:.1f}",
    )
    t.add_row(
        "bare training core x N (one process, nice 15)",
        f"{r['bare_wall_s']:.1f}",
        f"{r['bare_per_trial_s']:.1f}",
    )
    t.add_row(
        "[bold]overhead[/]",
        f"{r['sweep_wall_s'] - r['bare_wall_s']:.1f}",
        f"[bold]{r['overhead_per_trial_s']:.1f}[/]  (ratio {r['overhead_ratio']:.2f}x)",
    )
    t.add_row(
        "  of which inside trials (child run - bare run)",
        f"{r['in_trial_overhead_per_trial_s'] * r['trials']:.1f}",
        f"{r['in_trial_overhead_per_trial_s']:.1f}",
    )
    t.add_row(
        "  steady state: child run - bare run + gap to the next trial",
        "",
        f"{r['steady_overhead_per_trial_s']:.1f}",
    )
    t.add_row("  fixed: sweep start to the first trial", f"{r['before_first_trial_s']:.1f}", "")
    t.add_row(
        "  of which outside trials (setup, Tuner, leaderboard, export)",
        f"{r['outside_trials_s']:.1f}",
        f"{r['outside_trials_s'] / r['trials']:.1f}",
    )
    return t


# -- (b) search efficiency --------------------------------------------------------------------


@contextmanager
def random_sampler():
    """The runner builds ``optuna.samplers.TPESampler(seed=..., n_startup_trials=...)``;
    hand it a ``RandomSampler`` with the same seed instead, for the baseline only."""
    original = optuna.samplers.TPESampler

    def factory(seed=None, **_):
        return optuna.samplers.RandomSampler(seed=seed)

    optuna.samplers.TPESampler = factory
    try:
        yield
    finally:
        optuna.samplers.TPESampler = original


def settle(label: str, timeout: float = 30.0) -> dict:
    """Wait for the session's CPUs to come back after a sweep. A trial that ASHA stopped
    leaves its Ray Train worker holding its CPU (seen here: 0 of 2 CPUs free after a sweep
    with two stopped trials, and the next Tuner's trials wait forever), so if they do not
    come back Ray is restarted, which ends the leaked actors; the leak is recorded."""
    total = ray.cluster_resources().get("CPU", 0)  # leaks up to SPARE_CPUS are tolerated
    deadline = time.monotonic() + timeout
    free = ray.available_resources().get("CPU", 0)
    while free < total - SPARE_CPUS and time.monotonic() < deadline:
        time.sleep(2)
        free = ray.available_resources().get("CPU", 0)
    record = {"after": label, "cpus": total, "free_cpus": free, "restarted_ray": False}
    record["leaked_cpus"] = total - free
    if free < total - SPARE_CPUS:
        console.print(
            f"[yellow]{label}: {total - free:g} of {total:g} CPUs still held "
            f"{timeout:.0f} s after the sweep ended; restarting Ray[/]"
        )
        ray.shutdown()
        init_ray()
        record["restarted_ray"] = True
    return record


SPARE_CPUS = 0


def init_ray() -> None:
    ray.init(
        num_cpus=2 + SPARE_CPUS,
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        log_to_driver=False,
        runtime_env={"env_vars": dict(QUIET_ENV)},
    )


def _completion_curve(uri: str, sweep: str) -> list[dict]:
    client = MlflowClient(uri)
    rows = {r.run_id: r for r in collect_rows(uri, sweep)}
    trials = []
    for run in _child_runs(uri, sweep):
        history = client.get_metric_history(run.info.run_id, "step")
        done_ms = max((m.timestamp for m in history), default=run.info.end_time or 0)
        row = rows[run.info.run_id]
        trials.append(
            {
                "trial_id": row.trial_id,
                "run_id": row.run_id,
                "status": row.status,
                "complete": row.complete,
                "stopped_early": "ncsweep.stopped_early" in run.data.tags,
                "acc1": row.acc1,
                "steps": row.step or 0,
                "total_steps": row.total_steps,
                "done_ms": done_ms,
                "end_time_ms": run.info.end_time,
                "params": {
                    k: v
                    for k, v in run.data.params.items()
                    if k
                    in (
                        "loss.temperature",
                        "loss.align_weight",
                        "loss.unif_weight",
                        "loss.anchor",
                        "loss.memory",
                        "optim.lr",
                        "run.batch_size",
                    )
                },
            }
        )
    trials.sort(key=lambda t: t["done_ms"])
    cumulative, best = 0, None
    for t in trials:
        cumulative += t["steps"]
        if t["complete"] and t["acc1"] is not None and (best is None or t["acc1"] > best):
            best = t["acc1"]
        t["cum_steps"], t["running_best"] = cumulative, best
    return trials


def bench_efficiency(
    family: str, budget: int, epochs: int, grace: int, seed: int, root: Path
) -> dict:
    uri = sqlite_uri(root)
    overrides = [f"run.epochs={epochs}", "eval.val_nc=false"]
    methods = {}
    for method in ("tpe+asha", "random"):
        name = f"eff-{method.replace('+', '-')}-s{seed}"
        cfg = SweepConfig(
            name=name,
            preset="digits",
            families=[family],
            trials=budget,
            seed=seed,
            max_concurrent=2,
            storage=str(root / "ray"),
            tracking_uri=uri,
            scheduler="asha" if method == "tpe+asha" else "none",
            grace_period=grace,
            overrides=overrides,
        )
        console.print(f"[dim](b) seed {seed}: {method}, {budget} {family} trials[/]")
        start = time.perf_counter()
        if method == "random":
            with random_sampler():
                run_sweep(cfg, quiet, out_dir=root / name)
        else:
            run_sweep(cfg, quiet, out_dir=root / name)
        wall = time.perf_counter() - start
        leak = settle(name)
        curve = _completion_curve(uri, name)
        methods[method] = {
            "sweep": name,
            "wall_s": wall,
            "trials": curve,
            "trial_steps": curve[-1]["cum_steps"] if curve else 0,
            "final_best": curve[-1]["running_best"] if curve else None,
            "stopped_early": sum(t["stopped_early"] for t in curve),
            "failed": sum(t["status"] == "FAILED" for t in curve),
            "resources_after": leak,
        }
    bests = [m["final_best"] for m in methods.values() if m["final_best"] is not None]
    target = max(bests) - WITHIN if bests else None
    for m in methods.values():
        hit = next(
            (
                t
                for t in m["trials"]
                if target is not None
                and t["running_best"] is not None
                and t["running_best"] >= target - 1e-9
            ),
            None,
        )
        m["steps_to_target"] = hit["cum_steps"] if hit else None
        m["trials_to_target"] = m["trials"].index(hit) + 1 if hit else None
    return {
        "seed": seed,
        "family": family,
        "budget": budget,
        "epochs": epochs,
        "grace": grace,
        "best_either": max(bests) if bests else None,
        "target": target,
        "methods": methods,
    }


def _f(value, spec=".4f") -> str:
    return "-" if value is None else format(value, spec)


def efficiency_table(runs: list[dict]) -> Table:
    r0 = runs[0]
    t = Table(
        title=f"(b) Search efficiency: {r0['family']}, {r0['budget']} trials per method, "
        f"{r0['epochs']} epochs, ASHA grace {r0['grace']}; target = best of either "
        f"- {WITHIN}"
    )
    for column in (
        "seed",
        "method",
        "best val/acc1",
        "target",
        "trial-steps to target",
        "trials to target",
        "trial-steps total",
        "stopped/failed",
        "wall s",
    ):
        t.add_column(column, justify="left" if column == "method" else "right")
    for r in runs:
        for method, m in r["methods"].items():
            t.add_row(
                str(r["seed"]),
                method,
                _f(m["final_best"]),
                _f(r["target"]),
                _f(m["steps_to_target"], "d"),
                _f(m["trials_to_target"], "d"),
                str(m["trial_steps"]),
                f"{m['stopped_early']}/{m['failed']}",
                f"{m['wall_s']:.0f}",
            )
    return t


def curve_table(r: dict) -> Table:
    t = Table(title=f"(b) seed {r['seed']}: trials in completion order")
    for column in (
        "method",
        "#",
        "trial",
        "status",
        "steps",
        "cum steps",
        "val/acc1",
        "running best",
        "lr",
        "batch",
        "temp",
    ):
        t.add_column(column, justify="left" if column in ("method", "trial", "status") else "right")
    for method, m in r["methods"].items():
        for i, tr in enumerate(m["trials"], 1):
            status = "stopped" if tr["stopped_early"] else tr["status"].lower()
            p = tr["params"]
            t.add_row(
                method,
                str(i),
                tr["trial_id"],
                status,
                str(tr["steps"]),
                str(tr["cum_steps"]),
                _f(tr["acc1"]),
                _f(tr["running_best"]),
                _f(float(p["optim.lr"]), ".3f") if "optim.lr" in p else "-",
                p.get("run.batch_size", "-"),
                _f(float(p["loss.temperature"]), ".3f") if "loss.temperature" in p else "-",
            )
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_results/sweep.json")
    parser.add_argument("--trials", type=int, default=4, help="(a) N trials and N bare runs")
    parser.add_argument("--overhead-family", default="ce")
    parser.add_argument("--overhead-epochs", type=int, default=2)
    parser.add_argument("--family", default="nonl", help="(b) family")
    parser.add_argument("--budget", type=int, default=16, help="(b) trials per method")
    parser.add_argument("--epochs", type=int, default=8, help="(b) epochs per trial")
    parser.add_argument("--grace", type=int, default=2, help="(b) ASHA grace period (epochs)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--spare-cpus",
        type=int,
        default=0,
        help="logical CPUs beyond the 2 real ones (0: a stopped trial's CPU is "
        "now released, see runtime/trial.py)",
    )
    parser.add_argument("--skip", choices=["overhead", "efficiency"], action="append", default=[])
    parser.add_argument("--bare", help=argparse.SUPPRESS)  # the bare runs' own process
    args = parser.parse_args(argv)
    if args.bare:
        return bare_main(args.bare)
    global SPARE_CPUS
    SPARE_CPUS = args.spare_cpus

    init_ray()
    result: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": _stdlib_platform.platform(),
            "ray": ray.__version__,
            "optuna": optuna.__version__,
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    t_all = time.perf_counter()
    try:
        if "overhead" not in args.skip:
            result["overhead"] = bench_overhead(
                args.overhead_family, args.trials, args.overhead_epochs, seed=0
            )
            result["overhead"]["resources_after"] = settle("overhead")
            write(args.out, result)
            console.print(overhead_table(result["overhead"]))
        if "efficiency" not in args.skip:
            root = Path(tempfile.mkdtemp(prefix="ncsweep-bench-efficiency-"))
            runs = []
            for seed in args.seeds:
                runs.append(
                    bench_efficiency(
                        args.family,
                        args.budget,
                        args.epochs,
                        args.grace,
                        seed,
                        root / f"seed{seed}",
                    )
                )
                console.print(curve_table(runs[-1]))
                console.print(efficiency_table(runs))
                result["efficiency"] = runs
                write(args.out, result)
            if len(runs) > 1:
                for method in runs[0]["methods"]:
                    hits = [r["methods"][method]["steps_to_target"] for r in runs]
                    result.setdefault("efficiency_summary", {})[method] = {
                        "steps_to_target": hits,
                        "median_steps_to_target": statistics.median(
                            h for h in hits if h is not None
                        )
                        if any(h is not None for h in hits)
                        else None,
                    }
    finally:
        ray.shutdown()
    result["total_wall_s"] = time.perf_counter() - t_all
    write(args.out, result)
    console.print(f"total {result['total_wall_s']:.0f} s; wrote {args.out}")
    return 0


def write(out: str, result: dict) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    raise SystemExit(main())
