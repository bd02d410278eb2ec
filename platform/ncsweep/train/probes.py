"""SCL evaluation heads on a frozen encoder: the paper's fixed prototypes against two probes.

- fixed prototypes: class means of unit projection outputs over the training set
  (``geometry.ClassMeanClassifier``), no training; computed by ``evaluation.evaluate``;
- linear probe: ``nn.Linear`` with bias on unnormalised encoder features ``z``, CE;
- normalised linear probe: unit ``z``, unit-norm rows, NormFace at the SCL temperature.

Probes train data-parallel on each rank's shard of the frozen features: every rank computes
the gradient of its mini-batch and the gradients are averaged with one all-reduce, so the
probe sees the whole training set without gathering features on one process.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from .. import metric_keys as keys
from ..losses import create_loss
from .distributed import all_reduce_, world_size
from .evaluation import EvalLoaders

__all__ = ["PROBES", "train_probes"]

# probe name -> (loss factory given the SCL temperature, metric key)
PROBES = {
    "probe": (lambda tau: create_loss("ce"), keys.VAL_ACC1_PROBE),
    "normprobe": (lambda tau: create_loss("normface", temperature=tau), keys.VAL_ACC1_NORMPROBE),
}


@torch.no_grad()
def _encode(model: nn.Module, loader, device, autocast) -> tuple[torch.Tensor, torch.Tensor]:
    feats, labels = [], []
    for x, y in loader:
        with autocast():
            feats.append(model.features(x.to(device)).float())
        labels.append(y.to(device))
    return torch.cat(feats), torch.cat(labels)


def _fit(loss: nn.Module, feats, labels, num_classes, epochs, lr, batch, seed) -> nn.Linear:
    device = feats.device
    torch.manual_seed(seed)
    head = nn.Linear(feats.shape[1], num_classes, bias=not loss.normalized).to(device)
    optimizer = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    local_batch = max(1, batch // world_size())
    steps = torch.tensor([max(1, len(feats) // local_batch)], device=device)
    all_reduce_(steps, "min")  # every rank takes the same number of steps
    generator = torch.Generator(device="cpu").manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(feats), generator=generator).to(device)
        for i in range(int(steps.item())):
            idx = order[i * local_batch : (i + 1) * local_batch]
            optimizer.zero_grad(set_to_none=True)
            loss(feats[idx], labels[idx], head.weight, head.bias).backward()
            for p in head.parameters():
                all_reduce_(p.grad).div_(world_size())
            optimizer.step()
        schedule.step()
    return head


def _accuracy(head: nn.Linear, normalized: bool, feats, labels) -> float:
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
    all_reduce_(totals)
    return (totals[0] / totals[1].clamp_min(1)).item()


def train_probes(
    model: nn.Module,
    loaders: EvalLoaders,
    num_classes: int,
    temperature: float,
    epochs: int,
    lr: float,
    batch: int,
    seed: int,
    device,
    autocast,
) -> dict[str, float]:
    """Train both probes on frozen ``z``; returns their val accuracies and training time."""
    was_training = model.training
    model.eval()
    try:
        train_x, train_y = _encode(model, loaders.train_full, device, autocast)
        val_x, val_y = _encode(model, loaders.val, device, autocast)
        metrics = {}
        for name, (make_loss, key) in PROBES.items():
            start = time.perf_counter()
            loss = make_loss(temperature)
            head = _fit(loss, train_x, train_y, num_classes, epochs, lr, batch, seed)
            metrics[f"probe_time_s/{name}"] = time.perf_counter() - start
            metrics[key] = _accuracy(head, loss.normalized, val_x, val_y)
        return metrics
    finally:
        model.train(was_training)
