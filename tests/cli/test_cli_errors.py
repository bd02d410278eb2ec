"""The ``ncsweep`` command as a person meets it: help, version, and bad input that exits 2
with a message naming the file, key and allowed values, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# most tests run ``python -m ncsweep sweep|train``, which imports torch (sweep: Ray and
# MLflow too) before it checks its input: seconds of CPU per process
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def ncsweep(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ncsweep.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_platform_is_still_the_standard_library_from_the_repo_root():
    out = subprocess.run(
        [sys.executable, "-c", "import platform, ncsweep; print(platform.system())"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Linux"


def test_version_and_help():
    assert ncsweep("--version").stdout.strip() == "ncsweep 0.1.0"
    text = ncsweep("--help").stdout
    for verb in ("train", "sweep", "resume", "export", "ui", "doctor"):
        assert verb in text


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "loss.tau=1"], ["unknown key 'loss.tau'", "loss 'ce' takes", "label_smoothing"]),
        (["--set", "optim.name=adam"], ["optim.name", "'sgd'", "'adamw'"]),
        (["--set", "run.epochs=many"], ["run.epochs", "'many'"]),
        (
            ["--loss", "nonl", "--set", "loss.label_smoothing=0.1"],
            ["unknown key 'loss.label_smoothing'", "loss 'nonl' takes", "align_weight"],
        ),
        (["--loss", "focal"], ["loss.name: unknown loss 'focal'", "allowed: ce, nonl"]),
        (["--model", "vgg"], ["model.name", "unknown model 'vgg'", "resnet18_cifar"]),
        (["--set", "data.options={fraction: 0.5}"], ["data.options", "val_fraction"]),
        (["--config", "/nonexistent/spec.yaml"], ["/nonexistent/spec.yaml", "no such file"]),
        (["--set", "run.batch_size=100", "--workers", "3"], ["not divisible by workers 3"]),
    ],
)
def test_bad_train_input_exits_2_with_a_message(args, expected):
    out = ncsweep("train", *args)
    assert out.returncode == 2, out.stdout + out.stderr
    for words in expected:
        assert words in out.stderr, (words, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout


def test_missing_dataset_says_where_it_looked(tmp_path):
    out = ncsweep("train", "--dataset", "cifar10", "--set", f"data.root={tmp_path / 'nothing'}")
    assert out.returncode == 2
    assert str(tmp_path / "nothing") in out.stderr and "cifar-10-batches-py" in out.stderr
    assert "Traceback" not in out.stderr


def _spaces(tmp_path: Path, family: str, edit) -> Path:
    root = tmp_path / "spaces"
    shutil.copytree(REPO / "search_spaces", root)
    path = root / f"{family}.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return root


BAD_SPACES = [
    (
        "ntce",
        lambda d: d["space"].update(
            {"loss.temperature": {"type": "gaussian", "low": 0.1, "high": 1}}
        ),
        ["ntce.yaml", "loss.temperature", "gaussian", "loguniform"],
    ),
    (
        "ntce",
        lambda d: d["space"].update(
            {"loss.temperature": {"type": "loguniform", "low": 0.0, "high": 1}}
        ),
        ["ntce.yaml", "loss.temperature", "low"],
    ),
    (
        "ntce",
        lambda d: d["space"].update({"optim.lr": {"type": "uniform", "low": 0.5, "high": 0.1}}),
        ["ntce.yaml", "optim.lr", "low"],
    ),
    (
        "ntce",
        lambda d: d["space"].update({"loss.tau": {"type": "uniform", "low": 0.1, "high": 0.2}}),
        ["ntce.yaml", "loss.tau"],
    ),
    ("ntce", lambda d: d.update({"family": "focal"}), ["ntce.yaml", "family", "focal"]),
]


@pytest.mark.parametrize(("family", "edit", "expected"), BAD_SPACES)
def test_bad_search_space_exits_2_naming_file_and_key(tmp_path, family, edit, expected):
    root = _spaces(tmp_path, family, edit)
    out = ncsweep(
        "sweep",
        "--families",
        family,
        "--spaces",
        str(root),
        "--storage",
        str(tmp_path / "ray"),
        "--tracking-uri",
        f"sqlite:///{tmp_path}/m.db",
    )
    assert out.returncode == 2, out.stdout + out.stderr
    for words in expected:
        assert words in out.stderr, (words, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout
    assert not (tmp_path / "ray").exists(), "nothing may start before the spaces are valid"


def test_bad_preset_and_families_exit_2(tmp_path):
    root = tmp_path / "spaces"
    shutil.copytree(REPO / "search_spaces", root)
    preset = yaml.safe_load((root / "presets" / "digits.yaml").read_text())
    preset["spec"]["data"]["name"] = "mnist"
    (root / "presets" / "digits.yaml").write_text(yaml.safe_dump(preset))
    out = ncsweep("sweep", "--spaces", str(root))
    assert out.returncode == 2 and "mnist" in out.stderr and "digits" in out.stderr
    out = ncsweep("sweep", "--families", "ce,focal")
    assert out.returncode == 2 and "focal" in out.stderr and "nonl" in out.stderr
    out = ncsweep("sweep", "--preset", "mnist")
    assert out.returncode == 2 and "cifar10" in out.stderr
    out = ncsweep("resume", "nosuch", "--storage", str(tmp_path))
    assert out.returncode == 2 and "no sweep named 'nosuch'" in out.stderr
