"""Adding a loss family is one module and one search-space YAML: a sixth family, defined in
a test-local module, is swept end to end (Ray Tune + Optuna + MLflow) like the shipped five."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from rich.console import Console

from ncsweep.losses import list_losses, loss_info, unregister_loss
from ncsweep.plan.spaces import list_families, load_space, search_spaces_dir
from ncsweep.sweep import SweepConfig, run_sweep
from ncsweep.sweep.leaderboard import find_parent

MODULE = "tests.sweep.toy_family_loss"


@pytest.fixture
def toy_spaces(tmp_path, monkeypatch):
    """The shipped search spaces and presets plus ``cosface.yaml``; the family registered
    by importing its module (the driver's cwd, the repo root, is on the Ray workers' path)."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    module = importlib.import_module(MODULE)
    root = tmp_path / "spaces"
    shutil.copytree(search_spaces_dir(), root)
    (root / "cosface.yaml").write_text(
        yaml.safe_dump(
            {
                "family": "cosface",
                "description": "CosFace, a family outside the package",
                "base": {"loss": {"name": "cosface", "module": MODULE}},
                "space": {"loss.margin": {"type": "uniform", "low": 0.1, "high": 0.3}},
            }
        )
    )
    yield root, module
    unregister_loss("cosface")
    sys.modules.pop(MODULE, None)  # the next import registers it again


def test_a_new_family_is_known_everywhere_from_its_module_and_yaml(toy_spaces):
    root, module = toy_spaces
    assert "cosface" in list_losses() and loss_info("cosface").cls is module.CosFaceLoss
    assert list_families(root) == sorted([*list_families(), "cosface"])
    assert load_space("cosface", root).keys == ["loss.margin"]
    # its normalised-probe temperature is what its registration declares (τ = 1/s)
    assert loss_info("cosface").normprobe_temperature({"scale": 20.0}) == pytest.approx(0.05)
    config = SweepConfig(name="six", spaces_root=str(root), storage="/tmp/x", tracking_uri="x")
    assert "cosface" in config.families and len(config.families) == 6


def test_a_sixth_family_sweeps_end_to_end(ray_session, mlflow_server, toy_spaces, tmp_path):
    root, _ = toy_spaces
    config = SweepConfig(
        name="sixth-family",
        preset="digits",
        families=["cosface"],
        trials=1,
        scheduler="none",
        confirm_top=0,  # the search's trial only
        spaces_root=str(root),
        storage=str(tmp_path / "ray"),
        tracking_uri=mlflow_server,
        overrides=["run.epochs=1", "eval.val_nc=false"],
    )
    outcome = run_sweep(config, Console(record=True, width=120), out_dir=tmp_path / "best")

    client = MlflowClient(mlflow_server)
    experiment_id, parent = find_parent(mlflow_server, "sixth-family")
    (child,) = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert child.info.status == "FINISHED", child.data.tags.get("ncsweep.failure_reason")
    assert child.data.tags["ncsweep.loss"] == "cosface"
    assert 0.1 <= float(child.data.params["loss.margin"]) <= 0.3
    assert child.data.metrics["val/acc1"] > 0.5
    exported = yaml.safe_load((tmp_path / "best" / "cosface.yaml").read_text())
    assert exported["loss"]["module"] == MODULE and exported["loss"]["scale"] == 10.0
    assert [p.name for p in outcome.exported] == ["cosface.yaml"]
