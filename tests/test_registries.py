"""Every registry of the platform honours one contract (``ncsweep.registry.Registry``): an
unknown name lists the allowed names, an unknown option names the key and what the entry
takes, ``describe()`` lists every entry; and each loss family's head is a registered head."""

from __future__ import annotations

import pytest

from ncsweep.data import DATASETS
from ncsweep.evaluate import SUITES
from ncsweep.losses import LOSSES, list_losses, loss_info
from ncsweep.models import HEAD_REGISTRY, MODELS
from ncsweep.registry import Registry
from ncsweep.report import PANEL_KINDS

REGISTRIES = {
    "losses": LOSSES,
    "datasets": DATASETS,
    "models": MODELS,
    "heads": HEAD_REGISTRY,
    "suites": SUITES,
    "panel kinds": PANEL_KINDS,
}
PARAMS = pytest.mark.parametrize("registry", REGISTRIES.values(), ids=list(REGISTRIES))


@PARAMS
def test_an_unknown_name_lists_every_allowed_name(registry: Registry):
    with pytest.raises(ValueError) as err:
        registry.get("no_such_entry", source="f.yaml: key")
    text = str(err.value)
    assert text.startswith(f"f.yaml: key: unknown {registry.kind} 'no_such_entry'; allowed: ")
    assert text.endswith(", ".join(registry.names()))
    assert isinstance(err.value, registry.error)


@PARAMS
def test_an_unknown_option_names_the_key_and_what_the_entry_takes(registry: Registry):
    for name in registry.names():
        with pytest.raises(ValueError) as err:
            registry.validate_options(name, {"no_such_option": 1}, source="f.yaml", prefix="x.")
        text = str(err.value)
        assert text.startswith("f.yaml: unknown key 'x.no_such_option'")
        assert f"{registry.kind} '{name}' takes: " in text
        for option in registry.option_names(name):
            assert f"{option} (" in text
        if not registry.option_names(name):
            assert text.endswith("takes: no options")


@PARAMS
def test_defaults_validate_and_describe_lists_every_entry(registry: Registry):
    lines = registry.describe().splitlines()
    assert [line.split(" ")[0].rstrip(":") for line in lines] == registry.names()
    for name in registry.names():
        given = registry.validate_options(name, registry.defaults(name)).given()
        assert given.keys() == registry.defaults(name).keys()


def test_a_bad_value_names_key_value_and_allowed_values():
    with pytest.raises(ValueError, match=r"loss\.memory=-1: must be int >= 0; loss 'ntce' takes"):
        LOSSES.validate_options("ntce", {"memory": -1}, prefix="loss.")
    with pytest.raises(ValueError, match=r"options\.figures=\['contour'\]: must be one of"):
        PANEL_KINDS.validate_options("search", {"figures": ["contour"]}, prefix="options.")


def test_registration_refuses_a_taken_name_and_unregister_forgets_it():
    registry: Registry[int] = Registry("thing")
    registry.register("a", 1)
    with pytest.raises(ValueError, match="thing 'a' is already registered"):
        registry.register("a", 2)
    registry.unregister("a")
    assert registry.names() == [] and "a" not in registry


@pytest.mark.parametrize("family", list_losses())
def test_every_loss_family_trains_a_registered_head(family):
    assert loss_info(family).head in HEAD_REGISTRY
