"""Every input a person can get wrong exits 2 with one paragraph naming the file or flag and
what is allowed: no traceback, and nothing started (no Ray, no MLflow store, no files).

In-process through ``ncsweep.cli.main`` (seconds for the whole table) with ``ray.init``
replaced by a function that fails the test, in an empty working directory that must stay
empty; a few cases again as real ``python -m ncsweep.cli`` subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ncsweep.cli import main

FILES = {
    "binary.yaml": b"\x00\x01\x02\xff\xfe\x80",
    "empty.yaml": b"",
    "list.yaml": b"[1, 2]\n",
    "scalar.yaml": b"just a string\n",
    "wrongtype.yaml": b"loss:\n  temperature: hot\n",
    "badpreset.yaml": b"sweep:\n  trials: many\n",
    "badobjective.yaml": b"sweep:\n  objective: eval/probes/acc/nope\n",
}

DOWN_AT = "127.0.0.1:9"  # the discard port: nothing listens there
DOWN = f"http://{DOWN_AT}"

CASES = [
    # train --config: every kind of bad file
    (["train", "--config", "binary.yaml"], ["binary.yaml", "not a text file"]),
    (["train", "--config", "empty.yaml"], ["empty.yaml", "is empty", "mapping"]),
    (["train", "--config", "adir"], ["adir", "is a directory"]),
    (["train", "--config", "list.yaml"], ["list.yaml", "expected a mapping", "list"]),
    (["train", "--config", "scalar.yaml"], ["scalar.yaml", "expected a mapping", "str"]),
    (["train", "--config", "wrongtype.yaml"], ["wrongtype.yaml", "loss.temperature", "'hot'"]),
    (["train", "--config", "missing.yaml"], ["missing.yaml", "no such file"]),
    # train: a shard folder without its index says how to write it
    (
        ["train", "--set", "data.name=imagenet_shards", "--set", "data.root=nowhere"],
        ["nowhere/train-index.json", "ncsweep data shard"],
    ),
    (["data", "shard", "--root", "nowhere", "--out", "o"], ["nowhere/train", "ImageFolder"]),
    # train: numeric flags at 0, negative, non-numeric
    (["train", "--workers", "0"], ["run.workers", "greater than 0"]),
    (["train", "--workers", "-1"], ["run.workers", "greater than 0"]),
    (["train", "--workers", "abc"], ["--workers", "as an integer"]),
    (["train", "--gpus-per-worker", "-1"], ["run.gpus_per_worker", "greater than or equal to 0"]),
    (["train", "--gpus-per-worker", "x"], ["--gpus-per-worker", "as a number"]),
    # sweep: numeric flags
    (["sweep", "--max-concurrent", "0"], ["max_concurrent", "greater than or equal to 1", "got 0"]),
    (["sweep", "--max-concurrent", "-2"], ["max_concurrent", "greater than or equal to 1"]),
    (["sweep", "--max-concurrent", "abc"], ["--max-concurrent", "as an integer"]),
    (["sweep", "--trials", "0"], ["trials", "greater than or equal to 1"]),
    (["sweep", "--trials", "-1"], ["trials", "greater than or equal to 1"]),
    (["sweep", "--trials", "abc"], ["--trials", "as an integer"]),
    (["sweep", "--workers-per-trial", "0"], ["workers_per_trial", "greater than or equal to 1"]),
    (["sweep", "--gpus-per-trial", "-1"], ["gpus_per_trial", "greater than or equal to 0"]),
    (["sweep", "--cpus-per-worker", "-1"], ["cpus_per_worker", "greater than or equal to 0"]),
    (["sweep", "--grace-period", "0"], ["grace_period", "greater than or equal to 1"]),
    (["sweep", "--grace-period", "-3"], ["grace_period", "greater than or equal to 1"]),
    (["sweep", "--max-failures", "-1"], ["max_failures", "greater than or equal to 0"]),
    (["sweep", "--seed", "-1"], ["seed", "greater than or equal to 0"]),
    (["sweep", "--seed", "abc"], ["--seed", "as an integer"]),
    (["sweep", "--families", "ce,focal"], ["families", "focal", "nonl"]),
    # sweep: objectives (eval/<suite>/<key> from the suite registry)
    (
        ["sweep", "--objective", "val/acc1"],
        ["objective", "unknown objective", "eval/<suite>/<key>"],
    ),
    (["sweep", "--objective", "eval/nosuch/acc"], ["objective", "'nosuch'", "probes, transfer"]),
    (["sweep", "--objective", "eval/probes/acc/x"], ["objective", "acc/<head>", "normprobe"]),
    (["sweep", "--objective", "eval/corruption/mce"], ["baseline run", "mean_error (min"]),
    (["sweep", "--objective", "eval/longtail/classes/many"], ["not a score", "acc/<group> (max"]),
    (
        ["sweep", "--preset", "badobjective.yaml"],
        ["badobjective.yaml", "sweep.objective", "acc/<head>"],
    ),
    # sweep: samplers and constraints
    (["sweep", "--sampler", "nope"], ["--sampler", "'nope'", "tpe, random, qmc, gp, cmaes, nsga2"]),
    (
        ["sweep", "--sampler", "cmaes", "--objective", "pareto"],
        ["--sampler", "cmaes is single-objective", "--objective", "tpe, random, qmc, gp, nsga2"],
    ),
    (["sweep", "--constraint", "val/acc1>ce"], ["--constraint", "'val/acc1>ce'", "METRIC>=BOUND"]),
    (
        ["sweep", "--families", "ce", "--constraint", "val/acc1>=nonl-0.5"],
        ["--constraint", "family nonl", "--families", "allowed: family, ce or a number"],
    ),
    # sweep: preset files and search-space folders
    (["sweep", "--preset", "binary.yaml"], ["binary.yaml", "not a text file"]),
    (["sweep", "--preset", "empty.yaml"], ["empty.yaml", "is empty"]),
    (["sweep", "--preset", "adir/"], ["adir", "is a directory"]),
    (["sweep", "--preset", "list.yaml"], ["list.yaml", "expected a mapping"]),
    (["sweep", "--preset", "wrongtype.yaml"], ["wrongtype.yaml", "loss", "allowed"]),
    (["sweep", "--preset", "badpreset.yaml"], ["badpreset.yaml", "sweep.trials", "'many'"]),
    (["sweep", "--preset", "nosuch"], ["unknown preset 'nosuch'", "digits"]),
    (["sweep", "--spaces", "emptyspaces"], ["emptyspaces", "unknown preset 'digits'"]),
    (["sweep", "--spaces", "binary.yaml"], ["--spaces", "binary.yaml", "not a directory"]),
    (["sweep", "--spaces", "nowhere"], ["--spaces", "nowhere", "not a directory"]),
    # report: a --dashboards folder without dashboards (checked before MLflow is opened)
    (["report", "nosweep", "--dashboards", "emptyspaces"], ["emptyspaces", "no dashboard files"]),
    (["report", "nosweep", "--dashboards", "nowhere"], ["nowhere", "does not exist"]),
    # resume, confirm, export, ui
    (["resume", "nosuch"], ["no sweep named 'nosuch'", "--storage"]),
    (["confirm", "nosuch"], ["no sweep named 'nosuch'", "--storage"]),
    (["sweep", "--confirm-top", "-1"], ["--confirm-top", "greater than or equal to"]),
    (["export", "nosuch"], ["no sweep named 'nosuch'"]),
    (["ui", "--port", "0"], ["--port", "greater than or equal to 1"]),
    (["ui", "--port", "-1"], ["--port", "greater than or equal to 1"]),
    (["ui", "--port", "70000"], ["--port", "less than or equal to 65535"]),
    (["ui", "--port", "abc"], ["--port", "as an integer"]),
    # read commands: a tracking server that is not there is said at once
    (["sweep", "--status", "x", "--tracking-uri", DOWN], ["no MLflow server answers", DOWN_AT]),
    (["export", "x", "--tracking-uri", DOWN], ["no MLflow server answers", DOWN_AT]),
    (["report", "x", "--tracking-uri", DOWN], ["no MLflow server answers", DOWN_AT]),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working directory holding only the bad inputs; Ray must not start."""
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "adir").mkdir()
    (tmp_path / "emptyspaces").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    import ray

    def no_ray(*args, **kwargs):
        raise AssertionError("ray.init was called for bad input")

    monkeypatch.setattr(ray, "init", no_ray)
    return tmp_path


