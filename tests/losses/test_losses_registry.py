"""The registry is the catalogue; every registered loss honours the training-loop contract."""

from __future__ import annotations

import pytest
import torch
from reference_losses import call, make_inputs
from torch import nn

import ncsweep.losses as losses
from ncsweep.losses import create_loss, list_losses


def test_registry_lists_the_five_paper_losses():
    assert list_losses() == ["ce", "nonl", "normface", "ntce", "scl"]


def test_unknown_loss_name_lists_the_allowed_names():
    with pytest.raises(
        ValueError, match="unknown loss 'foo'; allowed: ce, nonl, normface, ntce, scl"
    ):
        create_loss("foo")


def test_unknown_option_lists_the_allowed_options():
    with pytest.raises(
        ValueError, match="unknown key 'tau'; loss 'ntce' takes: temperature .*, gather .*, memory"
    ):
        create_loss("ntce", tau=0.1)


def test_register_loss_rejects_a_second_class_under_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):
        losses.register_loss("ce", losses.LossInfo("other"))(type("Other", (nn.Module,), {}))


@pytest.mark.parametrize("name", list_losses())
def test_loss_is_exported_from_the_namespace(name):
    cls = type(create_loss(name))
    assert getattr(losses, cls.__name__) is cls and cls.__name__ in losses.__all__


@pytest.mark.parametrize("name", list_losses())
def test_contract_finite_scalar_and_gradients_reach_the_inputs(name):
    loss = create_loss(name)
    assert isinstance(loss, nn.Module)
    assert isinstance(loss.normalized, bool) and isinstance(loss.uses_prototypes, bool)
    assert loss.views == (2 if name == "scl" else 1)
    assert loss.normalized == (name != "ce") and loss.uses_prototypes == (name != "scl")
    features, labels, prototypes = make_inputs(loss, b=16, d=8, k=4, dtype=torch.float32)
    features.requires_grad_()
    if prototypes is not None:
        prototypes.requires_grad_()
    value = call(loss, features, labels, prototypes)
    value.backward()
    assert value.dim() == 0 and torch.isfinite(value)
    assert (
        features.grad is not None
        and torch.isfinite(features.grad).all()
        and features.grad.abs().sum() > 0
    )
    if loss.uses_prototypes:
        assert torch.isfinite(prototypes.grad).all() and prototypes.grad.abs().sum() > 0
    assert isinstance(loss.negative_set_size, int) and loss.negative_set_size > 0


@pytest.mark.parametrize(
    ("autocast_dtype", "input_dtype"),
    [
        (torch.bfloat16, torch.float32),
        (torch.bfloat16, torch.bfloat16),
        (torch.float16, torch.float16),
    ],
)
@pytest.mark.parametrize("name", list_losses())
def test_low_precision_autocast_on_cpu_gives_finite_float32_results(
    name, autocast_dtype, input_dtype
):
    loss = create_loss(name) if name == "ce" else create_loss(name, temperature=0.01)
    features, labels, prototypes = make_inputs(loss, b=16, d=8, k=4, dtype=input_dtype)
    features.requires_grad_()
    with torch.autocast("cpu", dtype=autocast_dtype):
        value = call(loss, features, labels, prototypes)
    value.backward()
    assert value.dtype == torch.float32 and torch.isfinite(value)
    assert torch.isfinite(features.grad.float()).all()
