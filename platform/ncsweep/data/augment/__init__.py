"""Batched, seeded image augmentation on uint8 or float B×C×H×W tensors (CPU or CUDA).

- :mod:`~ncsweep.data.augment.kernels`: deterministic per-sample kernels (no randomness).
- :mod:`~ncsweep.data.augment.ops`: random ops drawing per-sample parameters like
  torchvision's transforms, from an explicit ``torch.Generator``.
- :mod:`~ncsweep.data.augment.pipeline`: ``BatchPipeline.from_torchvision(train_tf)``.
- :mod:`~ncsweep.data.augment.fused`: the usual CPU pipelines with a resize or colour stage
  as one numba pass per view (same draws as the ops), which ``BatchPipeline`` takes itself.
"""

from ncsweep.data.augment.ops import from_torchvision, supported_transforms
from ncsweep.data.augment.pipeline import BatchPipeline

__all__ = ["BatchPipeline", "from_torchvision", "supported_transforms"]