@pytest.mark.parametrize(("argv", "expected"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_exits_2_with_one_message_and_starts_nothing(argv, expected, workdir, capsys):
    before = sorted(p.name for p in workdir.iterdir())
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out = capsys.readouterr()
    text = " ".join((out.out + out.err).split())  # rich and click wrap long lines
    assert exit_.value.code == 2, text
    assert "Traceback" not in text
    for fragment in expected:
        assert fragment in text, (fragment, text)
    assert sorted(p.name for p in workdir.iterdir()) == before  # no mlflow.db, ray_results


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--config", "binary.yaml"],
        # `sweep` imports torch, Ray and MLflow before it checks its input
        pytest.param(["sweep", "--max-concurrent", "0"], marks=pytest.mark.slow),
        pytest.param(
            ["sweep", "--sampler", "cmaes", "--objective", "pareto"], marks=pytest.mark.slow
        ),
    ],
    ids=" ".join,
)
def test_bad_input_in_a_real_process_has_no_traceback(argv, workdir):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [sys.executable, "-m", "ncsweep.cli", *argv],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip().startswith("error:")
    assert "\n\n" not in done.stderr.strip()  # one paragraph
    assert not (workdir / "mlflow.db").exists() and not (workdir / "ray_results").exists()


#: names, URI schemes and warm-start sources (``plan/names.py``): checked as the flags are
#: parsed, so neither torch nor Ray is imported
EARLY = [
    (
        ["sweep", "--name", "../escape", "--storage", "ray"],
        ["--name", "'../escape'", "^[A-Za-z0-9]"],
    ),
    (["sweep", "--name", ""], ["--name", "''", "is not a valid name"]),
    (["sweep", "--name", "a/b"], ["--name", "'a/b'", "one folder name"]),
    (
        ["sweep", "--tracking-uri", "ftp://host/x"],
        ["--tracking-uri", "'ftp'", "sqlite://", "http://"],
    ),
    (["sweep", "--storage", "gs://bucket/p"], ["--storage", "'gs'", "s3://bucket/prefix"]),
    (["sweep", "--warm-start", "./nowhere"], ["--warm-start", "nowhere", "no such folder"]),
    (["sweep", "--warm-start", "emptyspaces"], ["--warm-start", "holds no exported config"]),
    (
        ["sweep", "--warm-start", "not a name"],
        ["--warm-start", "neither a folder nor a sweep name"],
    ),
    (["sweep", "--status", "../x"], ["--status", "'../x'"]),
    (["resume", "../x"], ["NAME", "'../x'", "is not a valid name"]),
    (["confirm", ".."], ["NAME", "'..'"]),
    (["export", "a/b"], ["NAME", "'a/b'"]),
    (["report", "../x"], ["NAME", "'../x'"]),
    (["report", "ok", "--compare", "../y"], ["--compare", "'../y'"]),
    (["report", "ok", "--tracking-uri", "ftp://h/x"], ["--tracking-uri", "'ftp'"]),
    (["study", "paper", "--name", "../s"], ["--name", "'../s'"]),
    (["study", "table", "a/b"], ["NAME", "'a/b'"]),
]


