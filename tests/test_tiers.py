"""The test tiers: ``make test-fast`` deselects, at collection, every test that starts Ray, an
MLflow server, an S3 server, a browser or a cluster, however it starts it (a fixture of
tests/conftest.py or of a sub-conftest, a fixture that uses one, or the test module's own
``pytestmark``), and keeps the tests that start nothing; a test that asks for such a fixture
at run time without the marker fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# node id -> (in the fast tier, the tier markers it carries), and how it gets them
KNOWN = {
    # ray_session, mlflow_server (s3_endpoint through ray_session) used by the test
    "tests/sweep/test_sweep_e2e.py::test_two_families_three_trials_pareto": (
        False,
        {"ray", "mlflow", "s3"},
    ),
    # the module's fixture `synthetic` uses mlflow_server
    "tests/report/test_report_data.py::test_a_finished_sweep_says_finished_and_when": (
        False,
        {"mlflow"},
    ),
    # a sub-conftest's tiny_sweep uses ray_session; chromium is the browser
    "tests/report/test_report_browser.py::test_report_renders_offline_every_panel_drawn": (
        False,
        {"browser", "ray", "s3"},
    ),
    # the module's pytestmark: its subprocess starts Ray itself
    "tests/cli/test_cli_local_ray.py::test_every_port_of_the_local_ray_instance_is_on_loopback": (
        False,
        {"ray"},
    ),
    # tests/cluster/conftest.py's two_node_cluster, which uses s3_endpoint
    "tests/cluster/test_doctor.py::test_doctor_fails_on_an_unreachable_server_and_hides_credentials": (
        False,
        {"cluster", "ray", "s3"},
    ),
    "tests/report/test_report_data.py::test_bulk_reads_cover_the_mlflow_versions_pyproject_allows": (
        True,
        set(),
    ),
    "tests/test_redact.py::test_redact_text_finds_every_uri_in_a_sentence": (True, set()),
}

# Collects the given tests with -m EXPRESSION; writes {node id: [selected, markers]} to OUT.
COLLECT = """
import json, sys, pytest

class Record:
    def __init__(self):
        self.tiers = {}
    def add(self, items, selected):
        for item in items:
            self.tiers[item.nodeid] = [selected, sorted({m.name for m in item.iter_markers()})]
    def pytest_deselected(self, items):
        self.add(items, False)
    def pytest_collection_finish(self, session):
        self.add(session.items, True)

out, expression, *tests = sys.argv[1:]
record = Record()
code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "-m", expression, *tests],
                   plugins=[record])
open(out, "w").write(json.dumps(record.tiers))
sys.exit(code)
"""


def fast_tier_expression() -> str:
    (line,) = re.findall(r"^FAST_TIER := (.+)$", (REPO / "Makefile").read_text(), re.M)
    return line.strip()


def tier_markers() -> set[str]:
    pytest_options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]
    declared = {m.split(":")[0] for m in pytest_options["ini_options"]["markers"]}
    return declared - {"serial"}  # where a test runs (outside xdist), not what it starts


def test_the_fast_tier_deselects_every_declared_marker():
    assert set(re.findall(r"\w+", fast_tier_expression())) - {"not", "or"} == tier_markers()


@pytest.mark.slow  # the collection imports torch, Ray and MLflow in a fresh interpreter
def test_known_tests_land_in_their_tier_with_their_markers(tmp_path):
    out = tmp_path / "tiers.json"
    done = subprocess.run(
        [sys.executable, "-c", COLLECT, str(out), fast_tier_expression(), *KNOWN],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = json.loads(out.read_text())
    assert collected.keys() == KNOWN.keys()
    tiers = tier_markers()
    for test, (fast, markers) in KNOWN.items():
        selected, carried = collected[test]
        assert (selected, set(carried) & tiers) == (fast, markers), test


# tests/conftest.py's fixture `chromium`, replaced by one that opens nothing: the guard goes
# by the fixture's name
RUN_TIME_REQUEST = """
import pytest

@pytest.fixture
def chromium():
    return "no browser"

def test_unmarked(request):
    request.getfixturevalue("chromium")

@pytest.mark.browser
def test_marked(request):
    request.getfixturevalue("chromium")
"""


def test_a_fixture_asked_for_at_run_time_fails_an_unmarked_test(tmp_path):
    (tmp_path / "test_run_time.py").write_text(RUN_TIME_REQUEST)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q"]
        + ["test_run_time.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{REPO / 'platform'}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "1 failed, 1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert "test_run_time.py::test_unmarked starts chromium without the marker browser" in (
        done.stdout
    )
