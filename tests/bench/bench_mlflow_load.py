"""Benchmark: the shared MLflow server under 64 trials logging at once (issue 25, item 4).

Usage: ``python tests/bench/bench_mlflow_load.py [--trials 64] [--evaluations 4]
[--epoch-s 2] [--steps 20] [--keys 90] [--repeats 2]`` (not collected by pytest).

Starts what ``cluster/`` runs, on 127.0.0.1: PostgreSQL (the ``pgserver`` wheel's binaries,
a throwaway cluster in a temp dir), moto's S3 server for artifacts, and
``cluster/mlflow/serve.sh`` (2 workers). Then ``--trials`` threads, each a simulated trial,
log through ncsweep's own tracking code as rank 0 does (``runtime/mlflow_hooks.py``): a child
run of a sweep parent (``tracking.start_run``), ``train/loss`` every step through
``MetricLogger.log(flush=None)`` (buffered, written at evaluations or when 10 s old), and at
each evaluation (every ``--epoch-s``) ``--keys`` metrics in one ``log_batch``; the run is
closed with ``finish_run``. Two modes, alternated ``--repeats`` times in the same run:

- ``batched``: the hooks' path (one ``log_batch`` per flush);
- ``per-metric``: the same points, one ``log_metric`` request each (what a logger that does
  not batch costs), for the before/after ratio.

Prints per mode: median (min-max over repeats) of the p50 and p99 of one logging call
(a flush or a ``log_metric``), the server's CPU seconds (psutil: serve.sh's process tree),
wall time, and whether every metric point arrived exactly once (rows counted in
PostgreSQL's ``metrics`` table against the points logged). Skips with a reason when
PostgreSQL cannot be started.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from ncsweep._environment import QUIET_ENV  # noqa: E402
from ncsweep.tracking import (  # noqa: E402
    TAG_KIND,
    TAG_SWEEP,
    MetricLogger,
    ensure_experiment,
    finish_run,
    open_store,
    start_run,
)
from services import free_port, start_moto_server, stop, wait_until_answering  # noqa: E402

os.environ.update(QUIET_ENV)  # no "View run" line per finished run


def start_postgres(root: Path) -> tuple[subprocess.Popen, str] | str:
    """A throwaway PostgreSQL on 127.0.0.1 (as ``nobody`` when root: initdb refuses root);
    (process, URI), or why not."""
    try:
        import pgserver
    except ImportError:
        return "pgserver is not installed (pip install pgserver)"
    bin_dir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    user = None
    if os.geteuid() == 0:
        import pwd

        user = "nobody"
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data = root / "data"
    init = subprocess.run(
        [bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "utf8"],
        capture_output=True,
        text=True,
        user=user,
        cwd=root,
    )
    if init.returncode != 0:
        return f"initdb failed: {init.stderr[-500:]}"
    port = free_port()
    process = subprocess.Popen(
        [bin_dir / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(port), "-k", root],
        stdout=open(root / "postgres.log", "w"),
        stderr=subprocess.STDOUT,
        user=user,
        cwd=root,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while subprocess.run(
        [bin_dir / "pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True
    ).returncode:
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            return f"postgres did not start: {(root / 'postgres.log').read_text()[-500:]}"
        time.sleep(0.5)
    return process, f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"


def start_mlflow(root: Path, pg_uri: str, s3_port: int) -> tuple[subprocess.Popen, str]:
    import boto3

    endpoint = f"http://127.0.0.1:{s3_port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
        MLFLOW_S3_ENDPOINT_URL=endpoint,
    )
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
    port = free_port()
    env = dict(
        os.environ,
        MLFLOW_BACKEND_STORE_URI=pg_uri,
        MLFLOW_ARTIFACTS_DESTINATION="s3://bench/mlflow",
        MLFLOW_AUTH="none",
        MLFLOW_PORT=str(port),
        MLFLOW_WORKERS="2",
        MLFLOW=str(Path(sys.executable).parent / "mlflow"),
    )
    log = root / "mlflow.log"
    process = subprocess.Popen(
        [REPO / "cluster" / "mlflow" / "serve.sh"],
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    wait_until_answering(process, f"{uri}/health", log, 300)
    return process, uri


def server_cpu_s(pid: int) -> float:
    """CPU seconds of the server's process tree (its workers included)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


class TimedStore:
    """Wraps a tracking store: every write call's latency is recorded (seconds)."""

    def __init__(self, store, latencies: list[float]):
        self._store, self._latencies = store, latencies

    def __getattr__(self, name):
        return getattr(self._store, name)

    def log_batch(self, *args, **kwargs):
        start = time.perf_counter()
        self._store.log_batch(*args, **kwargs)
        self._latencies.append(time.perf_counter() - start)


