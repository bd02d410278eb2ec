"""A regular (non-editable) install ships the search spaces, presets and dashboards with the
package.

The project is built from a copy of its tracked files and installed with ``pip install
--no-deps --no-build-isolation`` into a fresh virtualenv that sees the dependencies of the
test interpreter through a ``.pth`` line (nothing is downloaded or reinstalled); then
``ncsweep sweep --preset digits --families ce --trials 1`` runs from an unrelated directory
and writes its report there, and ``ncsweep report`` writes it again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
import tempfile
import venv
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.ray  # the `ncsweep sweep` subprocess starts a local Ray

REPO = Path(__file__).resolve().parents[2]


def _tracked_copy(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if name.startswith(("tests/", ".ci/")) or not (REPO / name).is_file():
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)


def test_non_editable_install_runs_the_digits_preset_from_another_directory(tmp_path):
    source, env_dir, elsewhere = tmp_path / "src", tmp_path / "venv", tmp_path / "elsewhere"
    _tracked_copy(source)
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "outer_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NCSWEEP_SEARCH_SPACES")}
    env = {k: v for k, v in env.items() if not k.startswith(("RAY_", "MLFLOW_TRACKING"))}
    install = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    shipped = site / "ncsweep" / "search_spaces"
    assert (shipped / "presets" / "digits.yaml").is_file() and (shipped / "nonl.yaml").is_file()
    boards = site / "ncsweep" / "dashboards"
    assert sorted(p.name for p in boards.glob("*.yaml")) == sorted(
        p.name for p in (REPO / "dashboards").glob("*.yaml")
    )
    assert not (boards / "grafana").exists()  # the cluster's Grafana is not the package's
    where = subprocess.run(
        [
            python,
            "-c",
            "import ncsweep.plan.spaces as s, ncsweep.report.spec as r; "
            "print(s.__file__, s.search_spaces_dir(), r.dashboards_dir())",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where[0].startswith(str(site)) and Path(where[1]) == shipped
    assert Path(where[2]) == boards

    elsewhere.mkdir()
    ray_tmp = tempfile.mkdtemp(prefix="ncsi", dir="/tmp")
    env.update(HOME=str(tmp_path), RAY_TMPDIR=ray_tmp, RAY_USAGE_STATS_ENABLED="0")
    ncsweep = str(env_dir / "bin" / "ncsweep")
    try:
        done = subprocess.run(
            [
                ncsweep,
                *(
                    "sweep",
                    "--preset",
                    "digits",
                    "--families",
                    "ce",
                    "--trials",
                    "1",
                    "--confirm-top",
                    "0",
                ),
                *("--scheduler", "none", "--name", "installed"),
                *("--set", "run.epochs=1", "--set", "eval.val_nc=false"),
            ],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=480,
        )
    finally:
        for proc in psutil.process_iter(["cmdline"]):
            if ray_tmp in " ".join(proc.info["cmdline"] or []):
                proc.kill()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (elsewhere / "best_configs" / "ce.yaml").is_file()
    assert "Leaderboard: installed" in done.stdout
    report = elsewhere / "reports" / "installed.html"
    output = " ".join(done.stdout.split())  # rich wraps long lines
    assert f"Report: {report}" in output and "NOT written" not in output, done.stdout[-3000:]
    assert report.is_file()

    # the verb, again from the unrelated directory, with the shipped dashboards
    report.unlink()
    again = subprocess.run(
        [ncsweep, "report", "installed"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"Report: {report}" in " ".join(again.stdout.split())
    assert report.is_file() and "<html" in report.read_text()[:500].lower()
