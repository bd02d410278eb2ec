"""How the benchmarks time a command the user waits for: ``ncsweep ...`` as a subprocess,
from start to exit (imported by ``bench_scale.py`` and ``bench_status.py``; not a bench)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["time_cli"]


def time_cli(argv: list[str], platform: Path, uri: str, cwd: Path, repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` runs of ``ncsweep argv`` in ``cwd`` with the package at
    ``platform`` and ``uri`` as the tracking URI; a failed run ends the benchmark."""
    env = {**os.environ, "PYTHONPATH": str(platform), "NCSWEEP_TRACKING_URI": uri}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "ncsweep.cli", *argv], cwd=cwd, env=env, capture_output=True
        )
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr.decode()[-2000:]}")
    return times
