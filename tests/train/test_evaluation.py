"""A training evaluation reports exactly what the geometry computes from the same features.

The evaluation takes shortcuts (a split read in one batch, its features kept for the second
pass, the float64 rows of the statistics reused by the agreement, the host maths of the
metrics); the reference here takes none: features in batches of 100, moment statistics
(no kept rows), logits from ``F.linear`` and its own agreement pass."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ncsweep.config import load_spec
from ncsweep.geometry import ClassStats, NCCAgreement, collapse_metrics
from ncsweep.train import TrainingCore


def _reference(core: TrainingCore, split) -> tuple[dict[str, float], float]:
    """(NC metrics, top-1 accuracy) of ``split`` through the streaming path."""
    model = core.model
    weight, bias = model.prototypes.detach(), model.bias.detach()
    feats, labels = [], []
    for x, y in split:
        feats.append(core.view.features(split.prepare(x)))  # raw uint8 -> normalised input
        labels.append(y)
    feats, labels = torch.cat(feats), torch.cat(labels)
    stats = ClassStats(core.bundle.num_classes, feats.shape[1], keep_rows_bytes=0)
    for part in range(0, len(labels), 100):
        stats.update(feats[part : part + 100], labels[part : part + 100])
    agreement = NCCAgreement(stats)
    logits = F.linear(feats, weight, bias)
    for part in range(0, len(labels), 100):
        agreement.update(
            feats[part : part + 100], labels[part : part + 100], logits[part : part + 100]
        )
    accuracy = float((logits.argmax(1) == labels).double().mean())
    return dict(collapse_metrics(stats, weight, agreement)), accuracy


def test_evaluation_equals_the_streaming_geometry_of_the_same_features():
    spec = load_spec(None, ["data.name=digits", "model.name=mlp", "loss.name=ce"])
    core = TrainingCore(spec)
    for step, (x, y) in enumerate(core.batches()):
        core.train_step(x, y)
        if step == 5:
            break
    got = core.evaluate()
    assert core.model.training  # the evaluation restores the mode it found
    core.model.eval()
    with torch.no_grad():
        train, _ = _reference(core, core.eval_loaders.train)
        val, val_acc = _reference(core, core.eval_loaders.val)
    for prefix, want in (("nc/", train), ("val_nc/", val)):
        assert {k.removeprefix(prefix) for k in got if k.startswith(prefix)} == set(want)
        for name, value in want.items():
            assert got[prefix + name] == pytest.approx(value, rel=1e-7, abs=1e-12), prefix + name
    assert got["val/acc1"] == pytest.approx(val_acc, abs=1e-12)
