"""A Ray Train run (2 CPU workers) whose checkpoint upload is lost once by the storage:
the checkpoint is uploaded again before Ray registers it, and the run finishes."""

from __future__ import annotations

import s3fs
from fault_proxy import LOSE, FaultProxy, first
from mlflow.tracking import MlflowClient

from ncsweep.config import load_spec
from ncsweep.runtime.trainer import run_training
from ncsweep.train.checkpoint import STATE_FILE


def test_lost_state_upload_is_redone_before_the_checkpoint_is_registered(
    ray_session, s3_server, mlflow_server
):
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)
    fs.mkdir("ckpts")
    # S3 answers 200 to the first upload of a state.pt and keeps nothing: what pyarrow does
    # when a multipart part is lost to a dropped connection (train/checkpoint.py)
    rule = first("PUT", lambda path: path.split("?")[0].endswith(f"/{STATE_FILE}"), LOSE)
    spec = load_spec(None, ["loss.name=ce", "run.workers=2", "run.epochs=1", "eval.val_nc=false"])
    with FaultProxy(s3_server, rule) as proxy:
        storage = f"s3://ckpts/ray?endpoint_override=127.0.0.1:{proxy.port}&scheme=http"
        outcome = run_training(
            spec, run_name="lost-upload", tracking_uri=mlflow_server, storage_path=storage
        )
    assert outcome.ok, outcome.failure_reason
    lost = [path for method, path, fault, _ in proxy.seen if fault == LOSE]
    assert len(lost) == 1, proxy.seen  # the fault happened
    key = lost[0].split("?")[0]
    again = [s for m, p, f, s in proxy.seen if m == "PUT" and p.split("?")[0] == key and f is None]
    assert again and again[-1] == 200, "the lost state.pt was never uploaded again"

    # The registered checkpoint (the run's result) holds its state, in full.
    registered = f"{outcome.checkpoint}/{STATE_FILE}"
    assert fs.exists(registered), registered
    assert fs.size(registered) > 0
    run = MlflowClient(mlflow_server).get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
