"""The simulated trial (``--simulate``): the real driver path, a body that sleeps.

A 20-trial simulated sweep, 8 at once on the session's 2-CPU Ray (a quarter CPU each),
ends with 20 FINISHED child runs carrying the metric keys a trained trial logs; the
simulated trial's module and spec never import torch; its curves are deterministic in
(config, seed) and differ between configs (a sampler has signal).
"""

from __future__ import annotations

import json

from rich.console import Console

from fresh_python import run_fresh
from ncsweep import metric_keys as keys
from ncsweep.geometry.descriptors import METRICS
from ncsweep.plan.objectives import NC_STEPS, nc_steps
from ncsweep.plan.presets import load_preset
from ncsweep.plan.sweep_config import SweepConfig
from ncsweep.runtime.simulated import SIMULATED_TAG, SyntheticCurve, simulated_spec
from ncsweep.runtime.trial_context import REPORT_TIME_MS, TUNE_KEYS, tune_result
from ncsweep.status import RunState
from ncsweep.sweep import run_sweep
from ncsweep.sweep.leaderboard import find_parent
from ncsweep.tracking import PARENT_TAG, open_store


def _spec_dict() -> dict:
    data = json.loads(json.dumps(load_preset("digits").spec, default=str))
    data["loss"] = {"name": "nonl", "temperature": 0.1}
    return data


def test_simulated_trial_imports_no_torch():
    code = (
        "import json, sys; from ncsweep.runtime.simulated import simulated_spec, SyntheticCurve;"
        f"spec = simulated_spec(json.loads({json.dumps(json.dumps(_spec_dict()))!s}), 't');"
        "SyntheticCurve.of({'optim.lr': 0.1}, 0, spec).evaluation(5);"
        "print('torch' in sys.modules)"
    )
    assert run_fresh(code) == "False"


def test_curves_are_deterministic_and_carry_signal():
    spec = simulated_spec(_spec_dict(), "t")
    a = SyntheticCurve.of({"optim.lr": 0.1, "loss.temperature": 0.05}, 3, spec)
    again = SyntheticCurve.of({"optim.lr": 0.1, "loss.temperature": 0.05}, 3, spec)
    other = SyntheticCurve.of({"optim.lr": 0.9, "loss.temperature": 0.5}, 3, spec)
    assert a == again
    assert a.accuracy(a.total) != other.accuracy(other.total)
    assert a.accuracy(1) < a.accuracy(a.total // 2) < a.accuracy(a.total)
    assert set(keys.per_metric(keys.NC_SCORE, a.evaluation(a.total))) == {m.name for m in METRICS}


def test_simulated_sweep_finishes_every_run_with_the_real_keys(
    ray_session, mlflow_server, tmp_path
):
    cfg = SweepConfig(
        name="simulated20",
        preset="digits",
        families=["ce"],
        trials=20,
        max_concurrent=8,
        cpus_per_worker=0.25,
        scheduler="none",
        simulate=0.001,
        overrides=["run.epochs=2"],
        storage=str(tmp_path / "ray"),
        tracking_uri=mlflow_server,
    )
    run_sweep(cfg, Console(quiet=True), out_dir=tmp_path / "best")
    experiment_id, parent = find_parent(mlflow_server, cfg.name)
    runs = open_store(mlflow_server).search_runs(experiment_id, {PARENT_TAG: parent})
    assert len(runs) == 20
    assert {run.status for run in runs} == {RunState.FINISHED}
    expected = {
        keys.TRAIN_LOSS,
        keys.VAL_LOSS,
        keys.VAL_ACC1,
        keys.VAL_ACC5,
        keys.STEP,
        keys.TOTAL_STEPS,
        keys.EPOCH,
        keys.LR,
        *(f"{prefix}{m.name}" for prefix in (keys.NC, keys.NC_SCORE) for m in METRICS),
        *(f"{prefix}{m.name}" for prefix in (keys.VAL_NC, keys.VAL_NC_SCORE) for m in METRICS),
    }
    for run in runs:
        assert expected <= set(run.metrics), sorted(expected - set(run.metrics))
        assert run.tags[SIMULATED_TAG] == "0.001"
        assert run.metrics[keys.STEP] == run.metrics[keys.TOTAL_STEPS]
    assert len(list((tmp_path / "best").glob("*.yaml"))) == 1  # the family's export


def test_tune_keeps_what_its_readers_read_not_every_metric():
    spec = simulated_spec(_spec_dict(), "t")
    curve = SyntheticCurve.of({"optim.lr": 0.1}, 0, spec)
    metrics = {
        **curve.evaluation(curve.total),
        **curve.nc_iters(curve.total),
        keys.EVALUATION: 10,
        keys.STATUS: "done",
        keys.STEP: curve.total,
    }
    result = tune_result(metrics, "mean", ("eval/probes/acc/probe",))
    # and the report's own time, where a stopped trial's run ends
    assert set(result) <= {*TUNE_KEYS, REPORT_TIME_MS, "eval/probes/acc/probe"}
    assert isinstance(result[REPORT_TIME_MS], int)
    assert result[keys.VAL_ACC1] == metrics[keys.VAL_ACC1] and result[keys.EVALUATION] == 10
    assert result.get(NC_STEPS) == nc_steps(metrics, "mean")  # from the NC keys Tune no longer gets
    assert result["eval/probes/acc/probe"] is None
    # a pareto sweep's objectives name the NC steps themselves: the computed value stays
    counted = {**metrics, keys.TOTAL_STEPS: curve.total}
    pareto = tune_result(counted, "mean", (keys.VAL_ACC1, NC_STEPS))
    assert pareto[NC_STEPS] == nc_steps(counted, "mean") is not None
    assert len(metrics) > 4 * len(result)
