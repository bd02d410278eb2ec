"""The terminal during a sweep: one live view, Ray's and Tune's own output in ray.log."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys

import pytest
from rich.console import Console

from ncsweep.runtime.live import SweepView, route_ray_output
from ncsweep.tracking import experiment_runs_url, ui_base, ui_command


def test_view_counts_families_and_estimates_what_remains():
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    with SweepView(console, "demo", ["ce", "nonl"], trials=3, concurrency=2) as view:
        assert view.live
        view.trial_started("ce", "t1")
        view.trial_started("ce", "t2")
        view.trial_result("ce", "t1", {"val/acc1": 0.8, "objective/nc_steps": 40.0})
        view.trial_ended("ce", "t1", "finished", {"val/acc1": 0.9, "objective/nc_steps": 30.0})
        view.trial_result("ce", "t1", {"val/acc1": 0.9, "objective/nc_steps": 30.0})
        view.trial_ended("ce", "t2", "failed", None)
        ce, nonl = view.families["ce"], view.families["nonl"]
        assert (ce.finished, ce.failed, len(ce.running), ce.pending) == (1, 1, 0, 1)
        assert (nonl.pending, nonl.ended) == (3, 0)
        assert ce.best_acc == 0.9 and ce.best_nc == 30.0
        # 4 trials left at the mean duration of the 2 ended ones, 2 at a time
        mean = sum(ce.durations) / 2
        assert view.remaining_s() == pytest.approx(mean * 4 / 2)
    text = out.getvalue()
    assert "sweep demo" in text and "best val/acc1" in text and "0.9000" in text
    assert "ce t1 finished" in text


def test_plain_lines_without_a_terminal():
    out = io.StringIO()
    console = Console(file=out, width=200)
    with SweepView(console, "demo", ["ce"], trials=1) as view:
        assert not view.live
        view.trial_started("ce", "t1")
        view.trial_ended("ce", "t1", "stopped", {"val/acc1": 0.5})
    lines = out.getvalue().splitlines()
    assert any("ce t1 started" in line for line in lines)
    assert any("ce t1 stopped val/acc1=0.5000" in line for line in lines)
    assert lines[-1].endswith("ce 0/0/0/1/0; ~0:00:00 to go") or "ce 0/0/0/1/0" in lines[-1]
    assert "\x1b[" not in out.getvalue()


def test_one_line_per_trial_event_without_a_terminal_even_at_80_columns():
    out = io.StringIO()
    console = Console(file=out, width=80)
    trial = "t" * 90
    with SweepView(console, "demo", ["ce"], trials=1) as view:
        view.trial_started("ce", trial)
        view.trial_ended("ce", trial, "finished", {"val/acc1": 0.5})
    lines = out.getvalue().splitlines()
    assert len(lines) == 4  # the counts, two events, the counts again
    assert f"ce {trial} started" in lines[1] and lines[1].endswith("to go")
    assert f"ce {trial} finished val/acc1=0.5000" in lines[2]


def test_prints_and_ray_logs_go_to_the_file_and_the_console_stays_on_the_terminal(tmp_path):
    terminal = io.StringIO()
    log = tmp_path / "sweep" / "ray.log"
    console = Console(width=200)  # no file: it follows sys.stdout, as the CLI's does
    with contextlib.redirect_stdout(terminal), contextlib.redirect_stderr(terminal):
        with route_ray_output(log, console) as path:
            print("(RayTrainWorker pid=1) worker output")  # what Ray's log printer does
            print("raylet warning", file=sys.stderr)
            logging.getLogger("ray.tune").warning("tune says")
            console.print("the view")
        console.print("after")
    assert path == log
    text = log.read_text()
    assert "worker output" in text and "raylet warning" in text and "tune says" in text
    assert terminal.getvalue().splitlines() == ["the view", "after"]
    assert logging.getLogger("ray.tune").propagate  # restored


def test_verbose_shows_ray_output_on_the_terminal_and_keeps_it_in_the_file(tmp_path):
    terminal = io.StringIO()
    log = tmp_path / "ray.log"
    console = Console(file=terminal, width=200)
    with route_ray_output(log, console, verbose=True):
        print("(pid=7) worker output")
        console.print("the view")
    assert "worker output" in log.read_text() and "the view" not in log.read_text()
    assert terminal.getvalue().splitlines() == ["(pid=7) worker output", "the view"]


def test_links_go_to_the_runs_table_without_credentials():
    assert ui_base("http://user:pw@mlflow:5000/") == "http://mlflow:5000"
    assert (
        experiment_runs_url("http://mlflow:5000", "7") == "http://mlflow:5000/#/experiments/7/runs"
    )
    assert ui_base("sqlite:////x/mlflow.db") == "http://127.0.0.1:5000"
    assert (
        ui_command("sqlite:////x/mlflow.db", "s")
        == "ncsweep ui s --tracking-uri sqlite:////x/mlflow.db"
    )
    assert "pw" not in ui_command("http://user:pw@mlflow:5000")


@pytest.mark.timeout(1800)
def test_sweep_terminal_shows_the_view_not_ray(tiny_sweep):
    output = tiny_sweep.output
    for family in ("ce", "nonl"):
        assert output.count(f"{family} ") >= 4
    assert "ce 2/0/0/0/0, nonl 2/0/0/0/0" in output  # the last line before the leaderboard
    assert output.index("ce 2/0/0/0/0, nonl 2/0/0/0/0") < output.index("Leaderboard: tiny")
    assert output.index("Leaderboard: tiny") < output.index("Report: ")
    noise = ("Configuration for experiment", "TensorBoard", "Trial status", "pid=", "== Status ==")
    for text in noise:
        assert text not in tiny_sweep.terminal, text
        assert text not in output, text
    log = tiny_sweep.storage / tiny_sweep.name / "ray.log"
    assert log.is_file() and log.stat().st_size > 0
    assert f"Ray's output: {log}" in output


@pytest.mark.timeout(1800)
def test_the_report_a_sweep_writes_at_its_end_says_it_finished(tiny_sweep):
    html = tiny_sweep.report.read_text()
    assert re.search(r"<b>finished \d{4}-\d\d-\d\d \d\d:\d\d UTC</b>sweep", html)
    assert "running: this report" not in html
