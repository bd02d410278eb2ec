"""Read commands (status, export, report, ui, doctor) import neither torch nor Ray, and
``sweep --status`` not even MLflow (issue 23).

Each runs in a fresh interpreter on a finished sweep's records (``read_sweep.py``: MLflow
runs and the saved sweep state, no training), through the CLI's ``main`` with its argv;
at exit the interpreter prints which of torch and Ray it imported. ``ncsweep ui`` replaces
itself with ``mlflow server`` (``os.execvp``): the check runs where it would exec.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from read_sweep import write_sweep

PLATFORM = Path(__file__).resolve().parents[2] / "platform"
NAME = "light"

_RUNNER = """
import json, os, sys
def modules(code):
    heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'ray', 'mlflow'})
    print('\\n' + json.dumps({'heavy': heavy, 'code': code}))
def stop_at_exec(file, args):  # ncsweep ui: the server would replace this process here
    modules(0)
    os._exit(0)
os.execvp = stop_at_exec
from ncsweep.cli import main
try:
    main(sys.argv[1:])
    code = 0
except SystemExit as exit:
    code = exit.code or 0
modules(code)
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("read")
    storage, uri = write_sweep(root, NAME, n_trials=8)
    return root, storage, uri


def _run(args: list[str], cwd: Path, uri: str) -> tuple[dict, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PLATFORM), os.environ.get("PYTHONPATH", "")]),
        "NCSWEEP_TRACKING_URI": uri,
    }
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    last = json.loads(done.stdout.strip().splitlines()[-1])
    return last, done.stdout


@pytest.mark.parametrize(
    ("verb", "expected"),
    [
        (["sweep", "--status", NAME], ["Leaderboard: light", "ce", "nonl", "runs read from"]),
        (["export", NAME, "--out", "{root}/best"], ["wrote", "ce.yaml", "nonl.yaml"]),
        (["report", NAME, "--out", "{root}/report.html"], ["Report:", "report.html"]),
        (["ui", NAME], ["MLflow UI for", "#/experiments/"]),
        (["doctor"], ["mlflow", "search spaces", "--devices"]),
    ],
    ids=["status", "export", "report", "ui", "doctor"],
)
def test_read_command_imports_neither_torch_nor_ray(sweep, verb, expected):
    root, storage, uri = sweep
    args = [a.format(root=root) for a in verb]
    if verb[0] in ("sweep", "export", "report"):
        args += ["--storage", storage]
    result, out = _run(args, root, uri)
    assert result["code"] == 0, out
    for text in expected:
        assert text in out, out
    # --status reads the runs itself (tracking/fast_read.py): not even MLflow's client
    allowed = set() if verb[0] == "sweep" else {"mlflow"}
    heavy = set(result["heavy"]) - allowed
    assert not heavy, f"{' '.join(verb)} imported {sorted(heavy)}"