def trial(uri, experiment, parent, index, mode, args, latencies, counts) -> None:
    """One simulated trial: the hooks' cadence and metric set, through ncsweep's logging."""
    run = start_run(uri, experiment, f"t{index}", {TAG_KIND: "train"}, parent_run_id=parent)
    keys = [f"val/m{k:02d}" for k in range(args.keys)]
    logged = 0
    if mode == "batched":
        logger = MetricLogger(uri, run)
        logger.store = TimedStore(logger.store, latencies)
    else:
        client = open_store(uri).client  # MlflowStore's MlflowClient: one request per point
    step_s = args.epoch_s / args.steps
    for evaluation in range(args.evaluations):
        for s in range(args.steps):
            step = evaluation * args.steps + s + 1
            time.sleep(step_s)
            if mode == "batched":
                logger.log({"train/loss": 1.0 / step}, step=step, flush=None)
            else:
                start = time.perf_counter()
                client.log_metric(run, "train/loss", 1.0 / step, step=step)
                latencies.append(time.perf_counter() - start)
            logged += 1
        metrics = {key: 0.5 + 0.001 * evaluation for key in keys}
        if mode == "batched":
            logger.log(metrics, step=step)
        else:
            for key, value in metrics.items():
                start = time.perf_counter()
                client.log_metric(run, key, value, step=step)
                latencies.append(time.perf_counter() - start)
        logged += len(metrics)
    if mode == "batched":
        logger.flush()
    finish_run(uri, run)
    counts[run] = logged


def rows_per_run(pg_uri: str, run_ids) -> dict[str, int]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_uri)
    query = sqlalchemy.text(
        "select run_uuid, count(*) from metrics where run_uuid = any(:ids) group by run_uuid"
    )
    with engine.connect() as conn:
        found = dict(conn.execute(query, {"ids": list(run_ids)}).all())
    engine.dispose()
    return found


def one_round(uri, pg_uri, server_pid, mode, args) -> dict:
    name = f"load-{mode}-{uuid.uuid4().hex[:6]}"
    experiment = ensure_experiment(uri, name)
    tags = {TAG_SWEEP: name, TAG_KIND: "sweep"}
    parent = start_run(uri, experiment, name, tags, reattach=tags)
    latencies: list[float] = []
    counts: dict[str, int] = {}
    errors: list[BaseException] = []

    def body(i):
        try:
            trial(uri, experiment, parent, i, mode, args, latencies, counts)
        except BaseException as err:  # reported below: a lost trial is a lost metric set
            errors.append(err)

    cpu0, t0 = server_cpu_s(server_pid), time.perf_counter()
    threads = [threading.Thread(target=body, args=(i,)) for i in range(args.trials)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - t0, server_cpu_s(server_pid) - cpu0
    finish_run(uri, parent)
    rows = rows_per_run(pg_uri, counts)
    exact = (
        not errors
        and len(counts) == args.trials
        and all(rows.get(r) == n for r, n in counts.items())
    )
    ordered = sorted(latencies)
    return {
        "p50_ms": 1000 * ordered[len(ordered) // 2] if ordered else float("nan"),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        if ordered
        else float("nan"),
        "calls": len(ordered),
        "points": sum(counts.values()),
        "rows": sum(rows.values()),
        "exact": exact,
        "errors": [repr(e)[:200] for e in errors[:3]],
        "server_cpu_s": cpu,
        "wall_s": wall,
    }


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--evaluations", type=int, default=4)
    parser.add_argument("--epoch-s", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--keys", type=int, default=90)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--modes", default="batched,per-metric")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="ncload", dir="/tmp"))
    pg_root = root
    processes: list[subprocess.Popen] = []
    try:
        pg_root = Path(tempfile.mkdtemp(prefix="ncloadpg", dir="/tmp"))  # chowned to nobody
        started = start_postgres(pg_root)
        if isinstance(started, str):
            print(f"SKIPPED: PostgreSQL could not be started: {started}")
            return
        pg, pg_uri = started
        processes.append(pg)
        moto, s3_port = start_moto_server(root)
        processes.append(moto)
        server, uri = start_mlflow(root, pg_uri, s3_port)
        processes.append(server)
        results: dict[str, list[dict]] = {m: [] for m in args.modes.split(",")}
        for _ in range(args.repeats):
            for mode in results:
                results[mode].append(one_round(uri, pg_uri, server.pid, mode, args))
        print(
            f"{args.trials} concurrent trials, {args.evaluations} evaluations of {args.keys} "
            f"metrics + train/loss every step ({args.steps} steps per {args.epoch_s} s), "
            f"{args.repeats} repeats; median (min-max)"
        )
        for mode, rounds in results.items():
            print(f"== {mode}")
            for key in ("p50_ms", "p99_ms", "server_cpu_s", "wall_s"):
                print(f"  {key:13s} {summary([r[key] for r in rounds])}")
            print(f"  calls/round   {rounds[0]['calls']}  points/round {rounds[0]['points']}")
            print(
                f"  every point once: {all(r['exact'] for r in rounds)} "
                f"(rows {[r['rows'] for r in rounds]}; errors {[r['errors'] for r in rounds]})"
            )
        cpu = {m: statistics.median(r["server_cpu_s"] for r in rs) for m, rs in results.items()}
        if len(cpu) < 2:
            return
        print(
            f"server CPU per-metric / batched: {cpu['per-metric'] / max(cpu['batched'], 1e-9):.1f}x"
        )
    finally:
        for process in reversed(processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                stop(process)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(pg_root, ignore_errors=True)


if __name__ == "__main__":
    main()
