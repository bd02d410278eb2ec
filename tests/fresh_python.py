"""Python code run in a fresh interpreter that sees only this tree's package (no inherited
environment, so nothing imported by the test session leaks in): what import-cost tests use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["run_fresh"]

REPO = Path(__file__).resolve().parents[1]


def run_fresh(code: str) -> str:
    """``code``'s stripped stdout from ``python -c code``; a failure raises with its stderr."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO / "platform"), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return done.stdout.strip()
