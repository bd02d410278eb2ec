"""A finished sweep's records without training: what the read commands read.

MLflow (a ``sqlite:///`` store beside local artifacts): the parent run and ``n_trials``
child runs with the tags, params and metric histories a real sweep logs
(``report/report_synthetic.py``), plus ``spec.yaml`` on each finished child (what
``export`` writes out); storage: the sweep's saved settings (``<storage>/<name>/sweep.yaml``,
``plan/state.py``). Shared by ``test_read_commands_light.py`` and ``bench/bench_status.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))

import yaml  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from report_synthetic import make_sweep  # noqa: E402

from ncsweep.plan.state import save_state  # noqa: E402
from ncsweep.plan.sweep_config import SweepConfig  # noqa: E402
from ncsweep.tracking import PARENT_TAG, log_text  # noqa: E402

FAMILIES = ("ce", "nonl")


def write_sweep(root: Path, name: str, n_trials: int) -> tuple[str, str]:
    """Write sweep ``name`` under ``root``; returns (storage, tracking URI)."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    storage = str(root / "ray")
    parent = make_sweep(uri, name, n_trials, families=FAMILIES)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name).experiment_id
    children = client.search_runs(
        [experiment], f"tags.`{PARENT_TAG}` = '{parent}' and attributes.status = 'FINISHED'"
    )
    for run in children:
        family = run.data.params["loss.name"]
        spec = {"loss": {"name": family}, "data": {"name": "digits"}, "run": {"epochs": 1}}
        log_text(uri, run.info.run_id, yaml.safe_dump(spec), "spec.yaml")
    save_state(
        SweepConfig(
            name=name,
            preset="digits",
            families=list(FAMILIES),
            trials=n_trials // len(FAMILIES),
            objective="pareto",
            storage=storage,
            tracking_uri=uri,
        )
    )
    return storage, uri
