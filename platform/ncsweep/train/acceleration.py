"""How the training model runs on its device: memory format, ``torch.compile`` and the
seeded generator of batched augmentation (``data.augment_on=device``).

- ``run.memory_format`` (``channels_last``): NHWC activations let cuDNN pick its tensor-core convolutions (with bf16
  autocast, ``evaluation.autocast_for``); only models with a 2-D convolution use it, since
  an MLP gains nothing and its flattening would copy.
- ``run.compile``: ``torch.compile`` around the (possibly DDP-wrapped) training model;
  evaluation calls the plain module's ``features``/``embed``, which are not compiled.
- ``augmentation_generator``: one ``torch.Generator`` on the training device per rank,
  seeded from ``(run.seed, rank)``; its state travels in the core's checkpoint, so a resumed
  run continues the same augmentation stream.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["augmentation_generator", "memory_format_for", "maybe_compile"]


def memory_format_for(model: nn.Module, device: torch.device, setting: str) -> torch.memory_format:
    """``channels_last`` when asked for, or for ``auto`` on CUDA, if ``model`` has a Conv2d."""
    wanted = setting == "channels_last" or (setting == "auto" and device.type == "cuda")
    convolutional = any(isinstance(m, nn.Conv2d) for m in model.modules())
    return torch.channels_last if wanted and convolutional else torch.contiguous_format


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(model)`` when ``enabled`` (``distributed.unwrap`` sees through it)."""
    # torch.compile's annotation says Callable; given an nn.Module it returns an
    # OptimizedModule, an nn.Module
    return torch.compile(model) if enabled else model  # type: ignore[return-value]


def augmentation_generator(device: torch.device, seed: int, rank: int) -> torch.Generator:
    """A generator on ``device`` whose stream depends on ``seed`` and ``rank`` (distinct per
    rank, so data-parallel workers never draw the same crops)."""
    state = int(np.random.SeedSequence([seed, rank]).generate_state(1, dtype=np.uint64)[0])
    return torch.Generator(device=device).manual_seed(state & (2**63 - 1))
