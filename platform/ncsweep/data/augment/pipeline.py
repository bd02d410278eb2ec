"""``BatchPipeline``: a torchvision training transform, run on whole uint8 batches.

Built from the very transform objects :mod:`ncsweep.data.transforms` declares
(``cifar_transforms``, ``imagenet_transforms``, SCL's ``MultiView``), so each pipeline's
parameters have one home::

    train_tf, _ = cifar_transforms(CIFAR10_STATS, views=2, augment=True)
    pipeline = BatchPipeline.from_torchvision(train_tf)   # 2 views, RRC + flip + jitter + grey
    gen = torch.Generator(device=x.device).manual_seed(seed)
    views = pipeline(x_uint8, gen)                        # B×2×3×32×32 float, normalised

Input: B×C×H×W uint8 (0..255) or float in [0, 1], on any device; the generator must live on
the device whose stream you want to replay (CPU or the batch's CUDA device). Output: float
B×C×h×w, or B×V×C×h×w with V views (each view of a sample augmented independently).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision import transforms as T

from ncsweep.data.augment.fused import FusedPipeline
from ncsweep.data.augment.kernels import unit_float
from ncsweep.data.augment.ops import BatchOp, from_torchvision
from ncsweep.data.transforms import MultiView

__all__ = ["BatchPipeline"]


class BatchPipeline:
    """Batched ops applied in order to ``views`` copies of each sample.

    Args:
        ops: batched ops (``ncsweep.data.augment.ops``), applied in order.
        views: V; with V > 1 the output is B×V×C×H×W.
    """

    def __init__(self, ops: Sequence[BatchOp], views: int = 1) -> None:
        if views < 1:
            raise ValueError(f"views must be >= 1, got {views}")
        self.ops, self.views = list(ops), views
        self.fused = FusedPipeline.plan(self.ops, views)

    @classmethod
    def from_torchvision(cls, transform: Any) -> BatchPipeline:
        """The pipeline equivalent to a torchvision ``Compose`` (optionally in ``MultiView``)."""
        views = 1
        if isinstance(transform, MultiView):
            transform, views = transform.transform, transform.views
        steps = transform.transforms if isinstance(transform, T.Compose) else [transform]
        return cls([from_torchvision(t) for t in steps], views)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"need a B×C×H×W batch, got shape {tuple(x.shape)}")
        b = len(x)
        if self.fused is not None and self.fused.accepts(x):
            x = self.fused(x, generator)
        else:
            x = self.run_ops(x, generator)
        return x.reshape(b, self.views, *x.shape[1:]) if self.views > 1 else x

    def run_ops(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The ops one after another on ``views`` copies of each sample: (B·V)×C×h×w float."""
        if self.views > 1:
            x = x.repeat_interleave(self.views, dim=0)
        for op in self.ops:
            x = op(x, generator)
        return unit_float(x)

    def without_augmentation(self) -> BatchPipeline:
        """The fixed steps only (``ToFloat``, ``Normalize``), one view: CIFAR's eval transform."""
        return BatchPipeline([op for op in self.ops if not op.random])

    def __repr__(self) -> str:
        return f"BatchPipeline({self.ops}, views={self.views})"
