"""Analytic gradients of every loss agree with finite differences (float64 gradcheck)."""

from __future__ import annotations

import pytest
import torch
from reference_losses import call, make_inputs

from ncsweep.losses import create_loss

CASES = [
    ("ce", {}),
    ("normface", {}),
    ("ntce", {}),
    ("nonl", {"anchor": "prototype"}),
    ("nonl", {"anchor": "instance"}),
    ("nonl", {"anchor": "bidirectional", "align_weight": 0.5, "unif_weight": 2.0}),
    ("scl", {"base_temperature": 0.07}),
]


@pytest.mark.parametrize(("b", "k"), [(6, 3), (3, 5)], ids=["K<B", "K>B"])
@pytest.mark.parametrize(("name", "options"), CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_gradcheck_features_and_prototypes(name, options, b, k):
    loss = create_loss(name, temperature=0.5, **options) if name != "ce" else create_loss(name)
    features, labels, prototypes = make_inputs(loss, b=b, d=4, k=k, seed=5)
    inputs = (features.requires_grad_(),)
    if loss.uses_prototypes:
        inputs += (prototypes.requires_grad_(),)
    assert torch.autograd.gradcheck(lambda *x: loss(x[0], labels, *x[1:]), inputs)


@pytest.mark.parametrize("name", ["ntce", "nonl", "scl"])
def test_gradcheck_with_memory_columns(name):
    loss = create_loss(name, temperature=0.5, memory=5)
    features, labels, prototypes = make_inputs(loss, b=4, d=4, k=3, seed=6)
    call(loss, *make_inputs(loss, b=4, d=4, k=3, seed=7))
    saved = {key: value.clone() for key, value in loss.state_dict().items()}

    def frozen_memory(*x):
        loss.load_state_dict(saved)  # every evaluation sees the same memory
        return loss(x[0], labels, *x[1:])

    inputs = (features.requires_grad_(),)
    if loss.uses_prototypes:
        inputs += (prototypes.requires_grad_(),)
    assert torch.autograd.gradcheck(frozen_memory, inputs)
