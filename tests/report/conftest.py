"""Fixtures of the report tests: one tiny real sweep for the whole session, and the browser."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from report_browser import CHROMIUM
from report_tiny_sweep import run_tiny_sweep


@pytest.fixture(scope="session")
def tiny_sweep(ray_session):
    """The tiny sweep (2 families incl. ce, 2 trials, 1 epoch), run once; what reached the
    terminal (Python's stdout/stderr during the sweep) is kept as ``terminal``.

    Its folder is its own temp dir, not pytest's: concurrent pytest sessions of the same user
    prune each other's old base temp dirs.
    """
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")
    root = Path(tempfile.mkdtemp(prefix="ncsweep-tiny-sweep-"))
    terminal = io.StringIO()
    try:
        with contextlib.redirect_stdout(terminal), contextlib.redirect_stderr(terminal):
            sweep = run_tiny_sweep(root / "sweep")
        sweep.terminal = terminal.getvalue()
        yield sweep
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium (``make test`` installs it through tests/system_deps.sh)."""
    if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: run tests/system_deps.sh (make test does)")
    return CHROMIUM
