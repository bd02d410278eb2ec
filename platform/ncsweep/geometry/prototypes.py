"""Fixed-prototype classifier: the normalised exact class means of unit features.

docs/paper.md "Evaluation heads for SCL": ``p_c = μ̂_c = ū_c/‖ū_c‖`` with ``ū_c`` the mean of
the unit features ``u = a/‖a‖`` of class c over the training set (exact, from
:class:`ClassStats`, not an EMA of batch means); predict ``argmax_c p_c·u(x)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .stats import ClassStats

__all__ = ["ClassMeanClassifier"]


class ClassMeanClassifier(nn.Module):
    """Cosine classifier with fixed prototypes ``[K, D]`` (registered buffer, checkpointed).

    Args:
        prototypes: ``[K, D]``; rows are normalised to unit norm.
        dtype: storage and compute dtype of the prototypes.
    """

    prototypes: Tensor

    def __init__(self, prototypes: Tensor, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if prototypes.dim() != 2:
            raise ValueError(f"prototypes must be [K, D], got {list(prototypes.shape)}")
        self.register_buffer("prototypes", F.normalize(prototypes.detach().to(dtype), dim=1))

    @classmethod
    def from_stats(
        cls, stats: ClassStats, dtype: torch.dtype = torch.float32
    ) -> ClassMeanClassifier:
        """Prototypes = normalised class means of unit features (float64 maths, then ``dtype``).

        Raises:
            ValueError: a class has no samples (its prototype would be undefined).
        """
        empty = stats.empty_classes
        if empty:
            raise ValueError(f"cannot build class-mean prototypes: classes {empty} have no samples")
        means = F.normalize(stats.class_means(normalized_features=True), dim=1)
        return cls(means, dtype=dtype)

    @property
    def num_classes(self) -> int:
        return self.prototypes.shape[0]

    def logits(self, features: Tensor) -> Tensor:
        """``[B, K]`` cosines ``μ̂_c·u`` of features ``[B, D]`` (any scale: they are normalised)."""
        if features.dim() != 2 or features.shape[1] != self.prototypes.shape[1]:
            raise ValueError(
                f"features must have shape [B, {self.prototypes.shape[1]}], "
                f"got {list(features.shape)}"
            )
        u = F.normalize(features.to(self.prototypes.dtype), dim=1)
        return u @ self.prototypes.T

    def forward(self, features: Tensor) -> Tensor:
        return self.logits(features)

    def predict(self, features: Tensor) -> Tensor:
        """``[B]`` class ids ``argmax_c μ̂_c·u``."""
        return self.logits(features).argmax(dim=1)
