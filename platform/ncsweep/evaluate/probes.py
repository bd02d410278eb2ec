"""Suite ``probes``: on frozen features, the class-mean classifier against two linear probes.

For every family (not only SCL), on the encoder features z of the whole un-augmented
training set, scored on the validation set:

- ``prototypes``: class means of the unit features the loss saw (SCL: projection output),
  normalised; predict ``argmax_c μ̂_c·u`` (docs/paper.md, "Evaluation heads for SCL"). No training.
- ``probe`` and ``normprobe``: the linear probes of ``train.probes`` (the same code that
  gives an SCL run its ``val/acc1_probe`` and ``val/acc1_normprobe``): ``nn.Linear`` with
  bias on z with CE, and NormFace on unit z at the family's probe temperature
  (``LossInfo.normprobe_temperature``), SGD with ``eval.probe_epochs/lr/batch``.

Metrics: ``acc/<head>``, ``time_s/<head>`` and ``prototypes_minus_probe`` (points).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..train.probes import fit_probes, probe_temperature
from ._registry import SuiteKey, SuiteResult, register_suite
from .subject import Subject, class_mean_prototypes

__all__ = ["HEADS", "class_mean_accuracy"]


def class_mean_accuracy(
    train_u: torch.Tensor,
    train_y: torch.Tensor,
    test_u: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int,
) -> float:
    """Accuracy of ``argmax_c μ̂_c·u`` with μ̂ the normalised class means of unit train features."""
    means = class_mean_prototypes(train_u, train_y, num_classes)
    pred = (F.normalize(test_u.float(), dim=1) @ means.T).argmax(1)
    return float((pred == test_y).float().mean())


HEADS = ("prototypes", "probe", "normprobe")

KEYS = (
    SuiteKey("acc/<head>", "max", "validation accuracy of the head", {"head": HEADS}),
    SuiteKey("time_s/<head>", "min", "seconds to fit the head", {"head": HEADS}),
    SuiteKey("prototypes_minus_probe", "max", "class-mean classifier minus linear probe (points)"),
)


@register_suite("probes", keys=KEYS)
def run_probes(subject: Subject) -> SuiteResult:
    """Class-mean prototypes vs a linear probe vs a normalised linear probe, frozen encoder."""
    k = subject.bundle.num_classes
    train_z, train_y = subject.encode(subject.bundle.train_eval, "train")
    test_z, test_y = subject.encode(subject.bundle.val, "val")

    start = time.perf_counter()
    proto = class_mean_accuracy(subject.embed(train_z), train_y, subject.embed(test_z), test_y, k)
    proto_s = time.perf_counter() - start
    device = subject.device
    scores = fit_probes(
        (train_z.to(device), train_y.to(device)),
        (test_z.to(device), test_y.to(device)),
        k,
        subject.spec,
        data_parallel=False,  # all the features are in this process
    )
    probe, norm = scores["probe"], scores["normprobe"]
    metrics: dict[str, float | None] = {
        "acc/prototypes": proto,
        "acc/probe": probe.accuracy,
        "acc/normprobe": norm.accuracy,
        "time_s/prototypes": proto_s,
        "time_s/probe": probe.seconds,
        "time_s/normprobe": norm.seconds,
        "prototypes_minus_probe": 100 * (proto - probe.accuracy),
    }
    e = subject.spec.eval
    sgd = f"SGD {e.probe_epochs} epochs, lr {e.probe_lr:g}"
    rows = [
        {
            "head": "prototypes (class means)",
            "accuracy": proto,
            "seconds": proto_s,
            "note": "no training",
        },
        {"head": "linear probe", "accuracy": probe.accuracy, "seconds": probe.seconds, "note": sgd},
        {
            "head": "normalised probe",
            "accuracy": norm.accuracy,
            "seconds": norm.seconds,
            "note": f"NormFace τ={probe_temperature(subject.spec):g}, {sgd}",
        },
    ]
    return SuiteResult(metrics, rows)
