"""The training core in-process, without Ray or MLflow: trains digits in seconds, resumes
from its own state exactly, ends a non-finite run with its step, tells hooks in order."""

from __future__ import annotations

import re

import pytest
import torch

from ncsweep.config import load_spec
from ncsweep.train import RunHooks, TrainingCore, fit
from ncsweep.train.checkpoint import save_state
from ncsweep.train.core import STATUS_DONE, STATUS_FAILED

FAST = ["data.name=digits", "eval.val_nc=false", "run.batch_size=128"]


class Recorder(RunHooks):
    def __init__(self):
        self.events: list[tuple[str, int]] = []
        self.evaluations: list[dict] = []

    def on_start(self, core, resumed):
        self.events.append(("start" + ("-resumed" if resumed else ""), core.step))

    def on_train_metrics(self, core, metrics):
        self.events.append(("train", core.step))
        assert metrics["step"] == core.step

    def on_evaluation(self, core, metrics, checkpoint):
        self.events.append(("eval" + ("+ckpt" if checkpoint else ""), core.step))
        self.evaluations.append(metrics)

    def on_checkpoint(self, core):
        self.events.append(("ckpt", core.step))

    def on_end(self, core, result):
        self.events.append((f"end-{result.status}", core.step))


def test_core_trains_digits_in_process_and_reports_every_evaluation():
    spec = load_spec(None, [*FAST, "loss.name=ce", "run.epochs=4", "optim.lr=0.4"])
    core = TrainingCore(spec)
    hooks = Recorder()
    result = fit(core, [hooks])
    assert result.status == STATUS_DONE and result.trained
    steps = core.steps_per_epoch
    assert core.step == core.total_steps == 4 * steps
    evals = [s for e, s in hooks.events if e.startswith("eval")]
    assert evals == [0, steps, 2 * steps, 3 * steps, 4 * steps]
    assert hooks.events[0] == ("start", 0) and hooks.events[-1] == ("end-done", 4 * steps)
    assert ("eval", 0) in hooks.events  # step 0: nothing worth checkpointing
    assert result.metrics["val/acc1"] >= 0.85
    assert result.metrics["status"] == STATUS_DONE
    assert 0.0 <= result.metrics["nc_score/nc1"] <= 100.0
    assert result.metrics["nc/nc1"] < hooks.evaluations[0]["nc/nc1"]


def test_core_resumed_from_its_state_continues_exactly(tmp_path):
    # No augmentation randomness beyond the saved RNG: the resumed run must match bit for bit.
    spec = load_spec(None, [*FAST, "loss.name=ntce", "run.epochs=3", "eval.eval_every=5"])
    straight = fit(TrainingCore(spec))

    class StopAt(RunHooks):
        def on_evaluation(self, core, metrics, checkpoint):
            if core.step == 10:
                save_state(tmp_path, core.state_dict())
                raise KeyboardInterrupt  # the process dies here

    with pytest.raises(KeyboardInterrupt):
        fit(TrainingCore(spec), [StopAt()])
    resumed_core = TrainingCore.from_checkpoint(spec, tmp_path)
    assert resumed_core.step == 10
    hooks = Recorder()
    resumed = fit(resumed_core, [hooks], resumed=True)
    assert hooks.events[0] == ("start-resumed", 10)
    assert resumed.metrics["val/acc1"] == straight.metrics["val/acc1"]
    assert resumed.metrics["val/loss"] == straight.metrics["val/loss"]
    for key in ("nc/nc1", "nc_iters/nc1", "nc_score/etf_error"):
        assert resumed.metrics.get(key) == straight.metrics.get(key), key

    # Restored from the final state: the result again, without training.
    save_state(tmp_path, resumed_core.state_dict())
    again = fit(TrainingCore.from_checkpoint(spec, tmp_path))
    assert not again.trained and again.metrics["val/acc1"] == straight.metrics["val/acc1"]


def test_non_finite_loss_ends_the_run_failed_with_its_step():
    spec = load_spec(None, [*FAST, "loss.name=ce", "optim.lr=1.0e+12", "run.log_every=1"])
    result = fit(TrainingCore(spec))
    assert result.status == STATUS_FAILED
    assert re.fullmatch(r"non-finite loss at step \d+", result.failure_reason)
    assert result.metrics["status"] == STATUS_FAILED


def test_checkpoint_loads_into_a_fresh_model_with_the_same_predictions(tmp_path):
    spec = load_spec(None, [*FAST, "loss.name=normface", "run.max_steps=6"])
    core = TrainingCore(spec)
    fit(core)
    save_state(tmp_path, core.state_dict())
    loaded = TrainingCore.from_checkpoint(spec, tmp_path)
    x = core.bundle.val.augment_batch(core.bundle.val.images[:32])  # raw uint8 -> input
    core.model.eval(), loaded.model.eval()
    with torch.no_grad():
        assert torch.equal(core.model(x)[0], loaded.model(x)[0])


@pytest.mark.parametrize("family", ["ce", "scl"])
def test_final_evaluation_follows_the_family_descriptor(family):
    """With the default hooks, probes only for a family that declares them (SCL); the
    evaluation counter (ASHA's time unit) counts evaluations after step 0, with eval_every
    steps between them."""
    from ncsweep.evaluate.hook import default_hooks
    from ncsweep.losses import loss_info

    spec = load_spec(
        None,
        [f"loss.name={family}", *FAST, "run.epochs=1", "eval.eval_every=4", "eval.probe_epochs=1"],
    )
    recorder = Recorder()
    result = fit(TrainingCore(spec), [*default_hooks(spec), recorder])
    assert result.status == STATUS_DONE
    steps = [m["step"] for m in recorder.evaluations]
    assert [m["evaluation"] for m in recorder.evaluations] == [-(-s // 4) for s in steps]
    final = recorder.evaluations[-1]
    has_probes = {"val/acc1_probe", "val/acc1_normprobe", "val/acc1_prototypes"} <= set(final)
    assert has_probes == loss_info(family).probes


@pytest.mark.parametrize(
    "sets,expected",
    [
        (["run.checkpoint_min_interval_s=0"], {5: True, 10: True, 15: True, 20: True}),
        (["run.checkpoint_min_interval_s=3600"], {5: False, 10: False, 15: False, 20: True}),
        (["run.checkpoint_every=10"], {5: False, 10: True, 15: False, 20: True}),
    ],
)
def test_evaluations_checkpoint_on_the_time_floor_or_the_step_schedule(sets, expected):
    spec = load_spec(
        None,
        ["loss.name=ce", "data.name=digits", "run.epochs=3", "run.max_steps=20"]
        + ["eval.eval_every=5"]
        + ["eval.val_nc=false", *sets],
    )
    flags = {}

    class Flags(RunHooks):
        def on_evaluation(self, core, metrics, checkpoint):
            flags[core.step] = checkpoint

    fit(TrainingCore(spec), [Flags()])
    assert flags.pop(0) is False
    assert flags == expected


def test_a_hook_that_needs_every_checkpoint_turns_the_time_floor_off():
    spec = load_spec(
        None,
        ["loss.name=ce", "data.name=digits", "run.epochs=3", "run.max_steps=20"]
        + ["eval.eval_every=5"]
        + ["eval.val_nc=false", "run.checkpoint_min_interval_s=3600"],
    )
    flags = {}

    class TuneLike(RunHooks):
        checkpoint_each_evaluation = True

        def on_evaluation(self, core, metrics, checkpoint):
            flags[core.step] = checkpoint

    fit(TrainingCore(spec), [TuneLike()])
    assert flags == {0: False, 5: True, 10: True, 15: True, 20: True}
