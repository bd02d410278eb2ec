"""Hyper-parameters that change mid-run: a trial restored from another run's checkpoint with
new values (what PBT does) trains exactly like one run that replays the change at that step
from its ``hyperparameter_schedule``; the lineage in the checkpoint says so."""

from __future__ import annotations

import pytest

from ncsweep.config import SpecError, load_spec, spec_from_dict
from ncsweep.train import RunHooks, TrainingCore, fit
from ncsweep.train.hyperparameters import Lineage

BASE = [
    "data.name=digits",
    "eval.val_nc=false",
    "run.batch_size=128",
    "loss.name=nonl",
    "run.epochs=3",
    "eval.eval_every=5",
]
CHANGE = {"loss.temperature": 0.3, "optim.lr": 0.05, "loss.align_weight": 1.5}
AT = 10


class CloneAt(RunHooks):
    """Keeps the state at step ``AT`` and ends the run there (the donor of PBT's exploit)."""

    state: dict | None = None

    def on_evaluation(self, core, metrics, checkpoint):
        if core.step == AT:
            CloneAt.state = core.state_dict()
            raise KeyboardInterrupt


def test_a_restore_with_new_values_trains_like_the_replayed_schedule():
    donor_spec = load_spec(None, [*BASE, "run.name=donor"])
    with pytest.raises(KeyboardInterrupt):
        fit(TrainingCore(donor_spec), [CloneAt()])
    clone_spec = load_spec(
        None, [*BASE, "run.name=clone", *(f"{k}={v}" for k, v in CHANGE.items())]
    )
    clone = TrainingCore(clone_spec)
    clone.load_state_dict(CloneAt.state)
    change = clone.restored_change
    assert change is not None and change["step"] == AT and change["overrides"] == CHANGE
    assert change["previous"] == {
        "loss.temperature": 0.1,
        "optim.lr": 0.2,
        "loss.align_weight": 1.0,
    }
    assert (change["trial"], change["from_trial"]) == ("clone", "donor")
    # the restored optimiser follows the new rate, not the checkpoint's
    scaled = clone_spec.optim.scaled_lr(128)
    assert clone.scheduler.base_lrs == [scaled]
    assert clone.optimizer.param_groups[0]["lr"] < scaled and clone.loss.temperature == 0.3
    cloned = fit(clone, resumed=True)

    replay_doc = clone.lineage.replay_spec(clone.spec)
    assert replay_doc["hyperparameter_schedule"] == [{"step": AT, "overrides": CHANGE}]
    assert replay_doc["loss"]["temperature"] == 0.1 and replay_doc["optim"]["lr"] == 0.2
    replay_doc["run"]["name"] = "replay"
    replayed = fit(TrainingCore(spec_from_dict(replay_doc)))
    for key in ("val/acc1", "val/loss", "nc/nc1", "train/loss"):
        assert replayed.metrics.get(key) == cloned.metrics.get(key), key

    unchanged = fit(TrainingCore(donor_spec))  # the change matters: the test can fail
    assert unchanged.metrics["val/loss"] != replayed.metrics["val/loss"]


def test_a_replayed_run_restored_mid_schedule_records_no_mutation(tmp_path):
    spec = spec_from_dict(
        {
            **load_spec(None, BASE).model_dump(mode="json"),
            "hyperparameter_schedule": [{"step": 5, "overrides": {"optim.lr": 0.05}}],
        }
    )
    first = TrainingCore(spec)
    with pytest.raises(KeyboardInterrupt):
        fit(first, [CloneAt()])
    again = TrainingCore(spec)
    again.load_state_dict(CloneAt.state)
    assert again.restored_change is None and again.spec.optim.lr == 0.05
    assert [c["step"] for c in again.lineage.changes] == [5]
    assert Lineage.from_state(CloneAt.state["lineage"]).schedule == [
        {"step": 5, "overrides": {"optim.lr": 0.05}}
    ]


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ([{"step": 5, "overrides": {"loss.anchor": 1.0}}], "loss.anchor cannot change"),
        ([{"step": 5, "overrides": {"loss.temperature": -1.0}}], "must be float > 0"),
        (
            [
                {"step": 5, "overrides": {"optim.lr": 1.0}},
                {"step": 3, "overrides": {"optim.lr": 2}},
            ],
            "steps must increase",
        ),
    ],
)
def test_a_schedule_changes_only_run_time_hyperparameters(schedule, message):
    data = {"loss": {"name": "nonl"}, "hyperparameter_schedule": schedule}
    with pytest.raises(SpecError, match=message):
        spec_from_dict(data, "exported.yaml")
