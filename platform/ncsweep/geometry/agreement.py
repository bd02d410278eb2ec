"""Second pass for NC4: agreement of the trained classifier with the nearest-class-centre rule.

NC4 (Papyan et al. 2020) needs the FINAL class means, so it is a second pass over the data
after :class:`~ncsweep.geometry.stats.ClassStats` is complete (and all-reduced)::

    ncc(h) = argmin_c ‖h − μ_c‖²  over non-empty classes c      (raw features h)
    ncc_mismatch = #{i : argmax_c logits_ic ≠ ncc(h_i)} / #{samples with logits}
    ncc_accuracy = #{i : ncc(h_i) = y_i} / #{samples}

Counters are float64 sums in one flat buffer, so shards merge by addition and reduce with
ONE ``all_reduce``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._host import times_transposed
from .stats import ClassStats

__all__ = ["NCCAgreement"]

# Layout of the counter buffer.
_SAMPLES, _NCC_CORRECT, _WITH_LOGITS, _MISMATCH, _CLF_CORRECT = range(5)


class NCCAgreement:
    """Accumulates nearest-class-centre accuracy and its disagreement with a classifier.

    Args:
        stats: finished first-pass statistics; its raw class means are copied now.
    """

    def __init__(self, stats: ClassStats) -> None:
        self.num_classes = stats.num_classes
        self.dim = stats.dim
        counts = stats.counts
        if not bool((counts > 0).any()):
            raise ValueError("NCCAgreement needs statistics with at least one sample")
        means = stats.class_means()
        self._present = (counts > 0).to(stats.device)
        self._means = torch.where(self._present.unsqueeze(1), means, torch.zeros_like(means))
        self._sqnorm = self._means.square().sum(1)
        self._buffer = torch.zeros(5, dtype=torch.float64, device=stats.device)

    @property
    def device(self) -> torch.device:
        return self._buffer.device

    def ncc_predict(self, features: Tensor) -> Tensor:
        """``[B]`` nearest-class-centre prediction for raw features ``[B, D]`` (float64 math)."""
        h = features.detach().to(device=self.device, dtype=torch.float64)
        # ‖h − μ‖² = ‖h‖² − 2h·μ + ‖μ‖²; ‖h‖² is constant per row.
        dist = self._sqnorm - 2.0 * times_transposed(h, self._means)
        dist = dist.masked_fill(~self._present, float("inf"))
        return dist.argmin(dim=1)

    def update(
        self, features: Tensor, labels: Tensor, logits: Tensor | None = None
    ) -> NCCAgreement:
        """Add a batch.

        Args:
            features: ``[B, D]`` raw features ``h``.
            labels: ``[B]`` class ids in ``[0, K)``.
            logits: ``[B, K]`` scores of the trained classifier, or ``None`` (then only the
                NCC accuracy is accumulated).
        """
        K, D = self.num_classes, self.dim
        if features.dim() != 2 or features.shape[1] != D:
            raise ValueError(f"features must have shape [B, {D}], got {list(features.shape)}")
        B = features.shape[0]
        labels = labels.reshape(-1)
        if labels.numel() != B:
            raise ValueError(f"labels must have {B} entries, got {labels.numel()}")
        if B and (int(labels.min()) < 0 or int(labels.max()) >= K):
            raise ValueError(
                f"labels must lie in [0, {K}), got values in "
                f"[{int(labels.min())}, {int(labels.max())}]"
            )
        if logits is not None and tuple(logits.shape) != (B, K):
            raise ValueError(f"logits must have shape [{B}, {K}], got {list(logits.shape)}")
        y = labels.to(device=self.device, dtype=torch.long)
        pred = self.ncc_predict(features)
        self._buffer[_SAMPLES] += B
        self._buffer[_NCC_CORRECT] += (pred == y).sum()
        if logits is not None:
            clf = logits.detach().to(self.device).argmax(dim=1)
            self._buffer[_WITH_LOGITS] += B
            self._buffer[_MISMATCH] += (clf != pred).sum()
            self._buffer[_CLF_CORRECT] += (clf == y).sum()
        return self

    def merge(self, other: NCCAgreement) -> NCCAgreement:
        """Add ``other``'s counters (in place); returns ``self``."""
        if (other.num_classes, other.dim) != (self.num_classes, self.dim):
            raise ValueError(
                f"cannot merge agreement of (K={other.num_classes}, D={other.dim}) into "
                f"(K={self.num_classes}, D={self.dim})"
            )
        self._buffer.add_(other._buffer.to(self.device))
        return self

    def all_reduce(self) -> NCCAgreement:
        """Sum counters over ranks (ONE ``all_reduce``); no-op without torch.distributed."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self._buffer)
        return self

    @property
    def num_samples(self) -> int:
        return int(self._buffer[_SAMPLES])

    @property
    def num_with_logits(self) -> int:
        return int(self._buffer[_WITH_LOGITS])

    @property
    def ncc_accuracy(self) -> float | None:
        """Fraction of samples the nearest-class-centre rule classifies correctly."""
        n = float(self._buffer[_SAMPLES])
        return float(self._buffer[_NCC_CORRECT]) / n if n else None

    @property
    def classifier_accuracy(self) -> float | None:
        """Accuracy of ``argmax logits`` over the samples that came with logits."""
        n = float(self._buffer[_WITH_LOGITS])
        return float(self._buffer[_CLF_CORRECT]) / n if n else None

    @property
    def mismatch(self) -> float | None:
        """NC4: fraction of samples (with logits) where classifier and NCC disagree."""
        n = float(self._buffer[_WITH_LOGITS])
        return float(self._buffer[_MISMATCH]) / n if n else None
