"""A sweep is resolved once into a frozen plan, and each setting is declared once (issue 23).

Fast: no Ray is started (``resolve_plan`` runs before it) and no tracking server is needed.
"""

from __future__ import annotations

import dataclasses

import pydantic
import pytest
import typer
import yaml

from ncsweep.cli import app
from ncsweep.cli._options import all_settings
from ncsweep.config import SpecError
from ncsweep.plan.plan import SweepPlan
from ncsweep.plan.presets import load_preset
from ncsweep.plan.settings import SweepSettings, flag_of
from ncsweep.plan.spaces import list_families
from ncsweep.plan.sweep_config import SweepConfig, sweep_config
from ncsweep.sweep.resolve import resolve_plan


@pytest.fixture()
def where(tmp_path):
    return {"storage": str(tmp_path / "ray"), "tracking_uri": f"sqlite:///{tmp_path}/m.db"}


@pytest.fixture(scope="module")
def digits_plan(tmp_path_factory) -> SweepPlan:
    tmp = tmp_path_factory.mktemp("plan")
    config = SweepConfig(
        name="p", storage=str(tmp / "ray"), tracking_uri=f"sqlite:///{tmp}/m.db", trials=2
    )
    return resolve_plan(config)


def test_digits_plan_has_each_familys_space_and_base_spec(digits_plan):
    preset = load_preset("digits")
    assert list(digits_plan.families) == list_families()
    for family, planned in digits_plan.families.items():
        space = preset.space_for(family)
        assert planned.space.family == family
        assert planned.space.keys == space.keys
        base = planned.base_spec()
        assert base["loss"]["name"] == family
        # preset spec, then the sweep's resources (trial workers and CPUs)
        assert base["data"]["name"] == preset.spec["data"]["name"]
        assert base["run"]["workers"] == digits_plan.config.workers_per_trial == 1
        assert base["run"]["cpus_per_worker"] == digits_plan.config.cpus_per_worker
        assert planned.in_trial and dict(planned.resources) == {"cpu": 1.0}
        assert planned.max_evaluations == base["run"]["epochs"]
        assert planned.warm_point is None
        assert f"family: {family}" in planned.space_text
    assert digits_plan.objective.name == "accuracy"
    assert digits_plan.config.trials == 2


def test_the_objectives_suite_is_in_every_base_spec(where):
    config = SweepConfig(name="o", families=["ce"], objective="eval/probes/acc/probe", **where)
    plan = resolve_plan(config)
    assert plan.objective.suite == "probes"
    assert "probes" in plan.families["ce"].base["eval"]["suites"]


def test_the_plan_is_immutable(digits_plan):
    with pytest.raises(dataclasses.FrozenInstanceError):
        digits_plan.config = None
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        digits_plan.config.trials = 9
    with pytest.raises(TypeError):
        digits_plan.families["ce"] = None
    planned = digits_plan.families["ce"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        planned.max_evaluations = 1
    with pytest.raises(TypeError):
        planned.base["run"]["epochs"] = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        planned.space.params = ()
    copy = planned.base_spec()
    copy["run"]["epochs"] = 10_000  # a trial's spec is a copy: the plan does not change
    assert planned.base["run"]["epochs"] != 10_000


def test_a_bad_preset_key_is_a_spec_error_naming_file_key_and_allowed(tmp_path, where):
    preset = tmp_path / "typo.yaml"
    preset.write_text(
        yaml.safe_dump({"spec": {"data": {"name": "digits"}}, "sweep": {"trialz": 3}})
    )
    with pytest.raises(SpecError) as err:
        sweep_config(preset=str(preset), **where)
    text = str(err.value)
    assert str(preset) in text and "sweep.trialz" in text
    assert "allowed" in text and "trials" in text and "grace_period" in text


def test_a_bad_family_is_a_spec_error_naming_the_allowed_ones(where):
    with pytest.raises(SpecError) as err:
        sweep_config(families=["ce", "focal"], **where)
    assert "focal" in str(err.value) and "nonl" in str(err.value)


def test_a_bad_warm_start_source_is_a_spec_error_before_ray_starts(tmp_path, where, monkeypatch):
    ray = pytest.importorskip("ray")

    def refuse(*args, **kwargs):
        raise AssertionError("resolving the plan started Ray")

    # another test of the session may have started Ray already: starting it is what is checked
    monkeypatch.setattr(ray, "init", refuse)
    empty = tmp_path / "no_configs"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no exported config"):  # plan/names.py
        SweepConfig(name="w", families=["ce"], warm_start=str(empty), **where)
    (empty / "nonl.yaml").write_text("loss:\n  name: nonl\n")
    with pytest.raises(SpecError, match="no config for any of ce"):
        resolve_plan(SweepConfig(name="w", families=["ce"], warm_start=str(empty), **where))
    # an earlier sweep's name needs the tracking store: an unreachable one is said at once
    offline = {**where, "tracking_uri": "http://127.0.0.1:9"}
    with pytest.raises(SpecError, match="no MLflow server answers"):
        resolve_plan(SweepConfig(name="w", families=["ce"], warm_start="earlier", **offline))


def test_a_warm_start_folder_gives_the_first_point_inside_the_space(tmp_path, where):
    folder = tmp_path / "best"
    folder.mkdir()
    exported = {"loss": {"name": "ce"}, "optim": {"lr": 0.2, "weight_decay": 99.0}}
    (folder / "ce.yaml").write_text(yaml.safe_dump(exported))
    plan = resolve_plan(SweepConfig(name="w", families=["ce"], warm_start=str(folder), **where))
    assert dict(plan.families["ce"].warm_point) == {"optim.lr": 0.2}
    assert any("optim.weight_decay=99.0 is outside the space" in n for n in plan.notes)
    assert resolve_plan(plan.config, resume=True).families["ce"].warm_point is None


def _options(*path: str) -> dict[str, object]:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return {p.name: p for p in command.params}


def test_every_setting_is_user_facing_with_one_flag():
    undeclared = [n for n, f in SweepConfig.model_fields.items() if flag_of(f) is None]
    assert undeclared == []
    assert sorted(all_settings()) == sorted(SweepConfig.model_fields)


def test_the_sweep_options_are_the_declared_settings_with_their_help():
    options = _options("sweep")
    for name in all_settings():
        field = SweepConfig.model_fields[name]
        flag = flag_of(field)
        matching = [p for p in options.values() if flag.flag(name) in p.opts]
        assert [p.name for p in matching] == [name], name
        # preset and families get the registered names appended when help is shown
        assert matching[0].help.startswith(field.description.removesuffix(".")), name
        if flag.off:
            assert matching[0].secondary_opts == [flag.off]
    assert options["preset"].default == "digits"
    assert all(options[n].default is None for n in SweepSettings.model_fields)
    assert not options["shared_storage"].default


def test_resume_shares_the_declarations_of_the_settings_it_takes():
    options = _options("resume")
    for name in ("storage", "shared_storage", "tracking_uri", "time_budget", "gpu_hours"):
        assert options[name].help == SweepConfig.model_fields[name].description
    assert "trials" not in options
