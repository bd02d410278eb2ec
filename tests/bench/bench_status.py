"""Benchmark: read commands from command to exit on a 600-trial sweep (issue 23).

Usage: ``python tests/bench/bench_status.py [--trials 600] [--repeats 5] [--before DIR]``
(not collected by pytest). Writes a finished sweep's records without training
(``tests/cli/read_sweep.py``: parent + child runs with the real tags, params and metric
histories in a ``sqlite:///`` store, ``spec.yaml`` per finished child, the saved sweep
state), then times ``ncsweep sweep --status NAME``, ``ncsweep export NAME`` and
``ncsweep report NAME`` as subprocesses (wall time, ``--repeats`` each): median, min, max.
``--before DIR``: also time the package at ``DIR/platform`` (e.g. ``git archive main``
unpacked there) and print after/before ratios. Target: ``--status`` under 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "cli"))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from cli_timing import time_cli  # noqa: E402
from read_sweep import write_sweep  # noqa: E402

NAME = "bench600"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", type=Path, help="a checkout whose platform/ to compare")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        storage, uri = write_sweep(root, NAME, args.trials)
        print(f"wrote {args.trials} trials in {time.perf_counter() - start:.1f} s")
        commands = {
            "status": ["sweep", "--status", NAME, "--storage", storage],
            "export": ["export", NAME, "--storage", storage, "--out", str(root / "best")],
            "report": [
                "report",
                NAME,
                "--storage",
                storage,
                "--out",
                str(root / "r.html"),
                "--dashboards",
                str(REPO / "dashboards"),
            ],
        }
        codes = {"after": REPO / "platform"}
        if args.before:
            codes["before"] = args.before / "platform"
        medians: dict[tuple[str, str], float] = {}
        for verb, argv in commands.items():
            for label, platform in codes.items():
                times = time_cli(argv, platform, uri, root, args.repeats)
                median = statistics.median(times)
                medians[verb, label] = median
                print(
                    f"{verb:7s} {label:6s} median {median:6.2f} s  min {min(times):6.2f}  "
                    f"max {max(times):6.2f}  (n={len(times)})",
                    flush=True,
                )
            if args.before:
                ratio = medians[verb, "before"] / medians[verb, "after"]
                print(f"{verb:7s} before/after {ratio:.1f}x")
        verdict = "meets" if medians["status", "after"] < 2.0 else "MISSES"
        print(f"status median {medians['status', 'after']:.2f} s: {verdict} the 2 s target")


if __name__ == "__main__":
    main()
