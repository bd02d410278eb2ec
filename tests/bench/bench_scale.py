"""Scale benchmark: a simulated sweep (``--simulate``) with 64 trials at once on local Ray.

Usage: ``python tests/bench/bench_scale.py [--trials 1000|5000] [--concurrent 64]
[--step-s 0.3] [--server postgres|sqlite] [--repeats 1] [--out bench_results/scale.json]`` (not collected by pytest;
``make bench`` runs the default, 1,000 trials). The sweep is the real driver path
(``runtime/simulated.py``): one family (ce) of the digits preset, TPE + ASHA, an MLflow
server on 127.0.0.1 (``--server postgres``: the cluster's, PostgreSQL via ``pgserver``, S3
artifacts on moto, ``cluster/mlflow/serve.sh``; ``sqlite``: one worker on a SQLite file, as
``tests/services.py`` starts it), Ray started with
``num_cpus=--concurrent`` whatever the machine has. The driver is its own process
(``--driver``), so its memory is its own.

Measured: the driver's RSS every 2 s; over each successive 500 trials (``--bin``), from the
MLflow child runs' start and end times, the rate at which trials start, their mean length,
how many ran at once and how soon a freed slot got its next trial (:func:`driver_bins`); Optuna's ``suggest`` time
and Tune's experiment-state save time (``TuneController.checkpoint``), each call timed in the
driver; the Optuna journal's and Tune's experiment state's sizes at the end; and
``ncsweep sweep --status``, ``ncsweep report`` and ``ncsweep export`` from command to exit
(``--repeats`` each): as after the sweep (its run snapshot, ``sweep/records.py``) and, for
``--status`` and ``report``, without any snapshot (one search of every run); ``--status``
also while the sweep runs, every ``--status-every`` seconds (the driver's live snapshot
and what changed since), with the trials started by then; and the seconds from the last
trial's end to the driver's exit. Targets (issue 25): the last 500 trials start at least 80 % as fast
as the first 500; driver RSS under 3 GB at 5,000 trials; ``report`` under 60 s and
``--status`` under 5 s at 5,000 trials. Printed as a table and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
for _key, _value in {
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(_key, _value)

from cli_timing import time_cli  # noqa: E402

NAME = "scale"


def driver(args: argparse.Namespace) -> None:
    """The sweep's driver (a process of its own): Ray with ``--concurrent`` CPUs, the sweep,
    per-call timings of Optuna's suggest and Tune's state saves written to ``--timings``."""
    import ray
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.search.optuna import OptunaSearch
    from rich.console import Console

    from ncsweep._environment import QUIET_ENV
    from ncsweep.plan.sweep_config import SweepConfig
    from ncsweep.runtime.cluster import connect_kwargs
    from ncsweep.runtime.trainer import RAY_RUN_ENV
    from ncsweep.sweep import run_sweep

    timings: dict[str, list[float]] = {"suggest": [], "state_save": []}

    def timed(owner, name: str, key: str) -> None:
        original = getattr(owner, name)

        def wrapper(*a, **kw):
            start = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                timings[key].append(time.perf_counter() - start)

        setattr(owner, name, wrapper)

    timed(OptunaSearch, "suggest", "suggest")
    timed(TuneController, "checkpoint", "state_save")
    ray.init(num_cpus=args.concurrent, **connect_kwargs(None, {**RAY_RUN_ENV, **QUIET_ENV}))
    cfg = SweepConfig(
        name=NAME,
        preset="digits",
        families=["ce"],
        trials=args.trials,
        max_concurrent=args.concurrent,
        simulate=args.step_s,
        storage=args.storage,
        tracking_uri=args.uri,
    )
    try:
        with open(args.log, "w") as log:
            run_sweep(cfg, Console(file=log, width=120), out_dir=args.exports)
    finally:  # an interrupted sweep's timings too
        Path(args.timings).write_text(json.dumps(timings))


def _sample_rss(pid: int, samples: list[tuple[float, float]], done: threading.Event) -> None:
    import psutil

    start = time.monotonic()
    process = psutil.Process(pid)
    while not done.wait(2.0):
        try:
            samples.append((time.monotonic() - start, process.memory_info().rss / 2**30))
        except psutil.Error:
            return


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "max": ordered[-1],
        "total": sum(values),
    }


def _status_while_running(
    argv: list[str], uri: str, cwd: Path, every_s: float, done: threading.Event, out: list
) -> None:
    """Time ``ncsweep sweep --status`` every ``every_s`` until ``done``: (epoch s, seconds)."""
    while not done.wait(every_s):
        started = time.time()
        try:
            seconds = time_cli(argv, REPO / "platform", uri, cwd, 1)[0]
        except SystemExit as err:  # e.g. asked before the driver opened its parent run
            print(f"--status while running: {err}", file=sys.stderr)
            continue
        out.append((started, seconds))


def _last_over_first(bins: list[dict[str, float]], key: str) -> float | None:
    return bins[-1][key] / bins[0][key] if len(bins) > 1 and bins[0][key] else None


def _files(root: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in root.rglob(pattern) if p.is_file())


def driver_bins(
    spans: list[tuple[float, float | None]], bin_size: int, concurrent: int
) -> list[dict[str, float]]:
    """Per successive ``bin_size`` trials by start time, from each trial's (start, end)
    (epoch s; end None: still running): ``start_rate`` (trials/s), ``mean_trial_s``, ``at_once``
    (trials running, averaged over the bin's time) and ``refill_s`` (median seconds from a
    trial's end to the start that took its place: with ``concurrent`` at once, the k-th
    start follows the (k - concurrent)-th end). The start rate is at_once / trial length
    (Little's law): it falls when the search keeps trials longer (ASHA stopping fewer), with
    the driver as quick as before; ``at_once`` and ``refill_s`` are the driver's share."""
    starts = sorted(start for start, _ in spans)
    last = max((end or start for start, end in spans), default=0.0)
    ends = sorted(end for _, end in spans if end is not None)
    bins = []
    for first in range(0, len(starts) - 1, bin_size):
        chunk = starts[first : first + bin_size + 1]  # the next bin's first start closes this one
        if len(chunk) <= bin_size // 2:
            continue
        low, high = chunk[0], chunk[-1]
        window = max(high - low, 1e-9)
        running = sum(max(0.0, min(end or last, high) - max(start, low)) for start, end in spans)
        mine = [(start, end) for start, end in spans if low <= start < high and end is not None]
        refills = [
            starts[k] - ends[k - concurrent]
            for k in range(max(first, concurrent), first + len(chunk) - 1)
            if k - concurrent < len(ends)
        ]
        bins.append(
            {
                "start_rate": (len(chunk) - 1) / window,
                "mean_trial_s": statistics.mean(e - s for s, e in mine) if mine else 0.0,
                "at_once": running / window,
                "refill_s": statistics.median(refills) if refills else 0.0,
            }
        )
    return bins


def sweep_runs(uri: str) -> list:
    """The sweep's child runs, as MLflow has them."""
    from ncsweep.sweep.leaderboard import find_parent
    from ncsweep.tracking import PARENT_TAG, open_store

    experiment_id, parent = find_parent(uri, NAME)
    return open_store(uri).search_runs(experiment_id, {PARENT_TAG: parent}, max_results=50_000)


def start_tracking(kind: str, root: Path) -> tuple[list[subprocess.Popen], str]:
    """The tracking server the sweep logs to (``--server``): its processes and URI."""
    from services import start_mlflow_server, start_moto_server

    if kind == "sqlite":
        (root / "mlflow").mkdir(exist_ok=True)
        server, uri = start_mlflow_server(root / "mlflow")
        return [server], uri
    from bench_mlflow_load import start_mlflow, start_postgres

    started = start_postgres(Path(tempfile.mkdtemp(prefix="ncscalepg", dir="/tmp")))
    if isinstance(started, str):
        raise SystemExit(f"PostgreSQL could not be started ({started}); try --server sqlite")
    postgres, pg_uri = started
    moto, s3_port = start_moto_server(root)
    server, uri = start_mlflow(root, pg_uri, s3_port)
    return [server, moto, postgres], uri


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--concurrent", type=int, default=64)
    # long enough that 64 trials do run at once: trials at 0.12 s a step ended faster than
    # this 2-core machine started new ones (about 31 at once)
    parser.add_argument("--step-s", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--status-every", type=float, default=300.0, help="time --status while it runs (s)"
    )
    parser.add_argument("--bin", type=int, default=500, help="trials per rate bin")
    parser.add_argument("--out", type=Path, default=REPO / "bench_results" / "scale.json")
    parser.add_argument("--keep", type=Path, help="keep the sweep's files in this folder")
    parser.add_argument(
        "--server",
        choices=("postgres", "sqlite"),
        default="postgres",
        help="postgres: what cluster/ runs (PostgreSQL, S3 artifacts, cluster/mlflow/serve.sh); "
        "sqlite: the tests' one-worker SQLite server (at 64 at once its connection pool "
        "runs out: requests fail and trials are retried)",
    )
    for hidden in ("--driver", "--storage", "--uri", "--log", "--exports", "--timings"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        driver(args)
        return
    from services import stop

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        servers, uri = start_tracking(args.server, root)
        storage = root / "ray"
        paths = {k: str(root / f"{k}.out") for k in ("log", "timings")}
        try:
            command = [
                sys.executable,
                __file__,
                "--driver=1",
                f"--trials={args.trials}",
                f"--concurrent={args.concurrent}",
                f"--step-s={args.step_s}",
                f"--storage={storage}",
                f"--uri={uri}",
                f"--exports={root / 'best'}",
                *(f"--{k}={v}" for k, v in paths.items()),
            ]
            env = {**os.environ, "PYTHONPATH": str(REPO / "platform")}
            samples: list[tuple[float, float]] = []
            done = threading.Event()
            start = time.perf_counter()
            process = subprocess.Popen(command, env=env, cwd=root)
            sampler = threading.Thread(target=_sample_rss, args=(process.pid, samples, done))
            sampler.start()
            running: list[tuple[float, float]] = []
            status_argv = ["sweep", "--status", NAME, "--storage", str(storage)]
            asker = threading.Thread(
                target=_status_while_running,
                args=(status_argv, uri, root, args.status_every, done, running),
            )
            asker.start()
            code = process.wait()
            exited = time.time()
            wall = time.perf_counter() - start
            done.set()
            sampler.join()
            asker.join()
            if code != 0:
                raise SystemExit(f"the driver failed ({code}); its log: {paths['log']}")
            timings = json.loads(Path(paths["timings"]).read_text())
            runs = sweep_runs(uri)
            spans = [(r.start_ms / 1000, r.end_ms / 1000 if r.end_ms else None) for r in runs]
            bins = driver_bins(spans, args.bin, args.concurrent)
            starts = [start for start, _ in spans]
            last_end = max((end or 0.0 for _, end in spans), default=0.0)
            statuses: dict[str, int] = {}
            for run in runs:
                statuses[run.status] = statuses.get(run.status, 0) + 1
            while_running = [
                {"trials_started": sum(t <= at for t in starts), "seconds": seconds}
                for at, seconds in running
            ]
            elsewhere = ["--storage", str(root / "no-snapshot-here")]
            waits = {
                "status": time_cli(
                    ["sweep", "--status", NAME, "--storage", str(storage)],
                    REPO / "platform",
                    uri,
                    root,
                    args.repeats,
                ),
                # as while the sweep runs: no snapshot, one search of every run
                "status_from_mlflow": time_cli(
                    ["sweep", "--status", NAME, *elsewhere, "--tracking-uri", uri],
                    REPO / "platform",
                    uri,
                    root,
                    args.repeats,
                ),
                "export": time_cli(
                    ["export", NAME, "--storage", str(storage), "--out", str(root / "exp")],
                    REPO / "platform",
                    uri,
                    root,
                    args.repeats,
                ),
                "report": time_cli(
                    [
                        "report",
                        NAME,
                        "--storage",
                        str(storage),
                        "--out",
                        str(root / "r.html"),
                        "--dashboards",
                        str(REPO / "dashboards"),
                    ],
                    REPO / "platform",
                    uri,
                    root,
                    args.repeats,
                ),
                "report_from_mlflow": time_cli(
                    ["report", NAME, *elsewhere, "--out", str(root / "r2.html")]
                    + ["--dashboards", str(REPO / "dashboards")],
                    REPO / "platform",
                    uri,
                    root,
                    args.repeats,
                ),
            }
        finally:
            for server in servers:
                stop(server)
        rss = [gb for _, gb in samples]
        result = {
            "trials": args.trials,
            "concurrent": args.concurrent,
            "step_s": args.step_s,
            "wall_s": wall,
            # the driver's end of sweep (verdicts, leaderboard, exports, pruning, snapshot)
            "after_last_trial_s": exited - last_end,
            "runs": len(runs),
            "statuses": statuses,
            "by_bin": bins,
            "last_over_first": _last_over_first(bins, "start_rate"),
            "at_once_last_over_first": _last_over_first(bins, "at_once"),
            "driver_rss_gb": {
                "first": rss[:1],
                "max": max(rss, default=0),
                "samples": samples[::15],
            },
            "suggest_s": _spread(timings["suggest"]),
            "state_save_s": _spread(timings["state_save"]),
            "journal_bytes": _files(storage, "*journal*"),
            "tune_state_bytes": _files(storage, "experiment_state*.json"),
            "user_wait_s": {k: _spread(v) for k, v in waits.items()},
            "status_while_running": while_running,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(
        f"{args.trials} simulated trials, {args.concurrent} at once: {wall:.0f} s; runs {statuses}"
    )
    for key, label in (
        ("start_rate", "trials/s"),
        ("mean_trial_s", "mean trial s"),
        ("at_once", "at once"),
        ("refill_s", "refill s (median)"),
    ):
        print(f"{label} by {args.bin}:", " ".join(f"{b[key]:.2f}" for b in bins))
    print(f"driver exit {result['after_last_trial_s']:.0f} s after the last trial ended")
    if result["last_over_first"] is not None:
        ratio = result["last_over_first"]
        print(
            f"last/first {args.bin}: {ratio:.2f} ({'meets' if ratio >= 0.8 else 'MISSES'} >= 0.8)"
        )
    if result["at_once_last_over_first"] is not None:
        print(f"at once, last/first {args.bin}: {result['at_once_last_over_first']:.2f}")
    print(f"driver RSS: max {result['driver_rss_gb']['max']:.2f} GB (target < 3 GB at 5,000)")
    for key in ("suggest_s", "state_save_s"):
        s = result[key]
        if s:
            print(
                f"{key}: n={s['n']} median {s['median'] * 1e3:.1f} ms p99 {s['p99'] * 1e3:.1f} ms total {s['total']:.1f} s"
            )
    print(
        f"journal {result['journal_bytes'] / 1e6:.2f} MB, Tune state {result['tune_state_bytes'] / 1e6:.2f} MB"
    )
    for verb, s in result["user_wait_s"].items():
        print(f"{verb}: median {s['median']:.2f} s max {s['max']:.2f} s (n={s['n']})")
    for asked in while_running:
        print(f"--status while running, {asked['trials_started']} trials: {asked['seconds']:.2f} s")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
