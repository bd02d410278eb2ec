"""Seeded, stratified splits of a labelled set: how ``val`` is carved from the training data
(seeded by the run's seed) and how a dataset without an official test split holds out a
fixed test part (a constant seed, so every run is scored on the same images)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["TEST_SEED", "check_fraction", "stratified_split"]

#: The seed of every fixed test split: a constant, never the run's seed.
TEST_SEED = 20_240_901


def check_fraction(name: str, value: float) -> float:
    """``value`` if it is a number in (0, 1), else a ``ValueError`` naming the option."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def stratified_split(
    targets: Sequence[int] | np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, held)``: sorted indices into ``targets`` (N labels), disjoint, covering all.

    Per class c with ``n_c`` samples, ``held`` takes ``round(fraction · n_c)`` of them, at
    least one and at most ``n_c − 1`` (a class of one sample stays in ``kept``), drawn with
    ``numpy.random.default_rng(seed)``, classes in ascending order. Same ``targets``,
    ``fraction`` and ``seed``: the same split, on any machine.
    """
    labels = np.asarray(targets)
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < 2:
            continue
        n = min(max(1, round(fraction * len(members))), len(members) - 1)
        held.append(members[rng.permutation(len(members))[:n]])
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[held_idx] = False
    return np.flatnonzero(mask), held_idx
