"""The command as installed tools and logs meet it: ``python -m ncsweep``, shell completion,
defaults from the environment, and piped output that keeps each message on one line."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys

import pytest
import yaml

# most tests run ``python -m ncsweep sweep|train``, which imports torch (sweep: Ray and
# MLflow too) before it checks its input: seconds of CPU per process
pytestmark = pytest.mark.slow

LONG = "a-folder-name-long-enough-that-one-line-of-it-is-wider-than-eighty-columns-" * 2


def ncsweep(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m ncsweep ARGS`` with stdout and stderr piped (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "ncsweep", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def test_python_dash_m_ncsweep_is_the_command():
    done = ncsweep("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ncsweep 0.1.0"


def test_shell_completion_is_offered():
    assert "--install-completion" in ncsweep("--help").stdout
    # --show-completion takes no value: it names the shell it runs under (the nearest shell
    # among its parent processes), so run it from bash; `; exit` keeps bash from exec'ing
    # python in its place, which would leave whatever shell started pytest (sh, under make).
    command = f"{sys.executable} -m ncsweep --show-completion; exit $?"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "COMP_WORDS" in done.stdout and "complete " in done.stdout


def test_environment_gives_the_default_storage_and_tracking_uri(tmp_path):
    storage = tmp_path / LONG
    uri = f"sqlite:///{tmp_path}/tracking.db"
    env = {"NCSWEEP_STORAGE": str(storage), "NCSWEEP_TRACKING_URI": uri}
    done = ncsweep("sweep", "--print-config", "--name", "envs", **env)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert config["storage"] == str(storage) and config["tracking_uri"] == uri
    # piped: the long path is one line, not folded at 80 columns
    assert f"storage: {storage}" in done.stdout.splitlines()

    flags = ncsweep("sweep", "--print-config", "--storage", str(tmp_path / "flag"), **env)
    assert yaml.safe_load(flags.stdout)["storage"] == str(tmp_path / "flag")


def test_a_file_store_mlflow_refuses_exits_2_before_anything_starts(tmp_path):
    store = tmp_path / "mlruns"
    for args in (
        ("train", "--tracking-uri", store.as_uri(), "--storage", str(tmp_path / "ray")),
        ("sweep", "--tracking-uri", str(store), "--name", "fs", "--storage", str(tmp_path)),
    ):
        done = ncsweep(*args, MLFLOW_ALLOW_FILE_STORE="false")
        assert done.returncode == 2, done.stderr
        assert "refuses file stores" in done.stderr and "MLFLOW_ALLOW_FILE_STORE" in done.stderr
        assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no store, no Ray storage, no sweep
    allowed = ncsweep("sweep", "--print-config", "--tracking-uri", str(store),
                      MLFLOW_ALLOW_FILE_STORE="true")  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    assert yaml.safe_load(allowed.stdout)["tracking_uri"] == store.as_uri()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again on leaving: nothing listens there


def test_a_tracking_server_that_is_not_there_exits_2_at_once(tmp_path):
    # MLflow itself would retry the refused connection for about 4 minutes per call
    uri = f"http://user:hunter2@127.0.0.1:{_closed_port()}"
    for args in (
        ("train", "--tracking-uri", uri, "--storage", str(tmp_path / "ray")),
        ("sweep", "--tracking-uri", uri, "--name", "gone", "--storage", str(tmp_path)),
    ):
        done = ncsweep(*args)
        assert done.returncode == 2, done.stderr
        assert "no MLflow server answers" in done.stderr and "Connection refused" in done.stderr
        assert "hunter2" not in done.stderr + done.stdout and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing was started


def test_a_piped_error_is_one_line_however_long():
    done = ncsweep("sweep", "--print-config", "--families", f"ce,{LONG}")
    assert done.returncode == 2
    line = next(x for x in done.stderr.splitlines() if LONG in x)
    assert len(line) > 80 and line.rstrip().endswith("ce, nonl, normface, ntce, scl"), line
    assert "Traceback" not in done.stderr


def test_the_train_summary_keeps_each_row_on_one_line_in_a_log():
    from types import SimpleNamespace

    from ncsweep.cli._app import _console
    from ncsweep.cli.summary import print_train_summary
    from ncsweep.config import load_spec
    from ncsweep.geometry.descriptors import METRICS

    console = _console()  # under pytest stdout is not a terminal, as in `ray job logs`
    assert not console.is_terminal
    console.file = out = io.StringIO()
    metrics = {"val/acc1": 0.9, f"nc/{METRICS[0].name}": 0.1}
    outcome = SimpleNamespace(
        metrics=metrics, status="FINISHED", run_id="r" * 32, checkpoint=f"/ckpt/{LONG}"
    )
    outcome.failure_reason = None
    print_train_summary(console, load_spec(None, []), outcome)
    lines = out.getvalue().splitlines()
    assert any(f"/ckpt/{LONG}" in line for line in lines)
    assert any(METRICS[0].meaning in line for line in lines)
