"""``ncsweep doctor``'s MLflow check: the server answers and its artifact store takes writes.

A run in the experiment ``ncsweep-doctor`` logs a tiny text artifact, downloads it again,
then the artifact, the run and the experiment are deleted (the experiment is restored the
next time). Server-side artifact proxies (``mlflow-artifacts:/``) are exercised exactly as
a trial's Ray worker would use them.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

from mlflow.tracking import MlflowClient

from .runs import TAG_KIND, ensure_experiment

__all__ = ["PROBE_EXPERIMENT", "probe_tracking"]

PROBE_EXPERIMENT = "ncsweep-doctor"


def probe_tracking(uri: str) -> list[tuple[str, bool, str]]:
    """``[(check, ok, detail)]`` for: server reachable, artifact store writable.

    Fails fast: an unreachable server is not retried for minutes (MLflow's HTTP retries are
    turned off for this process unless the user set them).
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    client = MlflowClient(uri)
    start = time.monotonic()
    try:
        client.search_experiments(max_results=1)
    except Exception as err:
        return [("MLflow reachable", False, _short(err))]
    results = [("MLflow reachable", True, f"answered in {time.monotonic() - start:.2f} s")]

    run_id = experiment_id = None
    text = f"ncsweep doctor probe {uuid.uuid4().hex}"
    try:
        experiment_id = ensure_experiment(uri, PROBE_EXPERIMENT)
        run = client.create_run(experiment_id, run_name="probe", tags={TAG_KIND: "doctor"})
        run_id = run.info.run_id
        client.log_text(run_id, text, "probe.txt")
        with tempfile.TemporaryDirectory() as tmp:
            back = Path(client.download_artifacts(run_id, "probe.txt", tmp)).read_text()
        if back != text:
            raise OSError("read back a different artifact")
        results.append(("MLflow artifacts writable", True, run.info.artifact_uri))
    except Exception as err:
        results.append(("MLflow artifacts writable", False, _short(err)))
    finally:
        _clean(client, uri, run_id, experiment_id)
    return results


def _clean(client: MlflowClient, uri: str, run_id: str | None, experiment_id: str | None) -> None:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    try:
        if run_id:
            artifact_uri = client.get_run(run_id).info.artifact_uri
            get_artifact_repository(artifact_uri, tracking_uri=uri).delete_artifacts()
            client.delete_run(run_id)
        if experiment_id:
            client.delete_experiment(experiment_id)
    except Exception:
        pass  # clean-up is best effort: the checks above already reported what matters


def _short(err: BaseException) -> str:
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{type(err).__name__}: {(lines[-1] if lines else '')[:300]}"
