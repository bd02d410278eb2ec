"""Linear probes on a frozen encoder: the baselines of the SCL evaluation heads (docs/paper.md).

- ``probe``: ``nn.Linear`` with bias on unnormalised encoder features ``z``, CE;
- ``normprobe``: unit ``z``, unit-norm rows, NormFace at the family's probe temperature
  (the loss registry's ``LossInfo.normprobe_temperature``: SCL's own temperature).

Trained with SGD (momentum 0.9, cosine schedule; ``eval.probe_epochs``, ``eval.probe_lr``,
``eval.probe_batch``) as in SupCon's linear evaluation. The one implementation behind two
sets of keys: :class:`ProbesHook` at the end of an SCL run (``val/acc1_probe``,
``val/acc1_normprobe`` beside ``val/acc1_prototypes``) and the ``probes`` evaluation suite
(``eval/probes/acc/probe``, ``eval/probes/acc/normprobe``, every family).

Data parallel: with ``data_parallel`` every rank trains on its shard of the frozen features,
computes the gradient of its mini-batch and the gradients are averaged with one all-reduce,
so the probe sees the whole training set without gathering features on one process. A
caller holding all the features in one process (a suite) passes ``data_parallel=False``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import metric_keys as keys
from ..config import ExperimentSpec
from ..losses import create_loss, loss_info
from ..models import NCModel
from .core import RunHooks, TrainingCore
from .distributed import all_reduce_
from .distributed import world_size as group_size
from .evaluation import Autocast, EvalSplit
from .streaming import StreamedEvalSplit

__all__ = ["PROBES", "ProbeScore", "ProbesHook", "fit_probes", "probe_temperature"]

# probe name -> (loss family, its options) given the probe temperature
PROBES: dict[str, Callable[[float], tuple[str, dict[str, Any]]]] = {
    "probe": lambda tau: ("ce", {}),
    "normprobe": lambda tau: ("normface", {"temperature": tau}),
}


@dataclass
class ProbeScore:
    """A fitted probe's validation accuracy and its training time (s)."""

    accuracy: float
    seconds: float


def probe_temperature(spec: ExperimentSpec) -> float:
    """τ of the normalised probe for the run's family, as the loss registry declares it."""
    return loss_info(spec.loss.name).normprobe_temperature(spec.loss.kwargs())


def _fit(
    loss: nn.Module,
    normalized: bool,
    feats: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    epochs: int,
    lr: float,
    batch: int,
    seed: int,
    world: int,
) -> nn.Linear:
    device = feats.device
    with torch.random.fork_rng(devices=[]):  # the caller's random stream stays as it was
        torch.manual_seed(seed)
        head = nn.Linear(feats.shape[1], num_classes, bias=not normalized).to(device)
    optimizer = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    local_batch = max(1, batch // world)
    steps = torch.tensor([max(1, len(feats) // local_batch)], device=device)
    if world > 1:
        all_reduce_(steps, "min")  # every rank takes the same number of steps
    generator = torch.Generator(device="cpu").manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(feats), generator=generator).to(device)
        for i in range(int(steps.item())):
            idx = order[i * local_batch : (i + 1) * local_batch]
            optimizer.zero_grad(set_to_none=True)
            loss(feats[idx], labels[idx], head.weight, head.bias).backward()
            if world > 1:
                for p in head.parameters():
                    assert p.grad is not None, "the loss uses every parameter of the head"
                    all_reduce_(p.grad).div_(world)
            optimizer.step()
        schedule.step()
    return head


def _accuracy(
    head: nn.Linear, normalized: bool, feats: torch.Tensor, labels: torch.Tensor, world: int
) -> float:
    with torch.no_grad():
        if normalized:
            logits = (
                nn.functional.normalize(feats, dim=1)
                @ nn.functional.normalize(head.weight, dim=1).T
            )
        else:
            logits = head(feats)
        totals = torch.stack(
            [(logits.argmax(1) == labels).sum(), torch.tensor(labels.numel(), device=labels.device)]
        ).double()
    if world > 1:
        all_reduce_(totals)
    return (totals[0] / totals[1].clamp_min(1)).item()


def fit_probes(
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    spec: ExperimentSpec,
    *,
    data_parallel: bool = True,
) -> dict[str, ProbeScore]:
    """Both probes on frozen features: ``train``/``val`` = (z N×D, labels N) on one device
    (this rank's shard when ``data_parallel``); hyper-parameters from ``spec.eval``, the
    normalised probe's τ from the loss registry (:func:`probe_temperature`)."""
    world = group_size() if data_parallel else 1
    e, tau = spec.eval, probe_temperature(spec)
    scores = {}
    for name, probe_loss in PROBES.items():
        start = time.perf_counter()
        family, options = probe_loss(tau)
        normalized = loss_info(family).normalized
        head = _fit(
            create_loss(family, **options),
            normalized,
            *train,
            num_classes,
            e.probe_epochs,
            e.probe_lr,
            e.probe_batch,
            spec.run.seed,
            world,
        )
        accuracy = _accuracy(head, normalized, *val, world)
        scores[name] = ProbeScore(accuracy, time.perf_counter() - start)
    return scores


@torch.no_grad()
def _encode(
    model: NCModel, loader: EvalSplit | StreamedEvalSplit, device: torch.device, autocast: Autocast
) -> tuple[torch.Tensor, torch.Tensor]:
    feats, labels = [], []
    for x, y in loader:  # an EvalSplit: prepare() turns raw uint8 samples into inputs
        x = loader.prepare(x.to(device))
        with autocast():
            feats.append(model.features(x).float())
        labels.append(y.to(device))
    return torch.cat(feats), torch.cat(labels)


class ProbesHook(RunHooks):
    """The SCL evaluation heads at the end of a run, on every rank (data parallel):
    ``val/acc1_prototypes`` (the final evaluation's exact class-mean accuracy), the probes'
    ``val/acc1_probe``, ``val/acc1_normprobe`` and ``probe_time_s/<probe>``."""

    def final_metrics(self, core: TrainingCore, metrics: dict[str, Any]) -> dict[str, Any]:
        model = core.nc_model
        was_training = model.training
        model.eval()
        try:
            loaders = core.eval_loaders
            train = _encode(model, loaders.train_full, core.device, core.autocast)
            val = _encode(model, loaders.val, core.device, core.autocast)
            scores = fit_probes(train, val, core.bundle.num_classes, core.spec)
        finally:
            model.train(was_training)
        out = {keys.VAL_ACC1_PROTOTYPES: metrics[keys.VAL_ACC1]}
        for name, key in (("probe", keys.VAL_ACC1_PROBE), ("normprobe", keys.VAL_ACC1_NORMPROBE)):
            out[key] = scores[name].accuracy
            out[f"probe_time_s/{name}"] = scores[name].seconds
        return out
