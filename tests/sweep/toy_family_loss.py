"""A sixth loss family defined outside the package, the way a user adds one: this module
registers it at import; its search space names this module as ``base.loss.module``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ncsweep.losses import LossInfo, Option, register_loss

NAME = "cosface"


@register_loss(
    NAME,
    LossInfo(
        "additive-margin NormFace (CosFace): s·(cos − m) for the true class",
        options=(
            Option("scale", float, "s, the inverse temperature", gt=0),
            Option("margin", float, "m, subtracted from the true-class cosine", ge=0, lt=1),
        ),
        probe_temperature=lambda options: 1 / options["scale"],  # τ = 1/s
    ),
)
class CosFaceLoss(nn.Module):
    """``ℓ_i = −log softmax(s·(cos(ŵ_c, u_i) − m·[c = y_i]))_{y_i}``; B×D, K×D -> scalar."""

    def __init__(self, scale: float = 10.0, margin: float = 0.2) -> None:
        super().__init__()
        if scale <= 0 or not 0 <= margin < 1:
            raise ValueError(f"scale must be > 0 and margin in [0, 1); got {scale}, {margin}")
        self.scale, self.margin = float(scale), float(margin)
        self.negative_set_size = 0

    def forward(self, features, labels, prototypes=None, bias=None) -> torch.Tensor:
        self.negative_set_size = prototypes.shape[0]
        cos = F.normalize(features.float(), dim=1) @ F.normalize(prototypes.float(), dim=1).T
        margin = F.one_hot(labels, cos.shape[1]).to(cos) * self.margin
        return F.cross_entropy(self.scale * (cos - margin), labels)
