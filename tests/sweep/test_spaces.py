"""Search spaces and presets: the shipped files, Optuna define-by-run, validation messages."""

from __future__ import annotations

import math
import random
import shutil
from pathlib import Path

import optuna
import pytest
import yaml

from ncsweep.config import SpecError, spec_from_dict
from ncsweep.losses import list_losses, loss_info
from ncsweep.plan.presets import list_presets, load_preset
from ncsweep.plan.spaces import (
    Param,
    SearchSpace,
    list_families,
    load_space,
    search_spaces_dir,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

SHIPPED = Path(__file__).resolve().parents[2] / "search_spaces"
PRESETS = ("digits", "cifar10", "cifar100", "imagenet100", "imagenet1k")


def _within(param: Param, value) -> bool:
    if param.type == "categorical":
        return any(value == c and type(value) is type(c) for c in param.choices)
    if param.type == "fixed":
        return value == param.value
    if param.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return False
    return param.low <= value <= param.high


def _check_values(space: SearchSpace, values: dict, switches: dict | None = None) -> None:
    """Values lie in their distributions; with the sampled switches, conditionals obey when."""
    by_key = {p.key: p for p in space.params}
    assert all("." in k for k in values), f"switch returned: {values}"
    for key, value in values.items():
        assert _within(by_key[key], value), (key, value)
    for param in space.params if switches is not None else ():
        if not param.is_switch:
            assert (param.key in values) == param.active({**switches, **values}), param.key


# --------------------------------------------------------------------------- shipped files


def test_shipped_directory_is_the_default_and_has_every_family_and_preset():
    assert search_spaces_dir().resolve() == SHIPPED
    assert list_families() == list_losses()
    assert set(PRESETS) <= set(list_presets())


def test_search_spaces_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NCSWEEP_SEARCH_SPACES", str(tmp_path))
    assert search_spaces_dir() == tmp_path
    assert list_families() == []


@pytest.mark.parametrize("family", list_losses())
def test_shipped_family_loads_alone_and_builds_on_default_spec(family):
    space = load_space(family)
    assert space.family == family and space.base["loss"]["name"] == family
    assert space.description
    values = space.sample(random.Random(3))
    spec = spec_from_dict(space.spec_dict({}, values))
    assert spec.loss.name == family


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("family", list_losses())
def test_shipped_preset_and_family_build_specs(preset, family):
    p = load_preset(preset)
    space = p.space_for(family)
    for seed in range(5):
        values = space.sample(random.Random(seed))
        _check_values(space, values)
        spec = spec_from_dict(space.spec_dict(p.spec, values), f"{preset}/{family}")
        assert spec.loss.name == family
        assert spec.run.workers == p.sweep.workers_per_trial
        assert spec.data.name == p.spec["data"]["name"]
        for key, value in values.items():
            section, field = key.split(".")
            assert getattr(getattr(spec, section), field) == value


def test_family_spaces_search_what_the_paper_varies():
    keys = {f: set(load_space(f).keys) for f in list_losses()}
    assert "loss.temperature" not in keys["ce"]
    assert {"loss.memory", "loss.gather"}.isdisjoint(keys["normface"])
    assert {"loss.align_weight", "loss.unif_weight", "loss.anchor"} <= keys["nonl"]
    scl = {p.key: p for p in load_space("scl").params}
    assert scl["loss.base_temperature"].when == {"rescale_temperature": (True,)}
    for family in list_losses():
        assert {"optim.lr", "optim.weight_decay", "run.batch_size"} <= keys[family]
        loss_keys = {k.split(".", 1)[1] for k in keys[family] if k.startswith("loss.")}
        assert loss_keys <= set(loss_info(family).option_names)


def test_digits_preset_is_a_small_cpu_sweep():
    p = load_preset("digits")
    assert p.spec["data"]["name"] == "digits" and p.spec["model"]["name"] == "mlp"
    assert 3 <= p.sweep.trials <= 4 and p.sweep.gpus_per_trial == 0
    assert p.spec["run"]["epochs"] <= 12 and p.sweep.workers_per_trial == 1
    scl = {q.key: q for q in p.space_for("scl").params}
    assert scl["loss.temperature"].high <= 0.2  # SCL at tau 0.05, lr 0.8 fails on digits
    memory = {q.key: q for q in p.space_for("ntce").params}["loss.memory"]
    assert memory.high <= 1151 and memory.when == {"use_memory": (True,)}


def test_gpu_presets_follow_the_paper():
    for name in ("cifar10", "cifar100"):
        p = load_preset(name)
        assert p.spec["model"]["name"] == "resnet18_cifar" and p.spec["run"]["epochs"] == 500
        assert p.spec["optim"]["lr"] == 0.2 and p.spec["schedule"]["warmup_epochs"] == 10
        assert p.sweep.gpus_per_trial >= 1
    for name in ("imagenet100", "imagenet1k"):
        p = load_preset(name)
        assert p.spec["model"]["name"] == "resnet50" and p.spec["optim"]["lr"] == 0.1
        assert p.spec["run"]["batch_size"] >= 1024 and p.sweep.gpus_per_trial == 8
        assert p.spec["run"]["gpus_per_worker"] == 1.0
    assert load_preset("imagenet100").spec["data"]["options"] == {"num_classes": 100}


# --------------------------------------------------------------------------- sampling


def test_suggest_with_fixed_trial_skips_conditional_when_switch_off():
    space = load_space("nonl")
    params = {
        "loss.temperature": 0.1,
        "loss.align_weight": 1.0,
        "loss.unif_weight": 1.5,
        "loss.anchor": "instance",
        "loss.gather": True,
        "use_memory": False,
        "optim.lr": 0.2,
        "optim.weight_decay": 1e-4,
        "run.batch_size": 256,
    }
    values = space.suggest(optuna.trial.FixedTrial(params))
    assert values == {k: v for k, v in params.items() if k != "use_memory"}


def test_suggest_with_fixed_trial_asks_conditional_when_switch_on():
    space = load_space("nonl")
    params = {
        "loss.temperature": 0.1,
        "loss.align_weight": 1.0,
        "loss.unif_weight": 1.5,
        "loss.anchor": "instance",
        "loss.gather": True,
        "use_memory": True,
        "optim.lr": 0.2,
        "optim.weight_decay": 1e-4,
        "run.batch_size": 256,
    }
    with pytest.raises(ValueError, match="loss.memory"):  # FixedTrial lacks it: it was asked
        space.suggest(optuna.trial.FixedTrial(params))
    values = space.suggest(optuna.trial.FixedTrial({**params, "loss.memory": 1024}))
    assert values["loss.memory"] == 1024 and "use_memory" not in values


@pytest.mark.parametrize("family", ["nonl", "scl"])
def test_suggest_in_a_real_study_respects_distributions_and_when(family):
    space = load_preset("digits").space_for(family)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen_on = seen_off = 0
    for _ in range(40):
        trial = study.ask()
        values = space.suggest(trial)
        switches = {k: v for k, v in trial.params.items() if "." not in k}
        assert switches, "switches are recorded in Optuna, not returned"
        _check_values(space, values, switches)
        assert set(trial.params) - set(switches) == set(values) - {
            p.key for p in space.params if p.type == "fixed"
        }
        seen_on += "loss.memory" in values
        seen_off += "loss.memory" not in values
        study.tell(trial, 0.5)
    assert seen_on and seen_off
    memory = study.trials[0].distributions.get("loss.memory") or next(
        t.distributions["loss.memory"] for t in study.trials if "loss.memory" in t.params
    )
    assert memory.log and (memory.low, memory.high) == (128, 1024)


def test_sample_is_seeded_and_within_distributions():
    space = load_space("scl")
    first = [space.sample(random.Random(7)) for _ in range(2)]
    assert first[0] == first[1]
    draws = [space.sample(random.Random(seed)) for seed in range(60)]
    assert len({tuple(sorted(d.items())) for d in draws}) == 60
    for values in draws:
        _check_values(space, values)
    assert any("loss.base_temperature" in d for d in draws)
    assert any("loss.base_temperature" not in d for d in draws)


def test_int_and_log_distributions_sample_their_type():
    rng = random.Random(0)
    stepped = Param("run.batch_size", "int", low=64, high=512, step=64)
    logged = Param("loss.memory", "int", low=128, high=2048, log=True)
    lu = Param("loss.temperature", "loguniform", low=0.01, high=1.0, log=True)
    s = [stepped.draw(rng) for _ in range(200)]
    assert all(isinstance(v, int) and v % 64 == 0 and 64 <= v <= 512 for v in s)
    assert set(s) == set(range(64, 513, 64))
    m = [logged.draw(rng) for _ in range(500)]
    assert all(isinstance(v, int) and 128 <= v <= 2048 for v in m)
    assert sum(v < 512 for v in m) > 200  # log scale: half the draws below the geometric mid
    t = [lu.draw(rng) for _ in range(500)]
    assert 200 < sum(v < 0.1 for v in t) < 300 and all(0.01 <= v <= 1.0 for v in t)


def test_spec_dict_layers_preset_base_and_values():
    space = load_space("ntce")
    preset_spec = {"run": {"epochs": 3, "batch_size": 64}, "loss": {"temperature": 0.3}}
    out = space.spec_dict(
        preset_spec, {"loss.temperature": 0.15, "use_memory": True, "loss.memory": 256}
    )
    assert out == {
        "run": {"epochs": 3, "batch_size": 64},
        "loss": {"temperature": 0.15, "name": "ntce", "memory": 256},
    }
    assert preset_spec == {"run": {"epochs": 3, "batch_size": 64}, "loss": {"temperature": 0.3}}
    spec = spec_from_dict(out)
    assert spec.loss.memory == 256 and spec.run.epochs == 3


def test_preset_replacement_keeps_place_and_when():
    space = load_preset("digits").space_for("nonl")
    original = load_space("nonl")
    assert space.keys == original.keys
    params = {p.key: p for p in space.params}
    assert (params["optim.lr"].low, params["optim.lr"].high) == (0.1, 0.8)
    assert params["loss.memory"].when == {"use_memory": (True,)}
    assert params["loss.gather"].type == "fixed"
    scl = {p.key: p for p in load_preset("digits").space_for("scl").params}
    assert scl["optim.lr"].high == 0.4  # family section wins over "all"


def test_with_sweep_overrides_update_run_resources():
    p = load_preset("digits").with_sweep(workers_per_trial=2, gpus_per_trial=1, trials=None)
    assert p.sweep.workers_per_trial == 2 and p.sweep.trials == 3
    assert p.spec["run"]["workers"] == 2 and p.spec["run"]["gpus_per_worker"] == 0.5
    with pytest.raises(SpecError, match="sweep.scheduler"):
        load_preset("digits").with_sweep(scheduler="median")


# --------------------------------------------------------------------------- validation


def _family_root(tmp_path: Path) -> Path:
    root = tmp_path / "spaces"
    (root / "presets").mkdir(parents=True)
    for family in list_losses():
        shutil.copy(SHIPPED / f"{family}.yaml", root / f"{family}.yaml")
    return root


def _write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def _nonl(space: dict, **top) -> dict:
    return {
        "family": "nonl",
        "description": "x",
        "base": {"loss": {"name": "nonl"}},
        "space": space,
        **top,
    }


SWITCH = {"use_memory": {"type": "categorical", "choices": [False, True]}}

FAMILY_MISTAKES = {
    "unknown top-level key": (
        _nonl({}, bogus=1),
        ["bogus", "allowed: family, description, base, space"],
    ),
    "unknown distribution type": (
        _nonl({"loss.temperature": {"type": "gaussian", "low": 0.1, "high": 0.2}}),
        ["loss.temperature", "gaussian", "uniform, loguniform, int, categorical, fixed"],
    ),
    "unknown distribution field": (
        _nonl({"loss.temperature": {"type": "uniform", "low": 0.1, "high": 0.2, "mean": 1}}),
        ["loss.temperature", "mean", "allowed: type, low, high, when"],
    ),
    "missing field": (
        _nonl({"loss.temperature": {"type": "uniform", "low": 0.1}}),
        ["loss.temperature", "needs high"],
    ),
    "low not below high": (
        _nonl({"loss.temperature": {"type": "uniform", "low": 0.5, "high": 0.2}}),
        ["loss.temperature", "must be < high"],
    ),
    "log scale from zero": (
        _nonl({"loss.memory": {"type": "int", "low": 0, "high": 64, "log": True}}),
        ["loss.memory", "log scale needs low > 0"],
    ),
    "loguniform from a negative": (
        _nonl({"optim.lr": {"type": "loguniform", "low": -1.0, "high": 0.5}}),
        ["optim.lr", "low > 0"],
    ),
    "float bounds for int": (
        _nonl({"loss.memory": {"type": "int", "low": 1.5, "high": 64}}),
        ["loss.memory", "integer"],
    ),
    "step that does not divide": (
        _nonl({"run.batch_size": {"type": "int", "low": 64, "high": 200, "step": 64}}),
        ["run.batch_size", "multiple of step 64"],
    ),
    "empty choices": (
        _nonl({"loss.anchor": {"type": "categorical", "choices": []}}),
        ["loss.anchor", "non-empty list"],
    ),
    "non-scalar choice": (
        _nonl({"model.options.hidden": {"type": "categorical", "choices": [[64, 64]]}}),
        ["model.options.hidden", "scalars"],
    ),
    "when names an unknown parameter": (
        _nonl({"loss.memory": {"type": "int", "low": 8, "high": 64, "when": {"use_mem": True}}}),
        ["loss.memory", "use_mem", "not a parameter"],
    ),
    "when names a later parameter": (
        _nonl(
            {
                "loss.memory": {"type": "int", "low": 8, "high": 64, "when": {"use_memory": True}},
                **SWITCH,
            }
        ),
        ["loss.memory", "use_memory", "defined below it"],
    ),
    "when value the switch never takes": (
        _nonl(
            {
                **SWITCH,
                "loss.memory": {"type": "int", "low": 8, "high": 64, "when": {"use_memory": 1}},
            }
        ),
        ["loss.memory", "when.use_memory=1", "allowed: [False, True]"],
    ),
    "not a spec key": (
        _nonl({"optim.learning_rate": {"type": "loguniform", "low": 0.1, "high": 0.5}}),
        ["unknown key 'optim.learning_rate'", "allowed here: name, lr"],
    ),
    "not a spec section": (
        _nonl({"trainer.lr": {"type": "fixed", "value": 1}}),
        ["unknown key 'trainer'", "allowed here: data, model, loss"],
    ),
    "loss option of another family": (
        _nonl({"loss.label_smoothing": {"type": "uniform", "low": 0.0, "high": 0.2}}),
        ["loss.label_smoothing", "does not take", "loss.temperature"],
    ),
    "value the spec rejects": (
        _nonl({"loss.anchor": {"type": "categorical", "choices": ["prototype", "both"]}}),
        ["loss.anchor", "both"],
    ),
    "base.loss.name differs": (
        {**_nonl({}), "base": {"loss": {"name": "ntce"}}},
        ["base.loss.name", "nonl", "ntce"],
    ),
    "family not a loss family": (
        {**_nonl({}), "family": "arcface"},
        ["family", "arcface", "ce, nonl, normface, ntce, scl"],
    ),
    "family does not match file": (
        {**_nonl({}), "family": "ntce"},
        ["family 'ntce'", "file name 'nonl'"],
    ),
}


@pytest.mark.parametrize("case", FAMILY_MISTAKES)
def test_family_file_mistake_names_file_and_key(tmp_path, case):
    data, expected = FAMILY_MISTAKES[case]
    root = _family_root(tmp_path)
    path = _write(root / "nonl.yaml", data)
    with pytest.raises(SpecError) as err:
        load_space("nonl", root)
    message = str(err.value)
    for part in [str(path), *expected]:
        assert part in message, f"{part!r} not in:\n{message}"


def test_normface_rejects_a_memory_parameter(tmp_path):
    root = _family_root(tmp_path)
    data = yaml.safe_load((root / "normface.yaml").read_text())
    data["space"]["loss.memory"] = {"type": "int", "low": 128, "high": 1024}
    path = _write(root / "normface.yaml", data)
    with pytest.raises(SpecError, match="does not take 'memory'") as err:
        load_space("normface", root)
    assert str(path) in str(err.value)


def test_unknown_family_lists_available(tmp_path):
    root = _family_root(tmp_path)
    with pytest.raises(SpecError, match="'arcface' is not a loss family.*ce, nonl, normface"):
        load_space("arcface", root)
    (root / "scl.yaml").unlink()
    with pytest.raises(
        SpecError, match="has no file .*scl.yaml.*available .*ce, nonl, normface, ntce"
    ):
        load_space("scl", root)


def _digits(**changes) -> dict:
    data = yaml.safe_load((SHIPPED / "presets" / "digits.yaml").read_text())
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return data


PRESET_MISTAKES = {
    "unknown top-level key": (_digits(families=["ce"]), ["families", "allowed: preset"]),
    "unknown dataset": (
        _digits(spec__data__name="mnist"),
        ["spec.data.name", "mnist", "cifar10, cifar100, digits"],
    ),
    "unknown model": (
        _digits(spec__model__name="vit"),
        ["spec.model.name", "vit", "convnet, mlp, resnet18_cifar, resnet50"],
    ),
    "unknown scheduler": (
        _digits(sweep__scheduler="median"),
        ["sweep.scheduler", "median", "'pb2' or 'none'"],
    ),
    "unknown objective": (
        _digits(sweep__objective="loss"),
        ["sweep.objective", "accuracy, pareto, nc-at-accuracy, or eval/<suite>/<key>"],
    ),
    "unknown nc metric": (
        _digits(sweep__nc_metric="nc2"),
        ["sweep.nc_metric", "nc2", "mean", "erank_inter"],
    ),
    "unknown sweep key": (_digits(sweep__trails=4), ["sweep.trails", "allowed: trials"]),
    "bad trials": (_digits(sweep__trials=0), ["sweep.trials", "greater than or equal to 1"]),
    "unknown spec key": (_digits(spec__run__epochz=3), ["unknown key 'run.epochz'"]),
    "loss name in preset": (_digits(spec__loss={"name": "ce"}), ["spec.loss.name"]),
    "workers disagree": (_digits(spec__run__workers=2), ["spec.run.workers", "sweep"]),
    "space group not a family": (
        _digits(space__arcface={}),
        ["space.arcface", "all, ce, nonl, normface"],
    ),
    "replacement of no parameter": (
        _digits(space__all={"optim.momentum": {"type": "uniform", "low": 0.8, "high": 0.99}}),
        ["space.all.optim.momentum", "not a parameter", "optim.lr"],
    ),
    "replacement not in that family": (
        _digits(space__ce={"loss.temperature": {"type": "uniform", "low": 0.1, "high": 0.2}}),
        ["space.ce.loss.temperature", "the ce search space"],
    ),
    "bad replacement distribution": (
        _digits(space__all={"optim.lr": {"type": "loguniform", "low": 0.0, "high": 0.5}}),
        ["space.all", "optim.lr", "low > 0"],
    ),
}


@pytest.mark.parametrize("case", PRESET_MISTAKES)
def test_preset_mistake_names_file_and_key(tmp_path, case):
    data, expected = PRESET_MISTAKES[case]
    root = _family_root(tmp_path)
    path = _write(root / "presets" / "bad.yaml", data)
    with pytest.raises(SpecError) as err:
        load_preset("bad", root)
    message = str(err.value)
    for part in [str(path), *expected]:
        assert part in message, f"{part!r} not in:\n{message}"


def test_preset_by_path_and_unknown_preset(tmp_path):
    root = _family_root(tmp_path)
    path = _write(tmp_path / "mine.yaml", _digits(preset="mine"))
    assert load_preset(str(path), root).name == "mine"
    _write(root / "presets" / "digits.yaml", _digits())
    with pytest.raises(SpecError, match=r"unknown preset 'cifar'; available in .*: digits"):
        load_preset("cifar", root)


def test_preset_space_that_breaks_the_spec_names_family_file(tmp_path):
    root = _family_root(tmp_path)
    data = _digits(sweep__workers_per_trial=4, spec__run__batch_size=128)
    data["space"]["all"]["run.batch_size"] = {"type": "categorical", "choices": [128, 66]}
    path = _write(root / "presets" / "four.yaml", data)
    preset = load_preset("four", root)
    with pytest.raises(SpecError) as err:
        preset.space_for("ce")
    message = str(err.value)
    assert str(path) in message and str(root / "ce.yaml") in message
    assert "run.batch_size=66" in message and "not divisible by workers 4" in message


def test_preset_fixed_switch_turns_a_branch_off(tmp_path):
    root = _family_root(tmp_path)
    data = _digits()
    data["space"]["ntce"] = {"use_memory": {"type": "fixed", "value": False}}
    _write(root / "presets" / "nomem.yaml", data)
    space = load_preset("nomem", root).space_for("ntce")
    draws = [space.sample(random.Random(s)) for s in range(20)]
    assert all("loss.memory" not in d for d in draws)
    assert all(math.isfinite(d["loss.temperature"]) for d in draws)
