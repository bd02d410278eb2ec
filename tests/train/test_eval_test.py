"""``eval.test``: the test split is read once, at the last step, and only when asked for;
``val/*`` stays what every evaluation reports."""

from __future__ import annotations

import pytest
import torch

from ncsweep import metric_keys as keys
from ncsweep.config import load_spec
from ncsweep.train import RunHooks, TrainingCore, fit
from ncsweep.train.evaluation import EvalSplit

BASE = ["data.name=digits", "loss.name=ce", "run.batch_size=128", "run.epochs=2"]
TEST_KEYS = ("test/", keys.TEST_NC, keys.TEST_NC_SCORE)


class Evaluations(RunHooks):
    def __init__(self):
        self.seen: list[tuple[int, dict]] = []

    def on_evaluation(self, core, metrics, checkpoint):
        self.seen.append((core.step, dict(metrics)))


def _test_keys(metrics: dict) -> set[str]:
    return {k for k in metrics if k.startswith(TEST_KEYS)}


def test_without_eval_test_no_test_key_is_logged_and_the_split_is_never_built():
    core = TrainingCore(load_spec(None, BASE))
    hooks = Evaluations()
    result = fit(core, [hooks])
    assert core.eval_loaders.test is None
    assert all(not _test_keys(m) for _, m in hooks.seen) and not _test_keys(result.metrics)
    assert keys.VAL_ACC1 in result.metrics


def test_eval_test_logs_test_metrics_once_at_the_last_step():
    core = TrainingCore(load_spec(None, [*BASE, "eval.test=true"]))
    hooks = Evaluations()
    result = fit(core, [hooks])
    with_test = [step for step, m in hooks.seen if _test_keys(m)]
    assert with_test == [core.total_steps] and len(hooks.seen) == 3  # steps 0, epoch 1, end
    m = result.metrics
    assert {keys.TEST_ACC1, keys.TEST_ACC5, keys.TEST_LOSS} <= set(m)
    assert 0.5 < m[keys.TEST_ACC1] <= m[keys.TEST_ACC5] <= 1.0 and m[keys.TEST_LOSS] > 0
    assert keys.per_metric(keys.TEST_NC, m).keys() == keys.per_metric(keys.VAL_NC, m).keys()
    assert all(0 <= v <= 100 for v in keys.per_metric(keys.TEST_NC_SCORE, m).values())
    # the numbers are those of the test split: one pass over it by hand agrees
    split = core.eval_loaders.test
    assert isinstance(split, EvalSplit) and len(split) == len(core.bundle.test) == 359
    x, y = core.bundle.test.batch(torch.arange(len(core.bundle.test)))
    x = core.bundle.test.augment_batch(x)  # digits on the device: raw uint8 -> normalised
    core.model.eval()
    with torch.no_grad():
        logits = core.view.logits(core.view.features(x))
    assert m[keys.TEST_ACC1] == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert m[keys.TEST_ACC1] != m[keys.VAL_ACC1] or m[keys.TEST_LOSS] != m[keys.VAL_LOSS]


def test_eval_test_without_val_nc_logs_no_test_nc():
    result = fit(TrainingCore(load_spec(None, [*BASE, "eval.test=true", "eval.val_nc=false"])))
    assert keys.TEST_ACC1 in result.metrics
    assert not keys.per_metric(keys.TEST_NC, result.metrics)
