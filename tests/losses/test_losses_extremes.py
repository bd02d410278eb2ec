"""Extreme but legal inputs give finite values and gradients, never a NaN."""

from __future__ import annotations

import pytest
import torch
from reference_losses import call, make_inputs

from ncsweep.losses import create_loss, list_losses

GRID = [(name, {}) for name in list_losses()] + [
    ("nonl", {"anchor": "instance"}),
    ("nonl", {"anchor": "bidirectional"}),
    ("ntce", {"memory": 8}),
    ("scl", {"memory": 8}),
]


def aligned(loss, labels, k=4, d=6):
    """Features exactly on their class prototype (scaled), views identical."""
    prototypes = torch.randn(k, d, generator=torch.Generator().manual_seed(0))
    features = 3.0 * prototypes[labels]
    if loss.views > 1:
        features = features[:, None].expand(-1, loss.views, -1).clone()
    return features, prototypes


CASES = {
    "tau0.01-aligned": (0.01, torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])),
    "one-class": (0.1, torch.tensor([2, 2, 2, 2, 2])),
    "batch-of-1": (0.1, torch.tensor([1])),
    "classes-missing": (0.1, torch.tensor([0, 0, 3, 3, 3])),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(("name", "options"), GRID, ids=lambda v: str(v))
def test_extreme_batch_gives_finite_loss_and_gradients(name, options, case):
    temperature, labels = CASES[case]
    loss = (
        create_loss(name, **options)
        if name == "ce"
        else create_loss(name, temperature=temperature, **options)
    )
    for _ in range(2):  # the second call also sees the memory
        features, prototypes = aligned(loss, labels)
        features.requires_grad_()
        prototypes.requires_grad_()
        value = call(loss, features, labels, prototypes)
        value.backward()
        assert torch.isfinite(value)
        assert torch.isfinite(features.grad).all()
        if loss.uses_prototypes:
            assert torch.isfinite(prototypes.grad).all()


@pytest.mark.parametrize("memory", [0, 8])
def test_nonl_without_any_negative_is_a_connected_zero(memory):
    loss = create_loss("nonl", memory=memory)
    features, labels, prototypes = make_inputs(loss, b=5, labels=torch.full((5,), 2))
    features.requires_grad_()
    value = loss(features, labels, prototypes)
    assert value.grad_fn is not None and float(value.detach()) == 0.0
    value.backward()
    assert torch.equal(features.grad, torch.zeros_like(features))


def test_loss_is_finite_at_small_temperature_in_float32_with_large_logits():
    loss = create_loss("ntce", temperature=0.01)
    features, labels, prototypes = make_inputs(loss, b=64, d=16, k=4, dtype=torch.float32)
    assert torch.isfinite(loss(features, labels, prototypes))
