"""One tiny real sweep shared by the report, live-view and MLflow UI tests.

Two families (ce, nonl), two trials each, one epoch of digits, local Ray, MLflow in a
SQLite file beside local artifacts (the laptop layout, so ``ncsweep ui`` serves it as is).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from ncsweep.cli.sweep import report_sweep
from ncsweep.sweep import SweepConfig, run_sweep

NAME = "tiny"


@dataclass
class TinySweep:
    root: Path
    uri: str
    name: str
    parent_run_id: str
    output: str
    report: Path
    storage: Path


def run_tiny_sweep(root: Path) -> TinySweep:
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root}/mlflow.db"
    config = SweepConfig(
        name=NAME,
        preset="digits",
        families=["ce", "nonl"],
        trials=2,
        max_concurrent=2,
        storage=str(root / "ray"),
        tracking_uri=uri,
        objective="pareto",
        scheduler="none",
        confirm_top=0,  # the report's trials are the search's
        overrides=["run.epochs=1", "eval.val_nc=false"],
    )
    buffer = io.StringIO()
    console = Console(file=buffer, width=160)  # not a terminal: the view prints plain lines
    cwd = os.getcwd()
    os.chdir(root)  # the sweep writes reports/<name>.html under the working directory
    try:
        outcome = run_sweep(config, console, out_dir=root / "best")
        report_sweep(outcome, config, console)  # as `ncsweep sweep` does when it returns
    finally:
        os.chdir(cwd)
    return TinySweep(
        root=root,
        uri=uri,
        name=NAME,
        parent_run_id=outcome.parent_run_id,
        output=buffer.getvalue(),
        report=root / "reports" / f"{NAME}.html",
        storage=root / "ray",
    )


if __name__ == "__main__":  # python tests/report/report_tiny_sweep.py DIR: a sweep to look at
    import sys

    from ncsweep._environment import configure_environment

    configure_environment()
    done = run_tiny_sweep(Path(sys.argv[1]).resolve())
    print(done.output)
    print(done)
