"""Long-tailed training sets for any dataset (Cao et al. 2019, LDAM; the paper's CIFAR-LT).

With ``n_max`` the smallest per-class count of the balanced training set (the per-class count
for CIFAR; the smallest class for digits, so every class can deliver) and K classes:

- ``exp``:  ``n_c = floor(n_max · r^(c/(K−1)))`` for class index c = 0 … K−1;
- ``step``: the first ``K // 2`` classes keep ``n_max``, the rest get ``floor(n_max · r)``.

Each count is at least 1. Class c keeps a seeded random subset of ``n_c`` of its samples, in
their original order. Only ``train`` and ``train_eval`` change (the same indices); ``val``
(carved from the training data before the imbalance) and ``test`` stay balanced, as in the
paper's evaluation.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypedDict

import torch

from ncsweep.data.bundle import DataBundle
from ncsweep.data.in_memory import subset, targets_of

__all__ = [
    "PROFILES",
    "Imbalance",
    "apply_imbalance",
    "long_tail_counts",
    "long_tail_indices",
    "validate_imbalance",
]

PROFILES = ("exp", "step")
_KEYS = ("ratio", "profile")


class Imbalance(TypedDict):
    """A checked ``data.imbalance``: the long tail's ratio in (0, 1] and its profile."""

    ratio: float
    profile: str


def validate_imbalance(imbalance: dict[str, Any] | None) -> Imbalance | None:
    """Check ``{"ratio": r, "profile": "exp" | "step"}``; ``None`` stays ``None``.

    ``profile`` defaults to ``"exp"``. Raises ``ValueError`` naming the allowed values.
    """
    if imbalance is None:
        return None
    if not isinstance(imbalance, dict):
        raise ValueError(f"imbalance must be a dict with keys {list(_KEYS)}, got {imbalance!r}")
    unknown = sorted(set(imbalance) - set(_KEYS))
    if unknown:
        raise ValueError(f"unknown imbalance key(s) {unknown}; allowed: {', '.join(_KEYS)}")
    if "ratio" not in imbalance:
        raise ValueError("imbalance needs 'ratio' in (0, 1]")
    ratio = imbalance["ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
        raise ValueError(f"imbalance ratio must be a number in (0, 1], got {ratio!r}")
    profile = imbalance.get("profile", "exp")
    if profile not in PROFILES:
        raise ValueError(f"unknown imbalance profile {profile!r}; allowed: {', '.join(PROFILES)}")
    return {"ratio": float(ratio), "profile": profile}


def long_tail_counts(n_max: int, num_classes: int, ratio: float, profile: str = "exp") -> list[int]:
    """Per-class sample counts of the long tail (see the module docstring); length K."""
    validate_imbalance({"ratio": ratio, "profile": profile})
    k = num_classes
    if profile == "exp":
        counts = [math.floor(n_max * ratio ** (c / max(k - 1, 1))) for c in range(k)]
    else:
        counts = [n_max if c < k // 2 else math.floor(n_max * ratio) for c in range(k)]
    return [max(1, n) for n in counts]


def long_tail_indices(targets: torch.Tensor, counts: list[int], seed: int) -> torch.Tensor:
    """Sorted indices keeping a seeded random ``counts[c]`` samples of each class c."""
    generator = torch.Generator().manual_seed(seed)
    keep = []
    for c, n in enumerate(counts):
        members = torch.nonzero(targets == c).flatten()
        if len(members) < n:
            raise ValueError(f"class {c} has {len(members)} samples, the long tail asks {n}")
        keep.append(members[torch.randperm(len(members), generator=generator)[:n]])
    return torch.cat(keep).sort().values


def apply_imbalance(
    bundle: DataBundle, *, ratio: float, profile: str = "exp", seed: int = 0
) -> DataBundle:
    """A copy of ``bundle`` whose train and train_eval splits follow the long tail (val and
    test unchanged)."""
    targets = targets_of(bundle.train)
    available = torch.bincount(targets, minlength=bundle.num_classes)
    counts = long_tail_counts(int(available.min()), bundle.num_classes, ratio, profile)
    indices = long_tail_indices(targets, counts, seed)
    return dataclasses.replace(
        bundle,
        train=subset(bundle.train, indices),
        train_eval=subset(bundle.train_eval, indices),
        class_counts=counts,
    )
