"""Benchmark: `ncsweep report` against the number of trials, on an MLflow tracking server.

Usage: ``python tests/bench/bench_report.py [--sizes 10,100,1000] [--out FILE]``
(default ``bench_results/report.json``; not collected by pytest).

For each size N a synthetic sweep of N child runs (two families, 10 evaluations each, the
keys a real trial logs for the report; statuses finished / stopped early / failed) is written
into a fresh ``mlflow server`` (SQLite, one worker, 127.0.0.1). Then:

- ``build_s``: wall time of ``build_report`` (dashboards/ as shipped; the second build of
  the sweep, ``first_build_s`` the first, which in the first size pays the imports of
  plotly, Optuna's visualisation and MLflow's stores), ``html_mb`` the page,
  ``build_requests``: HTTP requests the build sent to the server (counted in
  ``requests.Session``);
- reading the histories of 6 curve keys for all N runs: in bulk (``tracking.mlflow_history``: one
  request per key and 100 runs) against one ``get_metric_history`` per run and key, the way
  a naive report reads them (``bulk_s``/``per_run_s``, requests of each, and the ratio).
  For N > 100 the per-run side reads the first 100 runs and is scaled by N/100 (stated in
  the JSON as ``per_run_sampled``);
- ``public_s``/``public_requests``: the same histories through ``tracking.mlflow_history``'s public
  fallback (one ``get_metric_history`` per run and key, 8 at a time), what a report does on
  an MLflow version outside ``history.CHECKED_MLFLOW``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "report"))
sys.path.insert(0, str(REPO / "tests"))

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from mlflow.tracking import MlflowClient  # noqa: E402
from report_synthetic import CURVE_KEYS, make_sweep  # noqa: E402

from ncsweep.report import build_report  # noqa: E402
from ncsweep.report.data import load_sweep  # noqa: E402
from ncsweep.tracking import mlflow_history as history  # noqa: E402
from ncsweep.tracking.mlflow_history import metric_histories  # noqa: E402
from services import start_mlflow_server  # noqa: E402

KEYS = [f"nc/{k}" for k in CURVE_KEYS] + ["val/acc1"]
_sent = {"n": 0}
_request = requests.Session.request


def _counting(self, *args, **kwargs):
    _sent["n"] += 1
    return _request(self, *args, **kwargs)


requests.Session.request = _counting


def measure(n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ncsweep-bench-report") as tmp:
        root = Path(tmp)
        process, uri = start_mlflow_server(root)
        try:
            t0 = time.perf_counter()
            make_sweep(uri, f"bench{n}", n)
            setup_s = time.perf_counter() - t0

            t0 = time.perf_counter()
            build_report(uri, f"bench{n}", out=root / "r0.html")
            first_build_s = time.perf_counter() - t0  # the first of the process: with imports
            _sent["n"] = 0
            t0 = time.perf_counter()
            report = build_report(uri, f"bench{n}", out=root / "r.html")
            build_s = time.perf_counter() - t0
            build_requests = _sent["n"]

            run_ids = [t.row.run_id for t in load_sweep(uri, f"bench{n}").trials]
            _sent["n"] = 0
            t0 = time.perf_counter()
            bulk = metric_histories(uri, run_ids, KEYS)
            bulk_s = time.perf_counter() - t0
            bulk_requests = _sent["n"]

            checked, history.bulk_reads = history.bulk_reads, lambda: False
            _sent["n"] = 0
            t0 = time.perf_counter()
            public = metric_histories(uri, run_ids, KEYS)
            public_s = time.perf_counter() - t0
            public_requests = _sent["n"]
            history.bulk_reads = checked
            assert public == bulk

            sample = run_ids[:100]
            client = MlflowClient(uri)
            _sent["n"] = 0
            t0 = time.perf_counter()
            naive = {r: {k: client.get_metric_history(r, k) for k in KEYS} for r in sample}
            per_run_s = (time.perf_counter() - t0) * len(run_ids) / len(sample)
            per_run_requests = _sent["n"] * len(run_ids) // len(sample)
            points = sum(len(v) for r in sample for v in naive[r].values())
            assert points == sum(len(bulk.get(r, {}).get(k, [])) for r in sample for k in KEYS)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return {
        "trials": n,
        "setup_s": round(setup_s, 2),
        "first_build_s": round(first_build_s, 3),
        "build_s": round(build_s, 3),
        "build_requests": build_requests,
        "html_mb": round(report.bytes / 1e6, 3),
        "plots": report.plots,
        "histories_keys": len(KEYS),
        "bulk_s": round(bulk_s, 3),
        "bulk_requests": bulk_requests,
        "public_s": round(public_s, 3),
        "public_requests": public_requests,
        "per_run_s": round(per_run_s, 3),
        "per_run_requests": per_run_requests,
        "per_run_sampled": len(run_ids) > 100,
        "per_run_over_bulk": round(per_run_s / bulk_s, 1) if bulk_s else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--out", default=str(REPO / "bench_results" / "report.json"))
    args = parser.parse_args()
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        result = measure(n)
        results.append(result)
        print(json.dumps(result), flush=True)
    first, last = results[0], results[-1]
    summary = {
        "results": results,
        "build_time_ratio_largest_over_smallest": round(last["build_s"] / first["build_s"], 2),
        "trials_ratio": last["trials"] / first["trials"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print(
        f"build time x{summary['build_time_ratio_largest_over_smallest']} for "
        f"x{summary['trials_ratio']:.0f} trials; written to {args.out}"
    )


if __name__ == "__main__":
    main()
