"""Cross-batch memory: a ring buffer of past unit features and their labels.

Like pytorch-metric-learning's ``CrossBatchMemory``, the contents are module buffers, so
they are saved in ``state_dict`` and a resumed run contrasts against the same entries.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["CrossBatchMemory"]


class CrossBatchMemory(nn.Module):
    """Ring buffer of the last ``size`` feature rows and labels.

    Enqueue order: the rows of a batch are written in order into the slots
    ``ptr, ptr+1, … (mod size)``, then ``ptr`` advances by the batch length; once full,
    each new row overwrites the oldest one. If a batch is longer than ``size`` only its
    last ``size`` rows are kept. :meth:`get` returns the entries oldest first, so after
    any sequence of enqueues it equals the last ``len(self)`` rows of all enqueued rows
    concatenated. Entries are stored detached.

    The feature dimension is not known at construction: the buffer is materialised on the
    first enqueue, or from the saved shapes when a ``state_dict`` is loaded, so a loss
    built with the same constructor arguments can resume from a checkpoint.

    Args:
        size: capacity in rows (> 0).

    Example:
        >>> mem = CrossBatchMemory(4)
        >>> mem.enqueue(torch.eye(3), torch.tensor([0, 1, 2]))
        >>> mem.enqueue(torch.eye(3), torch.tensor([0, 1, 2]))
        >>> mem.get()[1].tolist()
        [2, 0, 1, 2]
    """

    features: torch.Tensor
    labels: torch.Tensor
    ptr: torch.Tensor
    filled: torch.Tensor

    def __init__(self, size: int) -> None:
        super().__init__()
        if size <= 0:
            raise ValueError(f"memory size must be > 0, got {size}")
        self.size = int(size)
        self.register_buffer("features", torch.zeros(0, 0))
        self.register_buffer("labels", torch.zeros(0, dtype=torch.long))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        # Python mirrors of ptr/filled: reading the buffers would sync with the GPU each step.
        self._ptr = 0
        self._filled = 0

    def __len__(self) -> int:
        return self._filled

    @torch.no_grad()
    def enqueue(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Append ``features`` (n×D) and ``labels`` (n), detached, overwriting the oldest."""
        if self.features.shape[0] != self.size:
            self.features = features.new_zeros(self.size, features.shape[1])
            self.labels = labels.new_zeros(self.size, dtype=torch.long)
        elif self.features.device != features.device:
            # a loss restored on the CPU and never moved follows its inputs
            self.features, self.labels = (
                self.features.to(features.device),
                self.labels.to(features.device),
            )
        features, labels = features[-self.size :], labels[-self.size :]
        n = features.shape[0]
        slots = (self._ptr + torch.arange(n, device=self.features.device)) % self.size
        self.features.index_copy_(0, slots, features.detach().to(self.features.dtype))
        self.labels.index_copy_(0, slots, labels.to(torch.long))
        self._ptr = (self._ptr + n) % self.size
        self._filled = min(self._filled + n, self.size)
        self.ptr.fill_(self._ptr)
        self.filled.fill_(self._filled)

    def get(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Entries oldest first: features (len×D) and labels (len)."""
        if self._filled < self.size:
            return self.features[: self._filled], self.labels[: self._filled]
        order = torch.cat([self.features[self._ptr :], self.features[: self._ptr]])
        labels = torch.cat([self.labels[self._ptr :], self.labels[: self._ptr]])
        return order, labels

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        for name in ("features", "labels"):
            saved = state_dict.get(prefix + name)
            current = getattr(self, name)
            # Materialise the lazy buffer; a different capacity is left for torch to report.
            if saved is not None and saved.shape != current.shape and saved.shape[0] == self.size:
                setattr(
                    self, name, torch.zeros(saved.shape, dtype=saved.dtype, device=current.device)
                )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._ptr = int(self.ptr)
        self._filled = int(self.filled)
