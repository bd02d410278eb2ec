"""The last lines of ``ncsweep sweep``: a report that could not be written is said there,
with why and the command that writes it, and the sweep still exits 0 (its results are
saved). In-process, on the outcome ``run_sweep`` returns (no Ray)."""

from __future__ import annotations

import pytest
import typer

from ncsweep.cli.sweep import _finish, _report_command
from ncsweep.sweep import SweepConfig
from ncsweep.sweep.runner import SweepOutcome


def _config(tmp_path, uri: str) -> SweepConfig:
    return SweepConfig(name="s", families=["ce"], storage=str(tmp_path / "ray"), tracking_uri=uri)


@pytest.fixture(scope="module")
def uri(tmp_path_factory) -> str:
    """One MLflow store for the module (the UI hint reads it; creating one costs seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


def _last_lines(tmp_path, capsys, uri, report, exported=True) -> list[str]:
    config = _config(tmp_path, uri)
    best = [tmp_path / "best" / "ce.yaml"] if exported else []
    _finish(SweepOutcome("s", "parent", [], best), config, tmp_path / "best", report)
    return capsys.readouterr().out.splitlines()


def test_a_report_not_written_is_the_last_line_with_why_and_the_retry(tmp_path, capsys, uri):
    why = "MissingShippedFiles: the dashboards that ship with ncsweep are missing"
    lines = _last_lines(tmp_path, capsys, uri, why)  # returns: exit 0
    last = " ".join(" ".join(lines[-2:]).split())
    assert last.startswith(f"Report NOT written: {why}")
    assert "results are saved" in last
    assert last.endswith(f"ncsweep report s --tracking-uri {uri}")


def test_the_retry_command_leaves_credentials_out(tmp_path):
    config = _config(tmp_path, "http://u:secret@mlflow.example:5000/")
    assert _report_command(config) == (
        "ncsweep report s --tracking-uri <the tracking URI with its credentials>"
    )


def test_a_written_report_adds_no_line(tmp_path, capsys, uri):
    lines = _last_lines(tmp_path, capsys, uri, tmp_path / "reports" / "s.html")
    assert not any("NOT written" in line for line in lines)
    assert lines[-1].startswith("Compare trials in the MLflow UI")


def test_no_trial_finished_still_exits_1_and_says_the_report_failed(tmp_path, capsys, uri):
    with pytest.raises(typer.Exit) as done:
        _last_lines(tmp_path, capsys, uri, "SpecError: x", exported=False)
    assert done.value.exit_code == 1
    assert "Report NOT written: SpecError: x" in capsys.readouterr().out
