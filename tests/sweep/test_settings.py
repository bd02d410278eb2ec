"""One source of sweep settings: defaults, then the preset's sweep section, then arguments,
the same for ``SweepConfig(...)`` and ``ncsweep sweep``."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from ncsweep.cli import app
from ncsweep.config import SpecError, deep_merge
from ncsweep.plan.sweep_config import SweepSettings, sweep_config
from ncsweep.sweep import SweepConfig, load_preset

WHERE = {"storage": "/tmp/ncsweep-settings", "tracking_uri": "sqlite:////tmp/ncsweep.db"}


def test_the_python_api_takes_the_presets_trials_and_gpus():
    config = SweepConfig(name="c10", preset="cifar10", **WHERE)
    preset = load_preset("cifar10").sweep
    assert (config.trials, config.gpus_per_trial, config.cpus_per_worker) == (16, 1.0, 8.0)
    assert config.grace_period == preset.grace_period == 50


def test_arguments_win_over_the_preset_and_the_preset_over_the_defaults(tmp_path):
    assert SweepConfig(name="c10", preset="cifar10", trials=2, **WHERE).trials == 2
    root = tmp_path / "spaces"
    (root / "presets").mkdir(parents=True)
    for family in ("ce", "ntce"):
        (root / f"{family}.yaml").write_text(
            yaml.safe_dump({"family": family, "base": {"loss": {"name": family}}})
        )
    (root / "presets" / "tiny.yaml").write_text(yaml.safe_dump({"sweep": {"trials": 5}}))
    config = SweepConfig(name="t", preset="tiny", spaces_root=str(root), **WHERE)
    assert config.trials == 5 and config.families == ["ce", "ntce"]
    assert config.grace_period == SweepSettings.model_fields["grace_period"].default


def test_the_cli_and_the_python_api_resolve_identically():
    args = ["--preset", "cifar10", "--name", "same", "--trials", "7", "--families", "ce,scl"]
    where = ["--storage", WHERE["storage"], "--tracking-uri", WHERE["tracking_uri"]]
    out = CliRunner().invoke(app, ["sweep", *args, *where, "--print-config"])
    assert out.exit_code == 0, out.output
    python = SweepConfig(name="same", preset="cifar10", trials=7, families=["ce", "scl"], **WHERE)
    assert yaml.safe_load(out.output) == python.model_dump(mode="json")


def test_a_bad_setting_names_the_key_and_what_is_allowed():
    with pytest.raises(SpecError) as err:
        sweep_config(preset="digits", trials=0, scheduler="median", **WHERE)
    text = str(err.value)
    assert "trials" in text and "scheduler" in text and "'asha'" in text
    with pytest.raises(SpecError, match="families: unknown \\['focal'\\]; allowed"):
        sweep_config(preset="digits", families=["focal"], **WHERE)


def test_deep_merge_merges_sections_and_copies():
    base = {"run": {"epochs": 3, "batch_size": 64}, "loss": {"name": "ce"}}
    merged = deep_merge(base, {"run": {"epochs": 5}, "data": {"name": "digits"}})
    assert merged == {
        "run": {"epochs": 5, "batch_size": 64},
        "loss": {"name": "ce"},
        "data": {"name": "digits"},
    }
    merged["run"]["batch_size"] = 1
    assert base["run"]["batch_size"] == 64


def test_a_sweep_saved_before_parallel_families_resumes_one_family_at_a_time(tmp_path):
    from ncsweep.plan.state import load_state, save_state, save_yaml

    new = SweepConfig(name="new", storage=str(tmp_path), tracking_uri=WHERE["tracking_uri"])
    save_state(new)
    assert new.parallel_families and load_state(str(tmp_path), "new").parallel_families
    # an older sweep.yaml has no such key: its Tune state names the sequential trainable
    old = new.model_dump(mode="json")
    del old["parallel_families"]
    save_yaml(str(tmp_path), "old", "sweep.yaml", {**old, "name": "old"})
    assert load_state(str(tmp_path), "old").parallel_families is False
