"""What a single run must get right beyond accuracy: data parallelism matching one process,
surviving a killed worker, reading an s3:// dataset root, failing cleanly on a NaN."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time

import psutil
import pytest
import s3fs
from mlflow.tracking import MlflowClient

from ncsweep.config import load_spec
from ncsweep.data import long_tail_counts
from ncsweep.runtime.trainer import run_training


def _losses(uri: str, run_id: str) -> dict[int, float]:
    return {m.step: m.value for m in MlflowClient(uri).get_metric_history(run_id, "train/loss")}


def test_two_workers_match_one_worker_at_the_same_global_batch(
    ray_session, mlflow_server, tmp_path
):
    # No BatchNorm and no augmentation: a sample's forward pass does not depend on which
    # worker holds it, so the only difference left is the gathered negative set (ntce).
    common = [
        "loss.name=ntce",
        "model.options={norm: none}",
        "data.augment=false",
        "data.imbalance={ratio: 0.1, profile: exp}",
        "run.batch_size=128",
        "run.max_steps=6",
        "run.log_every=1",
        "eval.eval_every=1000",
        "eval.val_nc=false",
    ]
    runs = {}
    for workers in (1, 2):
        spec = load_spec(None, [*common, f"run.workers={workers}"])
        outcome = run_training(
            spec,
            run_name=f"match-{workers}",
            tracking_uri=mlflow_server,
            storage_path=str(tmp_path),
        )
        assert outcome.ok, outcome.failure_reason
        runs[workers] = outcome
    one, two = (_losses(mlflow_server, runs[w].run_id) for w in (1, 2))
    assert sorted(one) == sorted(two) == [1, 2, 3, 4, 5, 6]
    for step in one:  # float32 sums in another order: agreement to 1e-5 relative
        assert two[step] == pytest.approx(one[step], rel=1e-5), step
    assert runs[2].metrics["val/acc1"] == pytest.approx(runs[1].metrics["val/acc1"], abs=1e-9)

    # The long-tailed profile reached the run and is recorded in MLflow.
    params = MlflowClient(mlflow_server).get_run(runs[2].run_id).data.params
    counts = json.loads(params["data.class_counts"])
    assert counts == long_tail_counts(max(counts), 10, 0.1, "exp")
    assert counts[0] > counts[-1] == int(max(counts) * 0.1)


def _train_workers() -> list[psutil.Process]:
    """Ray Train worker processes of this test session's Ray instance (our descendants)."""
    found = []
    for proc in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if "RayTrainWorker" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_killed_worker_is_replaced_and_the_run_finishes_from_its_checkpoint(
    ray_session, mlflow_server, tmp_path
):
    spec = load_spec(
        None,
        [
            "loss.name=ce",
            "run.workers=2",
            "run.epochs=50",  # 8 steps an epoch (1,151 digits, global batch 128): 400 steps
            "eval.val_nc=false",
            "run.max_failures=2",
            "run.checkpoint_every=10",  # each epoch: not the default time floor
        ],
    )
    result = {}
    thread = threading.Thread(
        target=lambda: result.update(
            outcome=run_training(
                spec, run_name="kill-worker", tracking_uri=mlflow_server, storage_path=str(tmp_path)
            )
        )
    )
    thread.start()
    deadline = time.time() + 240
    # A checkpoint directory is written before Ray registers it, and a worker's report
    # blocks until the controller took the previous one: with three directories on disk,
    # the first is registered and a restarted worker group must resume from a checkpoint.
    while len(list((tmp_path / "kill-worker").glob("checkpoint_*"))) < 3:
        assert time.time() < deadline and thread.is_alive(), "no checkpoint appeared"
        time.sleep(0.2)
    victims = _train_workers()
    assert victims, "no RayTrainWorker process found"
    victims[0].send_signal(signal.SIGKILL)
    thread.join(timeout=600)
    outcome = result["outcome"]
    assert outcome.ok, outcome.failure_reason
    assert outcome.metrics["step"] == outcome.metrics["total_steps"] == 400
    resumed = MlflowClient(mlflow_server).get_metric_history(outcome.run_id, "resumed_from_step")
    assert resumed and 0 < resumed[0].value < 400


def test_s3_dataset_root_trains_like_the_local_copy(
    ray_session, s3_server, tmp_path, fake_cifar_writer
):
    local = fake_cifar_writer(tmp_path / "cifar", "cifar10", train_per_class=20, test_per_class=5)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)
    fs.mkdir("datasets")
    fs.put(str(local / "cifar-10-batches-py"), "datasets/cifar/cifar-10-batches-py", recursive=True)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    outcomes = {}
    for name, root in (("local", str(local)), ("s3", "s3://datasets/cifar")):
        spec = load_spec(
            None,
            [
                "data.name=cifar10",
                f"data.root={root}",
                f"data.cache_dir={tmp_path / 'cache'}",
                "run.epochs=2",
                "run.batch_size=50",
                "eval.val_nc=false",
            ],
        )
        outcomes[name] = run_training(
            spec, run_name=f"root-{name}", tracking_uri=uri, storage_path=str(tmp_path / "ray")
        )
        assert outcomes[name].ok, outcomes[name].failure_reason
    assert (
        tmp_path / "cache" / "datasets" / "cifar" / "cifar-10-batches-py" / "data_batch_1"
    ).is_file()
    for key in ("val/acc1", "val/loss", "nc/nc1", "nc/erank_inter"):
        assert outcomes["s3"].metrics[key] == pytest.approx(
            outcomes["local"].metrics[key], rel=1e-6
        ), key


def test_non_finite_loss_fails_the_run_with_its_step(ray_session, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    spec = load_spec(None, ["loss.name=ce", "optim.lr=1.0e+12", "run.epochs=3", "run.log_every=1"])
    outcome = run_training(spec, run_name="nan", tracking_uri=uri, storage_path=str(tmp_path))
    assert not outcome.ok
    assert re.fullmatch(r"non-finite loss at step \d+", outcome.failure_reason)
    run = MlflowClient(uri).get_run(outcome.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["ncsweep.failure_reason"] == outcome.failure_reason
