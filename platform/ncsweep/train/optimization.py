"""Optimiser and learning-rate schedule: the paper's protocol (SGD, lr per 256, cosine + warm-up)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from ..config import OptimSpec, ScheduleSpec

__all__ = ["build_optimizer", "build_scheduler", "lr_factor"]

_OPTIMIZERS: dict[str, Callable[[list[torch.Tensor], float, OptimSpec], torch.optim.Optimizer]] = {
    "sgd": lambda params, lr, s: torch.optim.SGD(
        params,
        lr=lr,
        momentum=s.momentum,
        nesterov=s.nesterov and s.momentum > 0,
        weight_decay=s.weight_decay,
    ),
    "adamw": lambda params, lr, s: torch.optim.AdamW(params, lr=lr, weight_decay=s.weight_decay),
}


def build_optimizer(
    parameters: Iterable[torch.Tensor], spec: OptimSpec, global_batch: int
) -> torch.optim.Optimizer:
    """Optimiser at ``spec.lr * global_batch / 256`` (linear scaling rule)."""
    return _OPTIMIZERS[spec.name](list(parameters), spec.scaled_lr(global_batch), spec)


def lr_factor(step: int, spec: ScheduleSpec, total_steps: int, steps_per_epoch: int) -> float:
    """Multiplier of the base lr at ``step``: linear warm-up to 1, then cosine to ``min_lr_ratio``.

    ``factor(s) = (s+1)/W`` for ``s < W``; else ``r + (1-r)(1 + cos(pi (s-W)/(T-W)))/2``.
    """
    warmup = int(round(spec.warmup_epochs * steps_per_epoch))
    if step < warmup:
        return (step + 1) / warmup
    if spec.name == "constant":
        return 1.0
    span = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    return spec.min_lr_ratio + (1 - spec.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, spec: ScheduleSpec, total_steps: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, spec, total_steps, steps_per_epoch)
    )