@pytest.mark.parametrize(("argv", "expected"), EARLY, ids=[" ".join(a) for a, _ in EARLY])
def test_bad_names_and_uris_exit_2_and_start_nothing(argv, expected, workdir, capsys):
    test_bad_input_exits_2_with_one_message_and_starts_nothing(argv, expected, workdir, capsys)


#: the sweep's cases again as real processes (about 3 s each): torch and Ray never imported
IN_A_PROCESS = EARLY[:7]


@pytest.mark.parametrize(
    ("argv", "expected"), IN_A_PROCESS, ids=[" ".join(a) for a, _ in IN_A_PROCESS]
)
def test_names_and_uris_exit_2_before_torch_or_ray_is_imported(argv, expected, workdir):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ncsweep.cli", *argv],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    message = " ".join(line for line in done.stderr.splitlines() if "import time:" not in line)
    text = " ".join(message.split())
    assert done.returncode == 2, text
    assert "Traceback" not in text and text.startswith("error:"), text
    for fragment in expected:
        assert fragment in text, (fragment, text)
    assert not {"ray", "torch", "mlflow"} & imported  # nothing heavy, Ray never started
    assert "Ray's output" not in done.stdout
    assert sorted(p.name for p in workdir.iterdir()) == sorted([*FILES, "adir", "emptyspaces"])
