"""Fixtures of the report tests: one tiny real sweep for the whole session, and the browser."""

from __future__ import annotations

import contextlib
import io
import os
import shutil

import pytest
from report_browser import CHROMIUM
from report_tiny_sweep import run_tiny_sweep


@pytest.fixture(scope="session")
def tiny_sweep(ray_session, tmp_path_factory):
    """The tiny sweep (2 families incl. ce, 2 trials, 1 epoch), run once; what reached the
    terminal (Python's stdout/stderr during the sweep) is kept as ``terminal``."""
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")
    terminal = io.StringIO()
    with contextlib.redirect_stdout(terminal), contextlib.redirect_stderr(terminal):
        sweep = run_tiny_sweep(tmp_path_factory.mktemp("tiny_sweep"))
    sweep.terminal = terminal.getvalue()
    return sweep


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium (``make test`` installs it through tests/system_deps.sh)."""
    if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: run tests/system_deps.sh (make test does)")
    return CHROMIUM
