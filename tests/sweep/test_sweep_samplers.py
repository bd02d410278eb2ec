"""A real sweep with a non-TPE sampler and a constraint, on Ray Tune + Optuna + MLflow:
Optuna gets each finished trial's violation, and a family whose every trial breaks the
constraint exports nothing. (Every sampler's searching is checked in process:
``test_samplers.py``.)"""

from __future__ import annotations

from rich.console import Console

from ncsweep.runtime.journal import load_study
from ncsweep.sweep import SweepConfig, collect_rows, run_sweep


def test_a_cmaes_sweep_under_an_unmet_constraint_exports_no_config(
    ray_session, mlflow_server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    storage = str(tmp_path / "ray")
    config = SweepConfig(
        name="sampler-cmaes",
        preset="digits",
        families=["ce"],
        trials=2,
        max_concurrent=2,
        storage=storage,
        tracking_uri=mlflow_server,
        sampler="cmaes",
        constraint=["val/acc1>=1.5"],  # no accuracy reaches it
        scheduler="none",
        confirm_top=0,
        overrides=["run.epochs=1", "eval.val_nc=false"],
    )
    outcome = run_sweep(config, Console(record=True, width=140), out_dir=tmp_path / "best")

    study = load_study(storage, "sampler-cmaes", "ce")
    assert len(study.trials) == 2
    for trial in study.trials:
        acc = trial.user_attrs["val/acc1"]
        assert trial.constraints == {"val/acc1>=1.5": 1.5 - acc}
    rows = collect_rows(mlflow_server, "sampler-cmaes")
    assert len(rows) == 2 and all(r.complete and not r.feasible for r in rows)
    assert outcome.exported == []
    assert not (tmp_path / "best" / "ce.yaml").exists()
