"""Each loss family is described once (its LossInfo); the spec, heads and help derive from it."""

from __future__ import annotations

import inspect

import pytest

from ncsweep.config import SpecError, spec_from_dict
from ncsweep.losses import HEADS, create_loss, evaluation_loss, list_losses, loss_info
from ncsweep.losses._registry import LossInfo, Option, register_loss, unregister_loss


@pytest.mark.parametrize("name", list_losses())
def test_options_and_defaults_are_the_constructors(name):
    info = loss_info(name)
    params = inspect.signature(info.cls.__init__).parameters
    assert info.defaults == {k: p.default for k, p in params.items() if k != "self"}
    assert info.head in HEADS and info.description and info.views >= 1


@pytest.mark.parametrize("name", list_losses())
def test_the_spec_takes_exactly_the_family_options_with_their_defaults(name):
    spec = spec_from_dict({"loss": {"name": name}})
    assert spec.loss.kwargs() == loss_info(name).defaults
    assert spec.loss.model_dump() == {"name": name, **loss_info(name).defaults}


@pytest.mark.parametrize(
    ("name", "option"),
    [
        (n, o)
        for n in list_losses()
        for o in loss_info(n).options
        if o.gt is not None or o.ge is not None
    ],
)
def test_a_value_below_the_declared_range_is_refused_by_spec_and_factory(name, option):
    low = option.gt if option.gt is not None else option.ge - 1
    with pytest.raises(SpecError) as err:
        spec_from_dict({"loss": {"name": name, option.name: low}}, "f.yaml")
    assert f"loss.{option.name}" in str(err.value) and f"loss '{name}' takes" in str(err.value)
    with pytest.raises(ValueError, match=option.name):
        create_loss(name, **{option.name: low})


def test_unknown_option_and_wrong_type_name_the_key_and_the_allowed_values():
    with pytest.raises(SpecError) as err:
        spec_from_dict({"loss": {"name": "nonl", "tau": 1, "anchor": "both", "gather": 1}})
    text = str(err.value)
    assert "unknown key 'loss.tau'" in text
    assert "loss.anchor='both': must be one of prototype, instance, bidirectional" in text
    assert "loss.gather=1: must be bool" in text


def test_the_head_views_and_evaluation_loss_come_from_the_descriptor():
    assert {n: loss_info(n).head for n in list_losses()} == {
        "ce": "linear",
        "nonl": "prototype",
        "normface": "prototype",
        "ntce": "prototype",
        "scl": "projection",
    }
    assert type(evaluation_loss("scl", {"temperature": 0.2})).__name__ == "NormFaceLoss"
    ntce = evaluation_loss("ntce", {"temperature": 0.2, "gather": True, "memory": 64})
    assert not ntce.negatives.gather and ntce.negatives.memory is None


def test_registration_refuses_options_that_are_not_the_constructors():
    class Bad:
        def __init__(self, temperature: float = 0.1) -> None: ...

    with pytest.raises(ValueError, match="must be the constructor's arguments"):
        register_loss("bad", LossInfo("bad", options=(Option("tau", float),)))(Bad)
    unregister_loss("bad")
    assert "bad" not in list_losses()
