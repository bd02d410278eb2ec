"""Normalised losses ignore feature/prototype norms; every loss ignores the batch order."""

from __future__ import annotations

import pytest
import torch
from reference_losses import call, make_inputs

from ncsweep.losses import create_loss, list_losses

NORMALIZED = [name for name in list_losses() if create_loss(name).normalized]
EXTRA = {"nonl": [{"anchor": a} for a in ("prototype", "instance", "bidirectional")]}
GRID = [(name, options) for name in list_losses() for options in EXTRA.get(name, [{}])]


@pytest.mark.parametrize(
    ("name", "options"), [g for g in GRID if g[0] in NORMALIZED], ids=lambda v: str(v)
)
def test_normalized_loss_is_invariant_to_positive_rescaling(name, options):
    loss = create_loss(name, **options)
    features, labels, prototypes = make_inputs(loss, seed=8)
    g = torch.Generator().manual_seed(9)
    scale = torch.rand(*features.shape[:-1], 1, generator=g, dtype=torch.float64) * 10 + 0.1
    scaled_prototypes = None
    if prototypes is not None:
        scaled_prototypes = prototypes * (
            torch.rand(len(prototypes), 1, generator=g, dtype=torch.float64) * 10 + 0.1
        )
    expected = call(loss, features, labels, prototypes)
    assert float(call(loss, features * scale, labels, scaled_prototypes)) == pytest.approx(
        float(expected), abs=1e-10
    )


def test_ce_is_not_invariant_to_rescaling():
    loss = create_loss("ce")
    features, labels, prototypes = make_inputs(loss, seed=8)
    assert float(loss(2 * features, labels, prototypes)) != pytest.approx(
        float(loss(features, labels, prototypes))
    )


@pytest.mark.parametrize(("name", "options"), GRID, ids=lambda v: str(v))
def test_loss_is_invariant_to_permuting_the_batch(name, options):
    loss = create_loss(name, **options)
    features, labels, prototypes = make_inputs(loss, seed=10)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(11))
    expected = call(loss, features, labels, prototypes)
    assert float(call(loss, features[order], labels[order], prototypes)) == pytest.approx(
        float(expected), abs=1e-10
    )
